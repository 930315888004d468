"""The shipped option files parse with BasicSR's own parser, and each pair differs by exactly the prior line;
the one-line rewrite and its errors."""
from __future__ import annotations

import copy
import difflib
import sys
from pathlib import Path

import pytest

from basicsr_plugins.prior_option import PriorOptionError, apply_prior_option
from tests.helpers import REPO

OPTIONS = REPO / "options" / "basicsr"
PRIOR_FILES = sorted(OPTIONS.glob("*_prior.yml"))


def _parse(path: Path, root: Path, monkeypatch) -> dict:
    from basicsr.utils.options import parse_options

    monkeypatch.setattr(sys, "argv", ["train.py", "-opt", str(path)])
    opt, _ = parse_options(str(root), is_train=True)
    return opt


def test_every_task_and_baseline_has_a_pair():
    names = {p.name for p in OPTIONS.glob("*.yml")}
    for task in ("ohaze", "rain800", "lol"):
        for net in ("nafnet", "restormer"):
            assert f"{task}_{net}.yml" in names and f"{task}_{net}_prior.yml" in names
    assert len(names) == 12


@pytest.mark.parametrize("prior_file", PRIOR_FILES, ids=lambda p: p.stem)
def test_pair_differs_by_exactly_the_prior_line_and_parses(prior_file, tmp_path, monkeypatch):
    from basicsr.utils.registry import ARCH_REGISTRY

    base_file = prior_file.with_name(prior_file.name.replace("_prior", ""))
    diff = [line for line in difflib.unified_diff(base_file.read_text().splitlines(),
                                                  prior_file.read_text().splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(diff) == 1 and diff[0].startswith("+prior: {cache: priors/, set: "), diff

    base, opt = _parse(base_file, tmp_path, monkeypatch), _parse(prior_file, tmp_path, monkeypatch)
    assert "prior" not in base and base["model_type"] == "SRModel"
    assert base["network_g"]["type"] in ARCH_REGISTRY, "host arch must be registered (basicsr_plugins.archs)"
    host = copy.deepcopy(opt["network_g"])
    apply_prior_option(opt)
    assert opt["model_type"] == "PriorSRModel"
    assert opt["network_g"] == {"type": "G4PPriorNet", "host": host}
    for phase in ("train", "val"):
        ds = opt["datasets"][phase]
        assert ds["type"] == "PriorPairedImageDataset"
        assert ds["prior_cache"] == "priors/" and ds["prior_set"].endswith("-gpt")
    assert apply_prior_option(copy.deepcopy(opt)) == opt  # idempotent


def test_rewrite_keeps_dataset_overrides_and_passes_net_keys():
    opt = {"model_type": "SRModel", "network_g": {"type": "G4PNAFNet"},
           "prior": {"cache": "c", "set": "s", "fusion": "film", "freeze_host": True, "dropout": 0.3},
           "datasets": {"train": {"type": "PairedImageDataset", "name": "t"},
                        "val": {"type": "SingleImageDataset", "name": "v", "prior_set": "other"}}}
    apply_prior_option(opt)
    assert opt["network_g"]["fusion"] == "film" and opt["network_g"]["freeze_host"] is True
    assert opt["datasets"]["train"]["prior_dropout"] == 0.3
    assert opt["datasets"]["val"]["type"] == "PriorSingleImageDataset"
    assert opt["datasets"]["val"]["prior_set"] == "other"  # the dataset's own key wins
    assert apply_prior_option({"model_type": "SRModel"}) == {"model_type": "SRModel"}  # no prior line: unchanged


@pytest.mark.parametrize("change, match", [
    (lambda o: o.update(model_type="ESRGANModel"), "model_type: ESRGANModel"),
    (lambda o: o["datasets"]["train"].update(type="RealESRGANDataset"), "datasets.train.type: RealESRGANDataset"),
    (lambda o: o["prior"].update(sett="typo"), r"unknown key\(s\) \['sett'\]"),
    (lambda o: o["prior"].pop("set"), "prior.set"),
    (lambda o: o["prior"].update(fallback="skip"), "prior.fallback"),
    (lambda o: o.update(prior="priors/"), "must be a mapping"),
    (lambda o: o["network_g"].pop("type"), "network_g"),
])
def test_rewrite_errors_name_the_key(change, match):
    opt = {"model_type": "SRModel", "network_g": {"type": "G4PNAFNet"}, "prior": {"cache": "c", "set": "s"},
           "datasets": {"train": {"type": "PairedImageDataset", "name": "t"}}}
    change(opt)
    with pytest.raises(PriorOptionError, match=match):
        apply_prior_option(opt)


def test_registering_twice_is_harmless():
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY

    from basicsr_plugins.datasets import PriorPairedImageDataset, PriorSingleImageDataset
    from basicsr_plugins.model import PriorSRModel
    from basicsr_plugins.prior_arch import G4PPriorNet
    from basicsr_plugins.registration import register

    pairs = [(ARCH_REGISTRY, G4PPriorNet), (MODEL_REGISTRY, PriorSRModel), (DATASET_REGISTRY, PriorPairedImageDataset),
             (DATASET_REGISTRY, PriorSingleImageDataset)]
    for registry, obj in pairs:
        assert register(registry)(obj) is obj  # again: harmless
        assert registry.get(obj.__name__) is obj

    def G4PPriorNet():  # noqa: N802  (a different object under a taken name)
        pass

    with pytest.raises(ValueError, match="already holds 'G4PPriorNet'"):
        register(ARCH_REGISTRY)(G4PPriorNet)


def test_the_documented_keys_are_the_one_table():
    import basicsr_plugins.prior_option as po
    from gpt4o_prior.prior_keys import keys_table
    table = keys_table(true="true", false="false", none="~", network="network")
    assert table in po.__doc__ and po.__doc__.count(table.splitlines()[0]) == 3  # that table alone
