"""Fixtures for the MMagic adapter tests: the plugin registered, and a tiny paired dataset with a prior cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mm():
    """Import the plugin's modules (registration) and set MMagic's default scope, as its configs do."""
    import mmagic_plugins  # noqa: F401  (shims)
    from mmagic_plugins import model, runner, save_outputs, transforms  # noqa: F401  (registration)
    from mmengine.registry import init_default_scope

    init_default_scope("mmagic")
    return mmagic_plugins


def _image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random RGB image (H, W, 3) uint8."""
    small = rng.integers(0, 256, (4, 4, 3)).astype(np.float32)
    import cv2

    return np.clip(cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR), 0, 255).astype(np.uint8)


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[..., ::-1].copy())


def put_prior(cache, set_name: str, input_path: Path, prior_rgb: np.ndarray) -> None:
    """Store ``prior_rgb`` as the prior of ``input_path`` in ``cache`` (an offline, same-size prior)."""
    import cv2

    from gpt4o_prior.cache import request_key, sha256_file

    src = sha256_file(input_path)
    key = request_key(provider="simulated", model=None, prompt_text=None, prompt_version=None,
                      params={"test": True}, input_sha256=src)
    ok, png = cv2.imencode(".png", prior_rgb[..., ::-1].copy())
    assert ok
    cache.put(key, png.tobytes(), meta={"provider": "simulated"}, set_name=set_name, source_sha256=src,
              source_name=input_path.name)


@pytest.fixture(scope="session")
def write_image():
    """``write_image(path, rgb)``: write an (H, W, 3) uint8 RGB image as PNG, creating folders."""
    return write_rgb


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """``root/{train,val}/{lq,gt}/NAME.png`` (4 train, 2 val, 32 px) and ``root/priors`` with set ``sim``.

    The prior of each input is its ground truth with a little noise (a 'good' prior); ``priors`` maps each input
    path to the prior image (RGB).
    """
    from gpt4o_prior.cache import PriorCache, PriorSet

    root = tmp_path_factory.mktemp("mmagic_data")
    rng = np.random.default_rng(0)
    cache = PriorCache(root / "priors")
    cache.register_set(PriorSet(name="sim", provider="simulated", label="simulated"))
    priors = {}
    for split, n in (("train", 4), ("val", 2)):
        for i in range(n):
            gt = _image(rng, 32)
            lq = (gt.astype(np.float32) * 0.5 + 100).astype(np.uint8)  # a hazy-looking input
            noise = rng.integers(-3, 4, gt.shape)
            prior = np.clip(gt.astype(np.int64) + noise, 0, 255).astype(np.uint8)
            lq_path = root / split / "lq" / f"{i:04d}.png"
            write_rgb(lq_path, lq)
            write_rgb(root / split / "gt" / f"{i:04d}.png", gt)
            put_prior(cache, "sim", lq_path, prior)
            priors[str(lq_path)] = prior
    return dict(root=root, cache=root / "priors", priors=priors)
