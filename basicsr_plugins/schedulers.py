"""The learning-rate schedules and optimizers that the published recipes name and pip BasicSR 1.4.2 lacks.

* ``CosineAnnealingRestartCyclicLR`` (the Restormer family: Restormer, Retinexformer, MIRNet-v2, DRSformer,
  MB-TaylorFormer): cosine periods ``periods``, each from ``restart_weights[i] * base`` towards ``eta_mins[i]``.
  In period ``i`` (starting at iteration ``R_i``, of length ``P_i``)::

      lr(t) = eta_i + w_i * (base - eta_i) * (1 + cos(pi * (t - R_i) / P_i)) / 2

  so ``eta_mins[0]`` above the base rate makes the rate *rise* in the first period, as the Retinexformer and
  MIRNet-v2 files set it (and the forks do).
* ``TrueCosineAnnealingLR`` (NAFNet): the closed form ``eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2``
  (not torch's recursive ``CosineAnnealingLR``, which drifts from it after ``T_max``).
* :func:`build_optimizer`: any ``torch.optim`` optimizer by name (``AdamW`` with ``betas: [0.9, 0.999]``, as the
  recipes use; 1.4.2 builds ``Adam`` only).

:class:`RecipeModelMixin` puts both into a BasicSR model (``setup_schedulers`` / ``get_optimizer``); BasicSR's own
schedulers (``MultiStepLR``, ``CosineAnnealingRestartLR``) stay as they are.

Example:
    >>> import torch
    >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=2e-4)
    >>> s = CosineAnnealingRestartCyclicLR(opt, periods=[10, 30], restart_weights=[1, 1], eta_mins=[3e-4, 1e-6])
    >>> lrs = []
    >>> for _ in range(40):
    ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); s.step()
    >>> round(lrs[0], 6), round(lrs[10], 6), lrs[5] > lrs[0]   # rises in the first period
    (0.0002, 0.0003, True)
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch.optim.lr_scheduler import _LRScheduler

__all__ = ["CosineAnnealingRestartCyclicLR", "TrueCosineAnnealingLR", "build_optimizer", "RecipeModelMixin",
           "RECIPE_SCHEDULERS"]


def _period_index(iteration: int, cumulative: Sequence[int]) -> int:
    """The period an iteration falls in: the first whose cumulative end is at or after it (BasicSR's rule)."""
    for i, end in enumerate(cumulative):
        if iteration <= end:
            return i
    raise ValueError(f"iteration {iteration} is past the last period (they end at {cumulative[-1]}): "
                     "make scheduler.periods add up to train.total_iter")


class CosineAnnealingRestartCyclicLR(_LRScheduler):
    """Cosine periods with restarts, each with its own floor ``eta_mins[i]`` and weight ``restart_weights[i]``.

    Args:
        optimizer: the optimizer.
        periods: length of each period in iterations (they should add up to ``train.total_iter``).
        restart_weights: the weight of the base rate at the start of each period.
        eta_mins: the rate each period tends to (may be above the base rate: the rate then rises).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, periods: Sequence[int],
                 restart_weights: Sequence[float] = (1,), eta_mins: Sequence[float] = (0,), last_epoch: int = -1):
        self.periods = [int(p) for p in periods]
        self.restart_weights = [float(w) for w in restart_weights]
        self.eta_mins = [float(e) for e in eta_mins]
        if not (len(self.periods) == len(self.restart_weights) == len(self.eta_mins)) or not self.periods:
            raise ValueError(f"scheduler: periods {self.periods}, restart_weights {self.restart_weights} and "
                             f"eta_mins {self.eta_mins} must be non-empty lists of one length")
        self.cumulative = [sum(self.periods[:i + 1]) for i in range(len(self.periods))]
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        i = _period_index(self.last_epoch, self.cumulative)
        start = 0 if i == 0 else self.cumulative[i - 1]
        w, eta, period = self.restart_weights[i], self.eta_mins[i], self.periods[i]
        progress = (self.last_epoch - start) / period
        return [eta + w * 0.5 * (base - eta) * (1 + math.cos(math.pi * progress)) for base in self.base_lrs]


class TrueCosineAnnealingLR(_LRScheduler):
    """NAFNet's cosine schedule, in closed form: ``eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2``."""

    def __init__(self, optimizer: torch.optim.Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


RECIPE_SCHEDULERS = {"CosineAnnealingRestartCyclicLR": CosineAnnealingRestartCyclicLR,
                     "TrueCosineAnnealingLR": TrueCosineAnnealingLR}
"""``train.scheduler.type`` names this module adds to BasicSR's, and their classes."""


def build_optimizer(optim_type: str, params: Any, lr: float, **kwargs: Any) -> torch.optim.Optimizer:
    """``torch.optim.<optim_type>(params, lr, **kwargs)``; a clear error for a name torch.optim does not have."""
    cls = getattr(torch.optim, str(optim_type), None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"train.optim_g.type: {optim_type!r} is not an optimizer in torch.optim "
                         f"(e.g. Adam, AdamW, SGD)")
    return cls(params, lr, **kwargs)


class RecipeModelMixin:
    """For a BasicSR model class: the recipes' schedulers and any ``torch.optim`` optimizer (put it first in the
    bases: ``class MyModel(RecipeModelMixin, SRModel)``)."""

    def get_optimizer(self, optim_type: str, params: Any, lr: float, **kwargs: Any) -> torch.optim.Optimizer:
        return build_optimizer(optim_type, params, lr, **kwargs)

    def setup_schedulers(self) -> None:
        sched = self.opt["train"]["scheduler"]
        cls = RECIPE_SCHEDULERS.get(sched.get("type"))
        if cls is None:
            super().setup_schedulers()  # BasicSR's own types (and its error for an unknown one)
            return
        kwargs = {k: v for k, v in sched.items() if k != "type"}
        try:
            self.schedulers.extend(cls(optimizer, **kwargs) for optimizer in self.optimizers)
        except TypeError as err:
            raise ValueError(f"train.scheduler ({sched['type']}): {err}") from None
