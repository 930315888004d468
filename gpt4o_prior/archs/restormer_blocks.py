"""Building blocks of Restormer (Zamir et al., CVPR 2022), with the official parameter names.

* :class:`RestormerLayerNorm`: layer norm over channels, ``"WithBias"`` or ``"BiasFree"`` (its parameters live in a
  ``body`` sub-module, as in the official checkpoints).
* :class:`MDTA`: multi-Dconv head *transposed* attention: queries, keys and values from a 1x1 then a depthwise
  3x3 conv; attention between channels (a ``C/heads x C/heads`` map per head), so the cost is linear in pixels.
* :class:`GDFN`: gated-Dconv feed-forward network: ``GELU(a) * b`` with ``a, b`` from a 1x1 and a depthwise conv.
* :class:`RestormerBlock`: ``x + MDTA(LN(x))`` then ``x + GDFN(LN(x))``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["channel_layer_norm", "RestormerLayerNorm", "transposed_attention", "MDTA", "GDFN", "RestormerBlock"]

_LN_TYPES = ("WithBias", "BiasFree")


def channel_layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, eps: float = 1e-5):
    """Restormer's layer norm over the channel axis of ``(B, C, H, W)`` maps.

    With ``bias=None`` (the ``"BiasFree"`` variant) the mean is not subtracted: ``x / sqrt(var + eps) * weight``.

    Example:
        >>> y = channel_layer_norm(torch.randn(1, 6, 4, 4), torch.ones(6), torch.zeros(6))
        >>> bool(y.mean(1).abs().max() < 1e-5)
        True
    """
    var = x.var(1, keepdim=True, unbiased=False)
    w = weight.view(1, -1, 1, 1)
    if bias is None:
        return x * torch.rsqrt(var + eps) * w
    return (x - x.mean(1, keepdim=True)) * torch.rsqrt(var + eps) * w + bias.view(1, -1, 1, 1)


class _LNBody(nn.Module):
    """Holds the norm's parameters under the official names ``body.weight`` / ``body.bias``."""

    def __init__(self, dim: int, with_bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if with_bias else None


class RestormerLayerNorm(nn.Module):
    """Channel layer norm of Restormer, calling :func:`channel_layer_norm`.

    Args:
        dim: channels.
        LayerNorm_type: ``"WithBias"`` (deraining, deblurring) or ``"BiasFree"`` (denoising). The official code
            treats any value other than ``"BiasFree"`` as ``"WithBias"``; here other values are an error.

    Shape:
        - input: ``(B, dim, H, W)``; output: same.

    Example:
        >>> RestormerLayerNorm(8, "BiasFree")(torch.randn(1, 8, 3, 5)).shape
        torch.Size([1, 8, 3, 5])
    """

    def __init__(self, dim: int, LayerNorm_type: str = "WithBias"):
        super().__init__()
        if LayerNorm_type not in _LN_TYPES:
            raise ValueError(f"LayerNorm_type must be one of {_LN_TYPES}, got {LayerNorm_type!r}")
        self.body = _LNBody(dim, with_bias=LayerNorm_type == "WithBias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_layer_norm(x, self.body.weight, self.body.bias)


def transposed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, temperature: torch.Tensor,
                         heads: int) -> torch.Tensor:
    """Attention across channels: per head, softmax(norm(q) norm(k)^T * temperature) v over ``C/heads`` channels.

    Args:
        q, k, v: ``(B, C, H, W)`` maps.
        temperature: ``(heads, 1, 1)`` learnt scale of the logits.
        heads: the number of heads (divides ``C``).

    Returns:
        ``(B, C, H, W)``.

    Example:
        >>> t = torch.randn(2, 8, 3, 5)
        >>> transposed_attention(t, t, t, torch.ones(2, 1, 1), heads=2).shape
        torch.Size([2, 8, 3, 5])
    """
    h, w = q.shape[-2:]
    q, k, v = (rearrange(t, "b (n c) h w -> b n c (h w)", n=heads) for t in (q, k, v))
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1) * temperature).softmax(dim=-1)
    return rearrange(attn @ v, "b n c (h w) -> b (n c) h w", h=h, w=w)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention (official module name ``Attention``; keys ``temperature``, ``qkv``,
    ``qkv_dwconv``, ``project_out``).

    Args:
        dim: channels.
        num_heads: attention heads (divides ``dim``).
        bias: whether the convolutions have biases.

    Shape:
        - input: ``(B, dim, H, W)``; output: same.

    Example:
        >>> MDTA(8, num_heads=2, bias=False)(torch.randn(1, 8, 4, 6)).shape
        torch.Size([1, 8, 4, 6])
    """

    def __init__(self, dim: int, num_heads: int, bias: bool):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"MDTA: dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        return self.project_out(transposed_attention(q, k, v, self.temperature, self.num_heads))


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network (official module name ``FeedForward``).

    Args:
        dim: channels.
        ffn_expansion_factor: hidden channels are ``int(dim * ffn_expansion_factor)``.
        bias: whether the convolutions have biases.

    Shape:
        - input: ``(B, dim, H, W)``; output: same.

    Example:
        >>> GDFN(8, ffn_expansion_factor=2.66, bias=False)(torch.randn(1, 8, 4, 6)).shape
        torch.Size([1, 8, 4, 6])
    """

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class RestormerBlock(nn.Module):
    """Restormer's transformer block (official name ``TransformerBlock``; keys ``norm1``, ``attn``, ``norm2``,
    ``ffn``).

    Args:
        dim, num_heads, ffn_expansion_factor, bias, LayerNorm_type: see :class:`MDTA`, :class:`GDFN`,
            :class:`RestormerLayerNorm`.

    Shape:
        - input: ``(B, dim, H, W)``; output: same.

    Example:
        >>> RestormerBlock(8, 2, 2.66, False, "WithBias")(torch.randn(1, 8, 5, 3)).shape
        torch.Size([1, 8, 5, 3])
    """

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool, LayerNorm_type: str):
        super().__init__()
        self.norm1 = RestormerLayerNorm(dim, LayerNorm_type)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = RestormerLayerNorm(dim, LayerNorm_type)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))
