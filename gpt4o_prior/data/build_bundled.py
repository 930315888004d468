"""Rebuild the bundled demo images from scikit-image's sample data (maintainers only; not used at run time).

The crops in ``gpt4o_prior/data/images/`` were made by :func:`build_bundled` from the sample images that the
scikit-image 0.26.0 wheel ships in ``skimage/data/`` (licences in ``images/LICENSES.md``). Nothing here is called
by the library; it exists so that the bundled set can be reproduced and audited. To rebuild::

    pip download --no-deps -d /tmp/sk scikit-image==0.26.0
    unzip -o /tmp/sk/scikit_image-*.whl 'skimage/data/*' -d /tmp/sk
    python -m gpt4o_prior.data.build_bundled /tmp/sk/skimage/data

Example:
    >>> [c.name for c in CROPS][:2]
    ['astronaut_s1_0', 'astronaut_s1_1']
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["Crop", "CROPS", "SOURCES", "build_bundled"]

#: source file in skimage/data -> (licence, credit) as documented in skimage/data/_fetchers.py
SOURCES = {
    "astronaut.png": ("public domain", "NASA (Eileen Collins)"),
    "chelsea.png": ("CC0", "Stefan van der Walt"),
    "coffee.png": ("CC0", "Rachel Michetti"),
    "rocket.jpg": ("public domain", "SpaceX"),
    "hubble_deep_field.jpg": ("public domain", "NASA"),
    "retina.jpg": ("CC0 1.0", "Häggström, Mikael (2014), WikiJournal of Medicine"),
    "brick.png": ("CC0", "CC0Textures Bricks25"),
    "grass.png": ("CC0", "linolafett (DeviantArt, Grass 01)"),
    "gravel.png": ("CC0", "CC0Textures Gravel04"),
    "camera.png": ("CC0", "Lav Varshney"),
}


@dataclass(frozen=True)
class Crop:
    """One bundled image: ``source`` scaled by ``scale`` (Lanczos), then the ``size`` square at (``x``, ``y``)."""

    name: str
    source: str
    scale: float
    x: int
    y: int
    size: int = 128


def _c(source: str, scale: float, boxes: list[tuple[int, int]]) -> list[Crop]:
    stem = source.split(".")[0].split("_")[0]
    tag = f"s{round(1 / scale)}"  # s1: full scale, s2: half, s4: quarter
    return [Crop(f"{stem}_{tag}_{i}", source, scale, x, y) for i, (x, y) in enumerate(boxes)]


CROPS: list[Crop] = (
    _c("astronaut.png", 1.0, [(40, 60), (300, 40), (200, 200), (360, 300), (170, 30), (0, 330)])
    + _c("astronaut.png", 0.5, [(0, 0), (128, 0), (0, 128), (128, 128)])
    + _c("chelsea.png", 1.0, [(100, 60), (250, 40), (300, 160), (180, 150)])
    + _c("chelsea.png", 0.5, [(40, 10), (97, 22)])
    + _c("coffee.png", 1.0, [(180, 60), (300, 200), (60, 180), (440, 40), (330, 60), (0, 0)])
    + _c("coffee.png", 0.5, [(40, 20), (150, 60)])
    + _c("rocket.jpg", 1.0, [(260, 40), (300, 200), (60, 260), (450, 280)])
    + _c("rocket.jpg", 0.5, [(40, 30), (160, 60), (190, 85)])
    + _c("hubble_deep_field.jpg", 1.0, [(300, 300), (600, 500)])
    + _c("retina.jpg", 0.25, [(100, 120), (160, 180)])
    + _c("brick.png", 0.5, [(40, 40)])
    + _c("grass.png", 0.5, [(100, 60)])
    + _c("gravel.png", 0.5, [(60, 100)])
    + _c("camera.png", 0.5, [(60, 20), (100, 120)])
)


def build_bundled(skimage_data: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Crop :data:`CROPS` from the folder ``skimage_data`` and write them as RGB PNGs into ``out_dir``.

    Args:
        skimage_data: the ``skimage/data`` folder extracted from the scikit-image wheel.
        out_dir: where to write; defaults to this package's ``images/`` folder.

    Returns:
        The written paths.
    """
    src_dir = Path(skimage_data)
    out = Path(out_dir) if out_dir is not None else Path(__file__).parent / "images"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for crop in CROPS:
        path = src_dir / crop.source
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: pass the skimage/data folder of the scikit-image wheel")
        im = Image.open(path).convert("RGB")
        if crop.scale != 1:
            im = im.resize((round(im.width * crop.scale), round(im.height * crop.scale)), Image.LANCZOS)
        arr = np.asarray(im)
        patch = arr[crop.y:crop.y + crop.size, crop.x:crop.x + crop.size]
        if patch.shape[:2] != (crop.size, crop.size):
            raise ValueError(f"crop {crop.name} falls outside {crop.source} scaled to {arr.shape[1]}x{arr.shape[0]}")
        dst = out / f"{crop.name}.png"
        Image.fromarray(patch).save(dst, optimize=True)
        written.append(dst)
    return written


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 2:
        sys.exit("usage: python -m gpt4o_prior.data.build_bundled SKIMAGE_DATA_DIR")
    for p in build_bundled(sys.argv[1]):
        print(p)
