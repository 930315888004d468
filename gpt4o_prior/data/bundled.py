"""The bundled demo images: 40 small (128 x 128) natural RGB crops with a fixed train / val split.

The crops come from public-domain and CC0 sample images that scikit-image ships in its wheel (people, a cat,
coffee on wood, a rocket under a dusk sky, a deep-field star image, a retina, brick / grass / gravel textures,
a cameraman); ``images/LICENSES.md`` lists each source and licence, and
:mod:`gpt4o_prior.data.build_bundled` reproduces the crops. They are committed in the package: nothing is
downloaded at run time.

Example:
    >>> len(bundled_images("train")), len(bundled_images("val"))
    (32, 8)
    >>> bundled_images("val")[0].name
    'astronaut_s1_2.png'
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGES_DIR", "VAL_NAMES", "bundled_images"]

#: folder holding the bundled PNG files
IMAGES_DIR = Path(__file__).resolve().parent / "images"

#: the fixed validation split (file stems); every other bundled image is in the training split
VAL_NAMES = (
    "astronaut_s1_2", "astronaut_s2_3", "chelsea_s1_1", "coffee_s1_1",
    "coffee_s2_1", "rocket_s1_2", "hubble_s1_1", "gravel_s2_0",
)


def bundled_images(split: str = "all") -> list[Path]:
    """Paths of the bundled images, sorted by name.

    Args:
        split: ``"train"`` (32 images), ``"val"`` (8 images) or ``"all"`` (40).

    Returns:
        Sorted list of PNG paths inside the installed package.

    Raises:
        ValueError: unknown ``split``.
        FileNotFoundError: the images are missing from the installation.

    Example:
        >>> bundled_images()[0].suffix
        '.png'
    """
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
    paths = sorted(IMAGES_DIR.glob("*.png"))
    if not paths:
        raise FileNotFoundError(f"no bundled images in {IMAGES_DIR}: the package was installed without its data "
                                "files; reinstall gpt4o-prior (package_data includes data/images/*.png)")
    if split == "val":
        return [p for p in paths if p.stem in VAL_NAMES]
    if split == "train":
        return [p for p in paths if p.stem not in VAL_NAMES]
    return paths
