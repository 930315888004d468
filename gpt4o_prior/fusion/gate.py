"""Gate a fusion block's update by a per-pixel confidence: ``feat + confidence * (fused - feat)``.

Zero confidence gives the host's features back exactly, one gives the fused features exactly, ``None`` means one
everywhere. Two forms of the same gate: :func:`gate_update` for a block that computes the fused features, and
:func:`add_gated` for a block that computes an additive correction ``fused - feat``.
"""
from __future__ import annotations

import torch

__all__ = ["gate_update", "add_gated", "sharpen_confidence", "DEFAULT_CONFIDENCE_POWER"]

DEFAULT_CONFIDENCE_POWER = 0.5
"""Initial exponent of the learnable confidence power of each attach point (:func:`sharpen_confidence`): the cache's
confidence under-rates correct priors through rain and noise, and a gate of ``c ** 0.5`` lets them through while
zero stays zero (measured against the plain gate in benchmarks/RESULTS.md, "Proof on real degraded images")."""


def gate_update(feat: torch.Tensor, fused: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor:
    """``feat + confidence * (fused - feat)``, exact at both ends (``torch.lerp``): zero confidence returns
    ``feat``'s values, one returns ``fused``'s, ``None`` returns ``fused`` itself.

    Args:
        feat: the host's features.
        fused: the block's fused features.
        confidence: per-pixel weight in [0, 1], same dtype as ``feat``, or ``None``.

    Returns:
        The gated features.

    Shape:
        - feat, fused: (B, C, H, W)
        - confidence: broadcastable to them, e.g. (B, 1, H, W)
        - output: (B, C, H, W)

    Example:
        >>> feat, fused = torch.zeros(1, 2, 1, 3), torch.ones(1, 2, 1, 3)
        >>> gate_update(feat, fused, torch.tensor([0.0, 0.25, 1.0]).view(1, 1, 1, 3))[0, 0].tolist()
        [[0.0, 0.25, 1.0]]
    """
    if confidence is None:
        return fused
    return torch.lerp(feat, fused, confidence)


def sharpen_confidence(confidence: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """``confidence ** exp(log_power)``, exactly 0 where the confidence is 0 and exactly 1 where it is 1.

    The gate an attach point applies before fusing: with a power below 1 a confidence of 0.3 passes as about 0.74
    (at 0.25; 0.55 at the default 0.5), so a correct prior that the confidence under-rates still reaches the host, while an untrusted region
    (0) stays the host's own. The power is learnt per attach point (``log_power`` a parameter).

    Args:
        confidence: values in [0, 1].
        log_power: 0-d tensor, the log of the exponent.

    Returns:
        The sharpened confidence, same shape and dtype.

    Example:
        >>> c = torch.tensor([0.0, 0.0625, 1.0])
        >>> sharpen_confidence(c, torch.tensor(0.25).log()).tolist()
        [0.0, 0.5, 1.0]
    """
    power = log_power.exp().to(confidence.dtype)
    return torch.where(confidence > 0, confidence.clamp_min(1e-4) ** power, torch.zeros_like(confidence))


def add_gated(feat: torch.Tensor, delta: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor:
    """``feat + confidence * delta`` (``feat + delta`` for ``None``): the gate for blocks whose update is an
    additive correction ``delta``. Zero confidence returns ``feat``'s values exactly.

    Shape:
        - feat, delta: (B, C, H, W)
        - confidence: broadcastable to them, e.g. (B, 1, H, W)
        - output: (B, C, H, W)

    Example:
        >>> feat, delta = torch.ones(1, 2, 2, 2), torch.full((1, 2, 2, 2), 4.0)
        >>> add_gated(feat, delta, torch.full((1, 1, 2, 2), 0.5)).unique().tolist()
        [3.0]
        >>> torch.equal(add_gated(feat, delta, torch.zeros(1, 1, 2, 2)), feat)
        True
    """
    if confidence is None:
        return feat + delta
    return torch.addcmul(feat, delta, confidence)
