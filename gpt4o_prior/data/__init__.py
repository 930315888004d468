"""Synthetic degradations, the bundled demo images and paired-dataset folders.

Example:
    >>> from gpt4o_prior.data import bundled_images, degrade, read_rgb
    >>> lq = degrade(read_rgb(bundled_images("val")[0]), task="dehaze", seed=0)
    >>> lq.shape
    (128, 128, 3)
"""
from .bundled import IMAGES_DIR, VAL_NAMES, bundled_images
from .degrade import TASKS, degrade
from .haze import add_haze, depth_proxy
from .io import as_rgb_uint8, decode_rgb, encode_png, read_rgb, write_png
from .lowlight import darken
from .paired import PairedDataset, image_seed, make_paired_dataset
from .rain import add_rain

__all__ = [
    "IMAGES_DIR", "VAL_NAMES", "bundled_images",
    "TASKS", "degrade", "add_haze", "depth_proxy", "add_rain", "darken",
    "PairedDataset", "image_seed", "make_paired_dataset",
    "as_rgb_uint8", "read_rgb", "write_png", "encode_png", "decode_rgb",
]
