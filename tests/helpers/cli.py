"""Running the ``gpt4o-prior`` command in a subprocess, as a user does, and tiny input folders for it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers import REPO
from tests.helpers.providers import API_KEY  # the fake server's key

__all__ = ["API_KEY", "MODEL", "PRICES", "write_inputs", "run_cli", "generate_fake"]
MODEL = "fake-image-model"
PRICES = {MODEL: {"text_input": 5.0, "image_input": 8.0, "image_output": 30.0}}


def write_inputs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` random 20 x 28 RGB PNGs ``in_000.png``, ... in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = folder / f"in_{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def run_cli(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """``python -m gpt4o_prior ARGS`` from the repository root, output captured as text."""
    return subprocess.run([sys.executable, "-m", "gpt4o_prior", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def generate_fake(tmp_path: Path, inputs_dir, *extra, env, set_name: str = "s") -> subprocess.CompletedProcess:
    """``gpt4o-prior generate`` of ``inputs_dir`` into ``tmp_path/cache`` with the fake model at 64 x 64."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    return run_cli("generate", inputs_dir, "--cache", tmp_path / "cache", "--set", set_name, "--task", "dehaze",
                   "--model", MODEL, "--size", "64x64", "--quality", "low", "--backoff", "0.01", "--no-progress",
                   "--price-table", prices, *extra, env=env)
