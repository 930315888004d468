"""Helpers shared by the provider tests: the fake server's key and tiny input folders."""
from pathlib import Path

import numpy as np
from PIL import Image

API_KEY = "sk-test-SECRET-0123456789abcdef"


def make_inputs(folder: Path, n: int, *, h: int = 24, w: int = 32, seed: int = 0) -> list[Path]:
    """``n`` distinct tiny RGB PNGs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths
