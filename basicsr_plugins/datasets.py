"""BasicSR datasets that also yield the aligned prior of each input, transformed exactly like ``lq``.

``PriorPairedImageDataset`` takes every option of BasicSR's ``PairedImageDataset`` plus the ``prior_*`` keys of
:func:`basicsr_plugins.prior_option.dataset_prior_kwargs`; ``PriorSingleImageDataset`` does the same for
``SingleImageDataset`` (inputs without ground truth, for testing). Each sample gains ``prior``: a ``(C, H, W)``
float tensor in ``lq``'s value range, colour space and normalisation. In the ``train`` phase the prior is cropped,
flipped and rotated with ``lq`` and ``gt`` (BasicSR's own ``paired_random_crop`` and ``augment``, so ``lq`` and
``gt`` are exactly what ``PairedImageDataset`` would give for the same random state), then warped a little and
dropped now and then (:func:`gpt4o_prior.augment.prior_training_views`).

With ``prior_confidence: true`` (the default) each sample also gains ``prior_confidence``: the prior's per-pixel
confidence from the cache, a ``(1, H, W)`` float tensor in [0, 1] (batched ``(B, 1, H, W)``), cropped, flipped,
rotated, warped (0 where the warp fills in the border) and dropped (0) exactly as the prior; ones for priors
cached without a confidence, zeros where a fallback stands in for a missing prior.

Priors come from a :class:`gpt4o_prior.cache.PriorCache`, found by the content hash of each input file. At
construction every input is checked against the cache (hashes only), so a missing prior stops training before
it starts, unless ``prior_fallback`` is ``input`` or ``zeros``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.data.single_image_dataset import SingleImageDataset
from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, bgr2ycbcr, imfrombytes, img2tensor, rgb2ycbcr
from basicsr.utils.registry import DATASET_REGISTRY
from torchvision.transforms.functional import normalize

from gpt4o_prior.augment import FlipRot, apply_flip_rot, prior_training_views
from gpt4o_prior.cache.errors import PriorMissingError as PriorsMissingError  # the one missing-prior error
from gpt4o_prior.cache.missing import missing_priors, missing_priors_error

from .prior_option import dataset_prior_kwargs
from .registration import register

__all__ = ["PriorPairedImageDataset", "PriorSingleImageDataset", "PriorsMissingError", "missing_priors", "pair_to_tensors"]

def _bgr_float(bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> contiguous float32 in [0, 1], as BasicSR's ``imfrombytes(..., float32=True)`` scales."""
    return np.ascontiguousarray(bgr, dtype=np.float32) / 255.0


def pair_to_tensors(dataset: Any, img_gt: np.ndarray, img_lq: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """A training pair (BGR float, H x W x C) as BasicSR's paired dataset returns it: Y channel for ``color: y``,
    RGB (C, H, W) tensors, normalised by the dataset's ``mean`` / ``std`` when it has them."""
    if dataset.opt.get("color") == "y":
        img_gt = bgr2ycbcr(img_gt, y_only=True)[..., None]
        img_lq = bgr2ycbcr(img_lq, y_only=True)[..., None]
    img_gt, img_lq = img2tensor([img_gt, img_lq], bgr2rgb=True, float32=True)
    if dataset.mean is not None or dataset.std is not None:
        normalize(img_lq, dataset.mean, dataset.std, inplace=True)
        normalize(img_gt, dataset.mean, dataset.std, inplace=True)
    return img_gt, img_lq


class _PriorSource:
    """Prior loading shared by both datasets: options, the start-up check, RGB uint8 -> BasicSR's layout."""

    def _init_prior(self, opt: dict, lq_paths: Sequence[str]) -> None:
        from gpt4o_prior.cache import PriorCache

        kw = dataset_prior_kwargs(opt)
        self.prior_opt = kw
        name = opt.get("name", "?")
        if opt["io_backend"].get("type", "disk") != "disk":
            raise ValueError(f"dataset '{name}': priors are looked up by the input file's content hash, which "
                             f"needs io_backend: {{type: disk}} (got {opt['io_backend'].get('type')!r})")
        self.prior_cache = PriorCache(kw["cache"])
        try:
            self.prior_cache.get_set(kw["set"])
        except (KeyError, ValueError) as err:  # unknown set / invalid name: re-raised with the option key named
            raise KeyError(f"dataset '{name}': option prior_set / prior.set = {kw['set']!r} is not a set in the "
                           f"cache {kw['cache']!r}: {err}") from None
        if kw["check"]:
            missing = missing_priors(self.prior_cache, kw["set"], lq_paths)
            if missing and kw["fallback"] == "error":
                raise missing_priors_error(missing, total=len(lq_paths), set_name=kw["set"], cache=self.prior_cache,
                                           where=f"dataset '{name}'", advice="or set prior: {fallback: input} (or "
                                           "prior_fallback: input) to use the input where a prior is missing.")

    def _load_prior(self, lq_path: str, *, as_float: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The prior of ``lq_path`` as BasicSR holds images, (H, W, 3) float32 BGR in [0, 1], and its confidence
        (H, W) float32 in [0, 1] (None with ``prior_confidence: false``). ``as_float=False`` gives the prior as
        (H, W, 3) uint8 BGR (a view), for a caller that crops before it converts (:func:`_bgr_float`)."""
        kw = self.prior_opt
        out = self.prior_cache.load_prior(kw["set"], lq_path, fallback=kw["fallback"],
                                          with_confidence=kw["confidence"])
        rgb, conf = out if kw["confidence"] else (out, None)
        prior = _bgr_float(rgb[..., ::-1]) if as_float else rgb[..., ::-1]
        return prior, (None if conf is None else np.asarray(conf, dtype=np.float32))

    @staticmethod
    def _confidence_to_tensor(conf: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(conf, dtype=np.float32))[None]  # (1, H, W)

    def _add_prior(self, item: dict, *, y_convert) -> dict:
        """Untransformed item (validation, test): the prior (and its confidence) of ``item['lq_path']``."""
        prior, conf = self._load_prior(item["lq_path"])
        item["prior"] = self._prior_to_tensor(prior, y_convert=y_convert)
        if conf is not None:
            item["prior_confidence"] = self._confidence_to_tensor(conf)
        return item

    def _prior_to_tensor(self, prior: np.ndarray, *, y_convert) -> Any:
        if self.opt.get("color") == "y":
            prior = y_convert(prior, y_only=True)[..., None]
        tensor = img2tensor(prior, bgr2rgb=True, float32=True)
        if self.mean is not None or self.std is not None:
            normalize(tensor, self.mean, self.std, inplace=True)
        return tensor


@register(DATASET_REGISTRY)
class PriorPairedImageDataset(_PriorSource, PairedImageDataset):
    """``PairedImageDataset`` plus an aligned ``prior`` per sample (see the module docstring).

    Args:
        opt: BasicSR dataset options: those of ``PairedImageDataset`` plus ``prior_cache``, ``prior_set`` and
            optional ``prior_fallback``, ``prior_check``, ``prior_dropout``, ``prior_dropout_fill``,
            ``prior_dropout_mode``, ``prior_warp``, ``prior_max_shift``, ``prior_max_rotation``, ``prior_max_scale``,
            ``prior_confidence``.

    Returns (per item):
        dict with ``lq``, ``gt``, ``prior`` (tensors ``(C, H, W)``), ``lq_path``, ``gt_path``, and (unless
        ``prior_confidence: false``) ``prior_confidence`` (``(1, H, W)``, transformed like ``prior``). In
        training, with ``prior_dropout_fill: none`` also ``prior_keep`` (a 0-d float tensor, 0 = run this sample
        without its prior); with ``prior_dropout_mode: pair`` also ``prior_dropped`` (the sample's dropped prior),
        ``prior_dropped_confidence`` (zeros) and, for fill ``none``, ``prior_dropped_keep`` (0).
    """

    def __init__(self, opt: dict):
        super().__init__(opt)
        self._init_prior(opt, [p["lq_path"] for p in self.paths])

    def _before_crop(self, img_gt: np.ndarray, lqs: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The training images before the random crop (``lqs``: the input, its prior, its confidence); a subclass
        pads them here (``Dataset_PairedImage``)."""
        return img_gt, lqs

    def __getitem__(self, index: int) -> dict:
        if self.opt["phase"] != "train":  # no augmentation: BasicSR's own item, plus the prior
            return self._add_prior(super().__getitem__(index), y_convert=bgr2ycbcr)
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend_opt.pop("type"), **self.io_backend_opt)
        scale = self.opt["scale"]
        gt_path, lq_path = self.paths[index]["gt_path"], self.paths[index]["lq_path"]
        img_gt = imfrombytes(self.file_client.get(gt_path, "gt"), float32=True)
        img_lq = imfrombytes(self.file_client.get(lq_path, "lq"), float32=True)
        prior, conf = self._load_prior(lq_path, as_float=False)
        # the prior (and its confidence) is lq-sized: crop it with lq (still uint8: only the crop is converted to
        # float), then flip / rotate all alike (BasicSR's own functions; the confidence, (H, W), gets the flip /
        # rotation BasicSR drew, from our apply_flip_rot)
        lqs = [img_lq, prior] + ([] if conf is None else [conf])
        img_gt, lqs = self._before_crop(img_gt, lqs)
        img_gt, lqs = paired_random_crop(img_gt, lqs, self.opt["gt_size"], scale, gt_path)
        img_lq, prior = lqs[0], _bgr_float(lqs[1])
        (img_gt, img_lq, prior), status = augment([img_gt, img_lq, prior], self.opt["use_hflip"],
                                                  self.opt["use_rot"], return_status=True)
        if conf is not None:
            conf = apply_flip_rot(lqs[2], FlipRot(*status))
        kw = self.prior_opt
        views = prior_training_views(prior, lq=img_lq, mode=kw["dropout_mode"], dropout=kw["dropout"],
                                     fill=kw["dropout_fill"], warp=kw["warp"], max_shift=kw["max_shift"],
                                     max_rotation=kw["max_rotation"], max_scale=kw["max_scale"], confidence=conf)
        img_gt, img_lq = pair_to_tensors(self, img_gt, img_lq)
        item = {"lq": img_lq, "gt": img_gt, "prior": self._prior_to_tensor(views.prior, y_convert=bgr2ycbcr),
                "lq_path": lq_path, "gt_path": gt_path}
        # the drop flags / second view: PriorSRModel hands them to the network (prior_keep) or doubles the batch
        if views.confidence is not None:
            item["prior_confidence"] = self._confidence_to_tensor(views.confidence)
        if views.keep is not None:
            item["prior_keep"] = torch.tensor(views.keep)
        if views.dropped is not None:
            item["prior_dropped"] = self._prior_to_tensor(views.dropped, y_convert=bgr2ycbcr)
        if views.dropped_confidence is not None:
            item["prior_dropped_confidence"] = self._confidence_to_tensor(views.dropped_confidence)
        if views.dropped_keep is not None:
            item["prior_dropped_keep"] = torch.tensor(views.dropped_keep)
        return item


@register(DATASET_REGISTRY)
class PriorSingleImageDataset(_PriorSource, SingleImageDataset):
    """``SingleImageDataset`` (inputs only, no ground truth) plus the aligned ``prior`` of each input.

    Args:
        opt: options of ``SingleImageDataset`` plus ``prior_cache``, ``prior_set``, optional ``prior_fallback``,
            ``prior_check`` and ``prior_confidence``.

    Returns (per item):
        dict with ``lq``, ``prior`` (tensors ``(C, H, W)``), ``prior_confidence`` (``(1, H, W)``; not with
        ``prior_confidence: false``) and ``lq_path``.
    """

    def __init__(self, opt: dict):
        super().__init__(opt)
        self._init_prior(opt, list(self.paths))

    def __getitem__(self, index: int) -> dict:
        # SingleImageDataset converts lq with rgb2ycbcr for color: y; the prior follows lq exactly
        return self._add_prior(super().__getitem__(index), y_convert=rgb2ycbcr)
