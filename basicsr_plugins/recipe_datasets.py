"""The Restormer family's dataset type ``Dataset_PairedImage`` on pip BasicSR 1.4.2, and its prior twin.

The fork's ``Dataset_PairedImage`` is pip's ``PairedImageDataset`` (``dataroot_gt`` / ``dataroot_lq``,
``filename_tmpl``, ``io_backend``, ``gt_size``) with two differences, both kept here:

* ``geometric_augs: true`` draws one of the 8 flips / rotations per sample (pip's ``use_hflip`` and ``use_rot``
  together draw the same 8, uniformly, so they are set from it);
* training images smaller than ``gt_size`` are reflect-padded at the bottom / right to ``gt_size`` before the crop
  (the prior and its confidence alike, in :class:`PriorDataset_PairedImage`).

Progressive training keys (``iters``, ``mini_batch_sizes``, ``gt_sizes``) are read by the model
(:mod:`.image_clean`), not here. The name ``Dataset_PairedImage`` resolves as a fallback of BasicSR's
``DATASET_REGISTRY`` (a fork's own registration of it wins).
"""
from __future__ import annotations

import cv2
import numpy as np
from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, imfrombytes
from basicsr.utils.registry import DATASET_REGISTRY

from .datasets import PriorPairedImageDataset, pair_to_tensors
from .registration import add_fallback_names, register

__all__ = ["Dataset_PairedImage", "PriorDataset_PairedImage", "pad_to_patch"]


def pad_to_patch(images: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Each (H, W[, C]) image reflect-padded at the bottom / right to at least ``size`` x ``size`` (the fork's
    padding; images already that large are returned as they are).

    Example:
        >>> [im.shape for im in pad_to_patch([np.zeros((5, 9, 3)), np.zeros((5, 9))], 8)]
        [(8, 9, 3), (8, 9)]
    """
    out = []
    for img in images:
        dh, dw = max(0, size - img.shape[0]), max(0, size - img.shape[1])
        if dh or dw:
            padded = cv2.copyMakeBorder(img, 0, dh, 0, dw, cv2.BORDER_REFLECT)
            img = padded[..., None] if img.ndim == 3 and padded.ndim == 2 else padded
        out.append(img)
    return out


def _recipe_options(opt: dict) -> dict:
    if "geometric_augs" in opt:
        opt.setdefault("use_hflip", bool(opt["geometric_augs"]))
        opt.setdefault("use_rot", bool(opt["geometric_augs"]))
    opt.setdefault("use_hflip", False)
    opt.setdefault("use_rot", False)
    return opt


@register(DATASET_REGISTRY, name="G4PDataset_PairedImage")
class Dataset_PairedImage(PairedImageDataset):  # noqa: N801  (the fork's name)
    """The fork's ``Dataset_PairedImage`` (module docstring), without a prior."""

    def __init__(self, opt: dict):
        super().__init__(_recipe_options(opt))

    def __getitem__(self, index: int) -> dict:
        if self.opt["phase"] != "train":
            return super().__getitem__(index)
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend_opt.pop("type"), **self.io_backend_opt)
        gt_path, lq_path = self.paths[index]["gt_path"], self.paths[index]["lq_path"]
        img_gt = imfrombytes(self.file_client.get(gt_path, "gt"), float32=True)
        img_lq = imfrombytes(self.file_client.get(lq_path, "lq"), float32=True)
        size = self.opt["gt_size"]
        img_gt, img_lq = pad_to_patch([img_gt], size)[0], pad_to_patch([img_lq], size // self.opt["scale"])[0]
        img_gt, img_lq = paired_random_crop(img_gt, img_lq, size, self.opt["scale"], gt_path)
        img_gt, img_lq = augment([img_gt, img_lq], self.opt["use_hflip"], self.opt["use_rot"])
        img_gt, img_lq = pair_to_tensors(self, img_gt, img_lq)
        return {"lq": img_lq, "gt": img_gt, "lq_path": lq_path, "gt_path": gt_path}


@register(DATASET_REGISTRY)
class PriorDataset_PairedImage(PriorPairedImageDataset):  # noqa: N801
    """``Dataset_PairedImage`` plus the aligned prior (what the one-line ``prior:`` option makes of it): the prior
    and its confidence are padded, cropped, flipped and rotated with their input."""

    def __init__(self, opt: dict):
        super().__init__(_recipe_options(opt))

    def _before_crop(self, img_gt, lqs):
        size = self.opt["gt_size"]
        return pad_to_patch([img_gt], size)[0], pad_to_patch(lqs, size // self.opt["scale"])


add_fallback_names(DATASET_REGISTRY, {"Dataset_PairedImage": Dataset_PairedImage})
