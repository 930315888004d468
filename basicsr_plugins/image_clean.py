"""The Restormer family's training recipe under pip BasicSR 1.4.2: ``model_type: ImageCleanModel``.

Restormer, Retinexformer, MIRNet-v2, DRSformer and MB-TaylorFormer publish option files for a fork of BasicSR
whose model ``ImageCleanModel`` and training loop add what this module adds to pip's ``SRModel``:

* **progressive training** (``datasets.train``: ``iters``, ``mini_batch_sizes``, ``gt_sizes``, ``gt_size``): in stage
  ``j`` (iterations up to ``sum(iters[:j+1])``, the last stage after that) the loaded batch of ``gt_size`` patches
  is cut to ``mini_batch_sizes[j]`` random samples and one random ``gt_sizes[j]`` window, the prior and its
  confidence with their input;
* **mixup** (``train.mixing_augs: {mixup: true, mixup_beta, use_identity}``): ``lam ~ Beta(beta, beta)`` and one
  permutation mix ``gt`` and ``lq`` (with ``use_identity``, half the batches are left as they are); the prior and its
  confidence are mixed with the same ``lam`` and permutation, and so is the per-sample ``prior_keep`` (a mixed
  sample keeps ``lam`` of one sample's prior and ``1 - lam`` of the other's);
* **gradient clipping** (``train.use_grad_clip: true``): ``clip_grad_norm_(net_g.parameters(), 0.01)`` before each
  optimizer step;
* **validation padding** (``val.window_size``): the input (and its prior and confidence) is reflect-padded at the
  bottom / right to a multiple, and the output cropped back;
* the recipes' ``AdamW`` and ``CosineAnnealingRestartCyclicLR`` (:mod:`.schedulers`).

``val.use_image``, ``val.rgb2bgr`` and ``val.max_minibatch`` are read by the fork's validation only; pip's
validation already computes the metrics on 8-bit images (as ``use_image: true``) in RGB order, so they are
accepted and change nothing.

:class:`ImageCleanModel` is the recipe without a prior; :class:`PriorImageCleanModel` its prior twin (what the
one-line ``prior:`` option turns ``ImageCleanModel`` into). The name ``ImageCleanModel`` resolves as a fallback of
BasicSR's ``MODEL_REGISTRY`` (a fork's own registration of it wins).
"""
from __future__ import annotations

import random
import torch
import torch.nn.functional as F
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from .model import PriorSRModel
from .registration import add_fallback_names, register
from .schedulers import RecipeModelMixin

__all__ = ["CleanRecipeMixin", "ImageCleanModel", "PriorImageCleanModel", "progressive_stage", "GRAD_CLIP_NORM"]

GRAD_CLIP_NORM = 0.01
"""The fork's ``max_norm`` of ``clip_grad_norm_``."""

_SPATIAL = ("lq", "prior", "prior_confidence")  # (B, C, H, W) tensors at the input's size


def progressive_stage(current_iter: int, iters: list[int]) -> int:
    """The stage of ``current_iter``: the first whose cumulative end ``sum(iters[:j+1])`` it has not passed, the
    last one after them all (the fork's rule).

    Example:
        >>> [progressive_stage(i, [3, 2]) for i in (1, 3, 4, 5, 9)]
        [0, 0, 1, 1, 1]
    """
    end = 0
    for j, n in enumerate(iters):
        end += n
        if current_iter <= end:
            return j
    return len(iters) - 1


class CleanRecipeMixin:
    """What ``ImageCleanModel`` adds to an ``SRModel`` (put it first in the bases); see the module docstring."""

    def init_training_settings(self) -> None:
        super().init_training_settings()
        train = self.opt["train"]
        mixing = train.get("mixing_augs") or {}
        self._mixup = bool(mixing.get("mixup", False))
        if self._mixup:
            beta = float(mixing.get("mixup_beta", 1.2))
            self._mix_beta = torch.distributions.Beta(torch.tensor([beta]), torch.tensor([beta]))
            self._mix_identity = bool(mixing.get("use_identity", False))
        ds = (self.opt.get("datasets") or {}).get("train") or {}
        self._stages = None
        if ds.get("iters") is not None:
            iters, sizes = list(ds["iters"]), list(ds.get("gt_sizes") or [])
            batches = list(ds.get("mini_batch_sizes") or [])
            if not (len(iters) == len(sizes) == len(batches)) or "gt_size" not in ds:
                raise ValueError(f"datasets.train: progressive training needs iters, gt_sizes and mini_batch_sizes "
                                 f"of one length and gt_size; got iters {iters}, gt_sizes {sizes}, "
                                 f"mini_batch_sizes {batches}")
            self._stages = (iters, sizes, batches, int(ds["gt_size"]))
            self._stage_logged: set[int] = set()
        if train.get("use_grad_clip"):
            params = [p for p in self.net_g.parameters() if p.requires_grad]

            def clip(*_):  # before every optimizer step, as the fork clips between backward and step
                torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP_NORM)

            self.optimizer_g.register_step_pre_hook(clip)

    # -- training ---------------------------------------------------------------------------------------------
    def _batch_tensors(self) -> dict[str, torch.Tensor]:
        names = ("lq", "gt", "prior", "prior_confidence", "prior_keep")
        return {n: getattr(self, n) for n in names if isinstance(getattr(self, n, None), torch.Tensor)}

    def _progressive(self, current_iter: int) -> None:
        iters, sizes, batches, gt_size = self._stages
        j = progressive_stage(current_iter, iters)
        size, batch = int(sizes[j]), int(batches[j])
        if j not in self._stage_logged:
            self._stage_logged.add(j)
            get_root_logger().info(f"Progressive training: stage {j + 1}/{len(iters)} from iteration {current_iter}: "
                                   f"patch {size}, batch {batch}.")
        tensors = self._batch_tensors()
        n = tensors["lq"].shape[0]
        if batch < n:
            keep = torch.tensor(sorted(random.sample(range(n), k=batch)), device=tensors["lq"].device)
            tensors = {k: v[keep] for k, v in tensors.items()}
        if size < gt_size:
            scale = int(self.opt.get("scale", 1))
            x0 = int((gt_size - size) * random.random())
            y0 = int((gt_size - size) * random.random())
            for k, v in tensors.items():
                if k in _SPATIAL:
                    tensors[k] = v[..., x0:x0 + size, y0:y0 + size]
                elif k == "gt":
                    tensors[k] = v[..., x0 * scale:(x0 + size) * scale, y0 * scale:(y0 + size) * scale]
        for k, v in tensors.items():
            setattr(self, k, v)

    def _mix(self) -> None:
        if self._mix_identity and random.randint(0, 1) == 1:  # the fork draws among [mixup, identity]
            return
        lam = self._mix_beta.rsample((1, 1)).item()
        tensors = self._batch_tensors()
        perm = torch.randperm(tensors["lq"].shape[0], device=tensors["lq"].device)
        for k, v in tensors.items():
            setattr(self, k, lam * v + (1 - lam) * v[perm])

    def optimize_parameters(self, current_iter: int) -> None:
        if self._stages is not None:
            self._progressive(current_iter)
        if self._mixup:
            self._mix()
        super().optimize_parameters(current_iter)

    # -- validation -------------------------------------------------------------------------------------------
    def test(self) -> None:
        window = (self.opt.get("val") or {}).get("window_size")
        if not window:
            super().test()
            return
        window = int(window)
        h, w = self.lq.shape[-2:]
        ph, pw = (-h) % window, (-w) % window
        saved = {k: v for k, v in self._batch_tensors().items() if k in _SPATIAL}
        try:
            for k, v in saved.items():
                if ph or pw:
                    setattr(self, k, F.pad(v, (0, pw, 0, ph), mode="reflect"))
            super().test()
        finally:
            for k, v in saved.items():
                setattr(self, k, v)
        scale = int(self.opt.get("scale", 1))
        self.output = self.output[..., :h * scale, :w * scale]


@register(MODEL_REGISTRY, name="G4PImageCleanModel")
class ImageCleanModel(CleanRecipeMixin, RecipeModelMixin, SRModel):
    """The Restormer family's ``ImageCleanModel`` on pip BasicSR 1.4.2, without a prior (module docstring)."""


@register(MODEL_REGISTRY)
class PriorImageCleanModel(CleanRecipeMixin, PriorSRModel):
    """``ImageCleanModel`` whose network takes the prior (:class:`~basicsr_plugins.model.PriorSRModel`): the
    prior and its confidence follow the progressive crops, mixup and validation padding of their input."""


add_fallback_names(MODEL_REGISTRY, {"ImageCleanModel": ImageCleanModel})

