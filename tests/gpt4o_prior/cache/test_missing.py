"""gpt4o_prior.cache.missing: one missing-prior error for every loader, with a fill command that runs as printed."""
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt4o_prior.cache import PriorCache, PriorMissingError, PriorSet
from gpt4o_prior.cache.missing import fill_command, missing_priors, missing_priors_error
from gpt4o_prior.cli import build_parser
from gpt4o_prior.data.io import write_png
from gpt4o_prior.providers.base import fill_cache
from gpt4o_prior.providers.classical import ClassicalProvider
from tests.helpers import REPO

ROOT = REPO


def _inputs(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    return [write_png(folder / f"in {i}.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)) for i in range(n)]


def test_the_printed_command_fills_what_is_missing(tmp_path):
    inputs = _inputs(tmp_path / "hazy inputs", 3)
    cache = PriorCache(tmp_path / "the cache")
    fill_cache(inputs[:1], cache=cache, set_name="c", provider=ClassicalProvider(task="dehaze"))
    missing = missing_priors(cache, "c", inputs)
    assert missing == [str(p) for p in inputs[1:]]
    err = missing_priors_error(missing, total=3, set_name="c", cache=cache, where="dataset 'd'", advice="or else.")
    assert isinstance(err, KeyError) and isinstance(err, FileNotFoundError) and err.missing == missing
    assert str(err).startswith("dataset 'd': 2 of 3 inputs have no prior of set 'c'") and "in 1.png" in str(err)
    assert f"`{err.command}`" in str(err) and str(err).endswith("or else.")
    r = subprocess.run([sys.executable, "-m", "gpt4o_prior", *shlex.split(err.command)[1:], "--no-progress"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert missing_priors(cache, "c", inputs) == []


def test_one_input_error_of_the_cache_names_the_sets_model_and_task(tmp_path):
    (inp,) = _inputs(tmp_path / "data", 1)
    cache = PriorCache(tmp_path / "cache")
    cache.register_set(PriorSet(name="gpt", provider="openai-images", model="gpt-image-1.5", prompt_id="derain"))
    with pytest.raises(PriorMissingError) as err:
        cache.load_prior("gpt", inp)
    cmd = err.value.command
    assert cmd == fill_command(cache.get_set("gpt"), inp.parent, cache.root)
    assert "--task derain --model gpt-image-1.5" in cmd and f"`{cmd}`" in str(err.value)
    args = build_parser({}).parse_args(shlex.split(cmd)[1:])  # parses as the generate verb it names
    assert (args.verb, args.set_name, args.model, args.task) == ("generate", "gpt", "gpt-image-1.5", "derain")


@pytest.mark.parametrize("pset,expected", [
    (PriorSet(name="r", provider="released", label="released-gpt"), "gpt4o-prior import <folder of released outputs>"),
    (PriorSet(name="s", provider="simulated", label="simulated", params={"preset": "generative"}),
     "--provider simulated --preset generative --targets <folder of clean images>"),
    (None, "--task <task> --model <image model>"),
])
def test_commands_of_other_providers(pset, expected):
    assert expected in fill_command(pset, "in", "c", "x")
