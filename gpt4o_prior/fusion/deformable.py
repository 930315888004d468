"""Deformable fusion for a displaced prior: the prior features are resampled where the host's features say they
belong (``torchvision.ops.deform_conv2d``, offsets and modulation predicted from both), then modulate the host.

torchvision is imported when a block is built or the functions run, not when this module is imported: its import
takes longer than the rest of the package's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import FusionBlock
from .gate import gate_update
from .heads import default_dim
from .registry import register_fusion
from .sft import sft_modulate
from .zero import zero_module

__all__ = ["deformable_offsets", "deformable_resample", "DeformableFusion"]

# The resampling runs in these dtypes; others are computed in float32 (deform_conv2d's kernels lack bfloat16, and
# half precision is coarse for sampling positions).
_NATIVE = (torch.float32, torch.float64)
_IMPLS = ("torchvision", "grid_sample")


def _deform_conv2d():
    try:
        from torchvision.ops import deform_conv2d
    except ImportError as err:  # pragma: no cover - torchvision comes with timm
        raise ImportError("fusion='deformable' needs torchvision (pip install torchvision)") from err
    return deform_conv2d


def deformable_offsets(raw: torch.Tensor, kernel_size: int, *, offset_groups: int = 1,
                       max_offset: float | None = 8.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a head's raw output into the sampling offsets and modulation masks of a deformable convolution.

    The first ``2 * G * k * k`` channels are the offsets, in ``deform_conv2d``'s layout ((dy, dx) per kernel tap,
    per group), bounded as ``max_offset * tanh(raw / max_offset)`` (slope 1 at zero, never beyond ``max_offset``
    pixels; ``None``: unbounded); the last ``G * k * k`` are the masks, ``2 * sigmoid(raw)``, in (0, 2). A raw
    output of zeros gives zero offsets and masks of one: a plain convolution.

    Args:
        raw: the head's output.
        kernel_size: ``k``, the deformable convolution's kernel side.
        offset_groups: ``G``, groups of input channels with their own offsets.
        max_offset: bound of each offset, in pixels of the sampled features.

    Returns:
        ``(offset, mask)``.

    Shape:
        - raw: (B, 3 * G * k * k, H, W)
        - offset: (B, 2 * G * k * k, H, W); mask: (B, G * k * k, H, W)

    Example:
        >>> offset, mask = deformable_offsets(torch.zeros(1, 27, 4, 4), 3)
        >>> offset.abs().max().item(), mask.unique().tolist()
        (0.0, [1.0])
        >>> offset, _ = deformable_offsets(torch.full((1, 27, 4, 4), 1e3), 3, max_offset=2.0)
        >>> offset.max().item()
        2.0
    """
    taps = offset_groups * kernel_size * kernel_size
    if raw.dim() != 4 or raw.shape[1] != 3 * taps:
        raise ValueError(f"deformable_offsets: raw must have shape (B, {3 * taps}, H, W) for kernel_size="
                         f"{kernel_size}, offset_groups={offset_groups}; got {tuple(raw.shape)}")
    offset, mask = raw.split([2 * taps, taps], dim=1)
    if max_offset is not None:
        offset = torch.tanh(offset / max_offset) * max_offset
    return offset, 2 * torch.sigmoid(mask)


def _grid_sample_dcn(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                     bias: torch.Tensor | None) -> torch.Tensor:
    """``deform_conv2d``'s computation (stride 1, "same" padding, zeros outside) with ``F.grid_sample``: one
    bilinear sampling of ``x`` per offset group and kernel tap, then the contraction with ``weight``."""
    b, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    taps = kh * kw
    groups = offset.shape[1] // (2 * taps)
    offset = offset.view(b, groups, taps, 2, h, w)
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(h, 1)
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, w)
    ty = (torch.arange(kh, device=x.device, dtype=x.dtype) - kh // 2).repeat_interleave(kw).view(taps, 1, 1)
    tx = (torch.arange(kw, device=x.device, dtype=x.dtype) - kw // 2).repeat(kh).view(taps, 1, 1)
    # sampling positions in pixels, normalised for align_corners=False (pixel i's centre at (2 i + 1) / n - 1)
    py = (rows + ty + offset[:, :, :, 0]) * (2.0 / h) + (1.0 / h - 1.0)
    px = (cols + tx + offset[:, :, :, 1]) * (2.0 / w) + (1.0 / w - 1.0)
    grid = torch.stack([px, py], dim=-1).view(b * groups * taps, h, w, 2)
    src = x.view(b, groups, 1, cin // groups, h, w).expand(-1, -1, taps, -1, -1, -1)
    cols_ = F.grid_sample(src.reshape(b * groups * taps, cin // groups, h, w), grid, mode="bilinear",
                          padding_mode="zeros", align_corners=False)
    cols_ = cols_.view(b, groups, taps, cin // groups, h, w) * mask.view(b, groups, taps, 1, h, w)
    # the contraction over (group, tap, channel) as a 1x1 convolution (much faster than einsum's permuted matmul)
    weight = weight.view(cout, groups, cin // groups, taps).transpose(2, 3).reshape(cout, groups * taps * cin // groups)
    return F.conv2d(cols_.view(b, -1, h, w), weight[..., None, None], bias)


def deformable_resample(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                        bias: torch.Tensor | None = None, *, impl: str = "torchvision") -> torch.Tensor:
    """Modulated deformable convolution (DCNv2) of ``x`` with "same" padding: each kernel tap samples ``x``
    (bilinearly, zero outside the image) at its place shifted by ``offset`` and is weighted by ``mask``.

    Computed in float32 for other dtypes (bfloat16, half: sampling positions need the precision), the result
    cast back.

    Args:
        x: features to sample.
        offset, mask: from :func:`deformable_offsets` (G offset groups, G dividing ``Cin``).
        weight, bias: the convolution's (odd kernel side ``k``).
        impl: ``"torchvision"`` (``torchvision.ops.deform_conv2d``: its fused kernel on the GPU) or
            ``"grid_sample"`` (``k * k`` bilinear samplings with ``F.grid_sample`` and one contraction: the same
            result to float tolerance, several times faster to train on the CPU, whose torchvision kernel is slow;
            it holds ``k * k`` sampled copies of ``x`` for the backward pass, as torchvision's columns do).

    Returns:
        The resampled, convolved features.

    Shape:
        - x: (B, Cin, H, W); offset: (B, 2 * G * k * k, H, W); mask: (B, G * k * k, H, W)
        - weight: (Cout, Cin, k, k); bias: (Cout,)
        - output: (B, Cout, H, W)

    Example:
        >>> import torch.nn.functional as F
        >>> x, w = torch.randn(1, 4, 6, 6), torch.randn(5, 4, 3, 3)
        >>> offset, mask = deformable_offsets(torch.zeros(1, 27, 6, 6), 3)
        >>> torch.allclose(deformable_resample(x, offset, mask, w), F.conv2d(x, w, padding=1), atol=1e-5)
        True
        >>> offset, mask = deformable_offsets(torch.randn(1, 27, 6, 6), 3)
        >>> torch.allclose(deformable_resample(x, offset, mask, w, impl="grid_sample"),
        ...                deformable_resample(x, offset, mask, w), atol=1e-4)
        True
    """
    if impl not in _IMPLS:
        raise ValueError(f"deformable_resample: impl must be one of {', '.join(map(repr, _IMPLS))}, got {impl!r}")
    kh, kw = weight.shape[-2:]
    dtype = x.dtype
    if dtype not in _NATIVE:
        x = x.float()
    offset, mask, weight = offset.to(x.dtype), mask.to(x.dtype), weight.to(x.dtype)
    bias = bias.to(x.dtype) if bias is not None else None
    if impl == "grid_sample":
        out = _grid_sample_dcn(x, offset, mask, weight, bias)
    else:
        out = _deform_conv2d()(x, offset, weight, bias, padding=(kh // 2, kw // 2), mask=mask)
    return out.to(dtype)


@register_fusion("deformable")
class DeformableFusion(FusionBlock):
    """Deformable fusion: the prior features are resampled by a modulated deformable convolution (DCNv2, as in
    EDVR's alignment) whose offsets and masks are predicted from the host's and the prior's features together,
    then modulate the host's features SFT-style, ``feat * (1 + gamma) + beta``.

    The offset head is a 1x1 convolution of ``cat([feat, prior])`` to ``hidden`` channels, a GELU, a 3x3
    convolution, a GELU and a zero-initialised 3x3 convolution to ``3 * offset_groups * kernel_size**2`` channels:
    at initialisation the offsets are zero and the masks one (``2 * sigmoid(0)``), so the resampling starts as a
    plain ``kernel_size`` convolution of the prior. The resampled features go through a GELU and a zero-initialised
    1x1 convolution to ``gamma`` and ``beta``: the block starts as the identity.

    Each offset is bounded by ``max_offset`` pixels of the point's features (``max_offset * tanh(raw /
    max_offset)``): at a point of stride ``s`` that is ``s * max_offset`` pixels of the input. The offsets are
    per pixel, so the block can follow a displacement that varies across the image (moved objects, changed
    framing), within the reach of its head (3x3 convolutions on top of what the host's and encoder's features
    already see).

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.
        hidden: width of the offset head and of the resampled features (default ``clamp(C // 2, 16, 64)``).
        kernel_size: side of the deformable convolution (odd).
        offset_groups: groups of prior channels with their own offsets and masks (must divide ``Cp``).
        max_offset: bound of each offset in feature pixels (``None``: unbounded).
        impl: how the resampling is computed, see :func:`deformable_resample`: ``"auto"`` (the default:
            ``"torchvision"`` for CUDA tensors, ``"grid_sample"`` otherwise), ``"torchvision"`` (``deform_conv2d``)
            or ``"grid_sample"`` (the same numbers, about 4x faster to train on the CPU, where torchvision's kernel
            is slow). The parameters are the same, so a branch trained with one runs with the other.

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), resized to (H, W)
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates the update
        - output: (B, C, H, W)

    Example:
        >>> block = DeformableFusion(8, 4, max_offset=4)
        >>> feat = torch.randn(2, 8, 9, 7)
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 18, 14)), feat)
        True
        >>> offset, mask = block.offsets(feat, torch.randn(2, 4, 9, 7))
        >>> offset.shape, mask.shape
        (torch.Size([2, 18, 9, 7]), torch.Size([2, 9, 9, 7]))
    """

    def __init__(self, channels: int, prior_channels: int, *, hidden: int | None = None, kernel_size: int = 3,
                 offset_groups: int = 1, max_offset: float | None = 8.0, impl: str = "auto"):
        super().__init__(channels, prior_channels)
        if int(kernel_size) != kernel_size or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"DeformableFusion: kernel_size must be a positive odd integer, got {kernel_size!r}")
        if int(offset_groups) != offset_groups or offset_groups < 1 or prior_channels % offset_groups:
            raise ValueError(f"DeformableFusion: offset_groups must be a positive integer dividing prior_channels="
                             f"{prior_channels}, got {offset_groups!r}")
        if max_offset is not None and not max_offset > 0:
            raise ValueError(f"DeformableFusion: max_offset must be positive or None, got {max_offset!r}")
        if impl not in ("auto",) + _IMPLS:
            raise ValueError(f"DeformableFusion: impl must be one of {', '.join(map(repr, ('auto',) + _IMPLS))}, "
                             f"got {impl!r}")
        if impl != "grid_sample":
            _deform_conv2d()  # a missing torchvision is an error when the block is built, not at its first forward
        self.impl = impl
        self.hidden = hidden = hidden or default_dim(channels)
        self.kernel_size, self.offset_groups = int(kernel_size), int(offset_groups)
        self.max_offset = None if max_offset is None else float(max_offset)
        taps = self.offset_groups * self.kernel_size ** 2
        self.offset_head = nn.Sequential(
            nn.Conv2d(channels + prior_channels, hidden, 1),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.GELU(),
            zero_module(nn.Conv2d(hidden, 3 * taps, 3, padding=1)),
        )
        self.sample = nn.Conv2d(prior_channels, hidden, self.kernel_size)  # the deformable convolution's weights
        self.act = nn.GELU()
        self.to_gamma_beta = zero_module(nn.Conv2d(hidden, 2 * channels, 1))

    def offsets(self, feat: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The sampling offsets (in feature pixels) and masks the block uses for ``feat`` and ``prior``.

        Returns:
            ``(offset, mask)`` as :func:`deformable_offsets`: (B, 2 * G * k * k, H, W) and (B, G * k * k, H, W).
        """
        prior = self.prepare(feat, prior)
        return self._offsets(feat, prior)

    def _offsets(self, feat: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.offset_head(torch.cat([feat, prior], dim=1))
        return deformable_offsets(raw, self.kernel_size, offset_groups=self.offset_groups,
                                  max_offset=self.max_offset)

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        prior = self.prepare(feat, prior)
        confidence = self.prepare_confidence(feat, confidence)
        offset, mask = self._offsets(feat, prior)
        impl = self.impl if self.impl != "auto" else ("torchvision" if prior.is_cuda else "grid_sample")
        aligned = deformable_resample(prior, offset, mask, self.sample.weight, self.sample.bias, impl=impl)
        gamma, beta = self.to_gamma_beta(self.act(aligned)).chunk(2, dim=1)
        return gate_update(feat, sft_modulate(feat, gamma, beta), confidence)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, hidden={self.hidden}, kernel_size={self.kernel_size}, "
                f"offset_groups={self.offset_groups}, max_offset={self.max_offset}, impl={self.impl!r}")
