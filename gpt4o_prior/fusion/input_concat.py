"""Input-level concatenation: widen a host's first convolution so it also reads the prior image.

Concatenating ``p`` to the input of a convolution with weights ``[W_x, W_p]`` gives ``conv(x, W_x) + conv(p, W_p)``.
:class:`InputConcatAdapter` keeps that sum form: the host's convolution (its pretrained ``W_x`` and bias) stays
where it is and is shared, and the adapter holds only the new, zero-initialised ``W_p``; :meth:`merged_conv` builds
the literally widened convolution when one is wanted (export, deployment). :func:`widen_conv` widens any
convolution, copying its weights and zero-initialising the new input channels.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import FusionBlock
from .gate import add_gated
from .registry import register_fusion
from .resize import resize_prior

__all__ = ["widen_conv", "InputConcatAdapter"]


def _check_plain_conv(conv: nn.Module, what: str) -> None:
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"{what} needs an nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1:
        raise ValueError(f"{what}: the convolution has groups={conv.groups}; only groups=1 can be widened")


def widen_conv(conv: nn.Conv2d, extra_in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` with ``extra_in_channels`` more input channels, appended after the existing ones.

    The existing weights and bias are copied; the new weights are zero, so on ``cat([x, p])`` the widened
    convolution gives exactly ``conv(x)``.

    Args:
        conv: the convolution to widen (groups=1).
        extra_in_channels: number of input channels to add.

    Returns:
        A new ``nn.Conv2d``; ``conv`` is left unchanged.

    Example:
        >>> conv = nn.Conv2d(3, 8, 3, padding=1)
        >>> wide = widen_conv(conv, 3)
        >>> x, p = torch.randn(1, 3, 6, 6), torch.randn(1, 3, 6, 6)
        >>> torch.allclose(wide(torch.cat([x, p], 1)), conv(x), atol=1e-6)
        True
    """
    _check_plain_conv(conv, "widen_conv")
    wide = nn.Conv2d(conv.in_channels + extra_in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                     conv.padding, conv.dilation, 1, conv.bias is not None, conv.padding_mode,
                     device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[:, : conv.in_channels] = conv.weight
        if conv.bias is not None:
            wide.bias.copy_(conv.bias)
    return wide


@register_fusion("input_concat")
class InputConcatAdapter(FusionBlock):
    """The new input channels of a widened first convolution, as a fusion block.

    ``forward(feat, *, prior)`` returns ``feat + conv(prior)``, where ``feat`` is the output of the host's first
    convolution and ``conv`` has that convolution's geometry (kernel, stride, padding, dilation, padding mode), no
    bias, and zero weights. ``prior`` is the prior image, resized to the host convolution's input size
    (``input_size``, or ``feat``'s size times the stride when not given). ``attach_prior(..., fusion="input_concat")``
    hooks it on the host's first convolution; no prior encoder is used.

    With ``confidence`` the prior's contribution is gated at the convolution's output:
    ``feat + confidence * conv(prior)``, the confidence resized to ``feat``'s size. Where it is zero the host's
    first features are exactly its own; where it is one the widened convolution reads the prior fully. (This gates
    the output of the new weights, not the prior pixels they read, so near an edge of the map a pixel with
    confidence one still sees prior pixels of low confidence within its kernel.) :meth:`merged_conv` is the
    ungated (``confidence=None``) form; the gated adapter has no single-convolution equivalent.

    Args:
        channels: output channels of the host's convolution.
        prior_channels: channels of the prior image (3 for RGB).
        kernel_size, stride, padding, dilation, padding_mode: the host convolution's geometry.

    Shape:
        - feat: (B, C, H, W), the host convolution's output
        - prior: (B, Cp, h, w), any size
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates ``conv(prior)``
        - output: (B, C, H, W)

    Example:
        >>> conv = nn.Conv2d(3, 8, 3, padding=1)
        >>> adapter = InputConcatAdapter.from_conv(conv)
        >>> x, p = torch.randn(1, 3, 7, 9), torch.randn(1, 3, 14, 18)
        >>> torch.equal(adapter(conv(x), prior=p), conv(x))
        True
    """

    attaches_to = "input"

    def __init__(self, channels: int, prior_channels: int = 3, *, kernel_size=3, stride=1, padding=None,
                 dilation=1, padding_mode: str = "zeros"):
        super().__init__(channels, prior_channels)
        if padding is None:
            padding = kernel_size // 2 if isinstance(kernel_size, int) else tuple(k // 2 for k in kernel_size)
        self.conv = nn.Conv2d(prior_channels, channels, kernel_size, stride, padding, dilation, bias=False,
                              padding_mode=padding_mode)
        nn.init.zeros_(self.conv.weight)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, prior_channels: int = 3) -> "InputConcatAdapter":
        """An adapter matching ``conv``'s geometry, on its device and dtype.

        Example:
            >>> InputConcatAdapter.from_conv(nn.Conv2d(3, 4, 5, padding=2)).conv.kernel_size
            (5, 5)
        """
        _check_plain_conv(conv, "InputConcatAdapter.from_conv")
        adapter = cls(conv.out_channels, prior_channels, kernel_size=conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, padding_mode=conv.padding_mode)
        return adapter.to(device=conv.weight.device, dtype=conv.weight.dtype)

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor, confidence: torch.Tensor | None = None,
                input_size=None) -> torch.Tensor:
        prior = self.prepare(feat, prior, resize=False)
        confidence = self.prepare_confidence(feat, confidence)
        if input_size is None:
            input_size = tuple(s * st for s, st in zip(feat.shape[-2:], self.conv.stride))
        extra = self.conv(resize_prior(prior, input_size))
        if extra.shape[-2:] != feat.shape[-2:]:
            raise ValueError(
                f"InputConcatAdapter: the prior, resized to {tuple(input_size)}, gives features of size "
                f"{tuple(extra.shape[-2:])} but feat is {tuple(feat.shape[-2:])}; pass input_size= the size of the "
                "host convolution's input"
            )
        return add_gated(feat, extra, confidence)

    def merged_conv(self, conv: nn.Conv2d) -> nn.Conv2d:
        """The widened convolution equal to ``conv`` plus this adapter: it takes ``cat([x, prior])``.

        Example:
            >>> conv = nn.Conv2d(3, 4, 3, padding=1)
            >>> adapter = InputConcatAdapter.from_conv(conv)
            >>> _ = nn.init.normal_(adapter.conv.weight)
            >>> x, p = torch.randn(1, 3, 5, 5), torch.randn(1, 3, 5, 5)
            >>> torch.allclose(adapter.merged_conv(conv)(torch.cat([x, p], 1)), adapter(conv(x), prior=p), atol=1e-5)
            True
        """
        wide = widen_conv(conv, self.prior_channels)
        with torch.no_grad():
            wide.weight[:, conv.in_channels:] = self.conv.weight.to(wide.weight)
        return wide
