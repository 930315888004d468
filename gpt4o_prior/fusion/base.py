"""Common base of fusion blocks: channel bookkeeping and checked, aligned inputs.

Every block takes host features ``feat`` (B, C, H, W), prior features ``prior`` (B, Cp, h, w) of any spatial
size and an optional ``confidence`` (B, 1, h', w') of any spatial size; :meth:`FusionBlock.prepare` checks the
first two and resizes the prior to ``feat``'s size, :meth:`FusionBlock.prepare_confidence` does the same for the
confidence.
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import check_same_batch, check_shape
from .confidence import prepare_confidence
from .resize import resize_prior

__all__ = ["FusionBlock"]


class FusionBlock(nn.Module):
    """Base class of the fusion blocks.

    Subclasses implement ``forward(feat, *, prior, confidence=None)`` and start as the identity. ``confidence``
    gates the block's update per pixel, ``feat + confidence * (fused - feat)`` (see
    :func:`~gpt4o_prior.fusion.gate_update`): zero gives ``feat`` back exactly, ``None`` trusts the prior everywhere.
    (A subclass whose ``forward`` has no ``confidence`` still works with :func:`~gpt4o_prior.attach_prior`, which
    then applies the gate itself.)

    Attributes:
        channels: ``C``, channels of the host features.
        prior_channels: ``Cp``, channels of the prior features.
        attaches_to: ``"features"`` (fused into a layer's output, fed by the prior encoder) or ``"input"``
            (fused at the host's first convolution, fed by the prior image itself).

    Example:
        >>> import torch
        >>> block = FusionBlock(8, 4)
        >>> block.prepare(torch.zeros(2, 8, 6, 6), torch.zeros(2, 4, 3, 3)).shape
        torch.Size([2, 4, 6, 6])
        >>> block.prepare_confidence(torch.zeros(2, 8, 6, 6), torch.ones(2, 1, 3, 3)).shape
        torch.Size([2, 1, 6, 6])
    """

    attaches_to = "features"
    kind = "custom"

    def __init__(self, channels: int, prior_channels: int):
        super().__init__()
        for name, value in (("channels", channels), ("prior_channels", prior_channels)):
            if int(value) != value or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")
        self.channels = int(channels)
        self.prior_channels = int(prior_channels)

    def prepare(self, feat: torch.Tensor, prior: torch.Tensor, *, resize: bool = True) -> torch.Tensor:
        """Check ``feat`` and ``prior``, cast the prior to ``feat``'s dtype and (by default) resize it to ``feat``.

        Raises:
            ValueError: a tensor of the wrong rank, channel count or batch size; the message names it.
        """
        try:
            check_shape(feat, ["B", self.channels, "H", "W"], "feat")
            check_shape(prior, ["B", self.prior_channels, "h", "w"], "prior")
            check_same_batch(feat, prior, ("feat", "prior"))
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}({self.extra_repr()}): {err}") from None
        prior = prior.to(dtype=feat.dtype)
        return resize_prior(prior, feat.shape[-2:]) if resize else prior

    def prepare_confidence(self, feat: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor | None:
        """Check ``confidence`` (``None`` passes through), cast it to ``feat``'s dtype and resize it to ``feat``'s
        size (bilinear); see :func:`~gpt4o_prior.fusion.prepare_confidence`.

        Returns:
            (B, 1, H, W) in ``feat``'s dtype, or ``None``.

        Raises:
            ValueError: not (B, 1, h, w) or (B, h, w), another batch size than ``feat``, or an integer dtype; the
                message names ``confidence`` and its shape.
        """
        try:
            return prepare_confidence(feat, confidence)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}({self.extra_repr()}): {err}") from None

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(feat, *, prior, confidence=None)")

    def extra_repr(self) -> str:
        return f"channels={self.channels}, prior_channels={self.prior_channels}"
