"""NAFNet: a nonlinear-activation-free U-Net for image restoration (Chen et al., ECCV 2022).

Written from the paper ("Simple Baselines for Image Restoration", arXiv:2204.04676). Parameter names and shapes
equal those of the official checkpoints (megvii-research/NAFNet), so their ``["params"]`` load with
``strict=True``.

A NAF block replaces activations with a *simple gate* (split the channels in two halves and multiply them) and
attention with *simplified channel attention* (a global average pool and a 1x1 conv that rescale the channels).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..checks import check_shape
from .layer_norm import LayerNorm2d
from .padding import crop_to, pad_to_multiple

__all__ = ["simple_gate", "SimpleGate", "NAFBlock", "NAFNet"]


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """Multiply the first half of the channels by the second half.

    Shape:
        - x: ``(B, 2C, H, W)``; output: ``(B, C, H, W)``.

    Example:
        >>> simple_gate(torch.full((1, 4, 2, 2), 3.0))[0, :, 0, 0].tolist()
        [9.0, 9.0]
    """
    a, b = x.chunk(2, dim=1)
    return a * b


class SimpleGate(nn.Module):
    """Module form of :func:`simple_gate` (no parameters).

    Example:
        >>> SimpleGate()(torch.ones(1, 6, 3, 3)).shape
        torch.Size([1, 3, 3, 3])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return simple_gate(x)


class NAFBlock(nn.Module):
    """One NAF block: a gated depthwise-conv branch with channel attention, then a gated 1x1 feed-forward.

    Both branches are residual, scaled by learnt per-channel factors ``beta`` and ``gamma`` that start at zero,
    so a freshly built block is the identity.

    Args:
        c: channels in and out.
        DW_Expand: channel expansion of the depthwise branch (official name and default).
        FFN_Expand: channel expansion of the feed-forward branch.
        drop_out_rate: dropout after each branch (0 disables it).

    Shape:
        - input: ``(B, c, H, W)``; output: same.

    Example:
        >>> blk = NAFBlock(8)
        >>> x = torch.randn(1, 8, 5, 7)
        >>> torch.equal(blk(x), x)  # beta = gamma = 0 at init
        True
    """

    def __init__(self, c: int, DW_Expand: int = 2, FFN_Expand: int = 2, drop_out_rate: float = 0.0):
        super().__init__()
        dw = c * DW_Expand
        ffn = c * FFN_Expand
        self.conv1 = nn.Conv2d(c, dw, kernel_size=1)
        self.conv2 = nn.Conv2d(dw, dw, kernel_size=3, padding=1, groups=dw)
        self.conv3 = nn.Conv2d(dw // 2, c, kernel_size=1)
        # index 0: the pooling (swapped for a local pool by NAFNetLocal), index 1: the 1x1 conv
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, kernel_size=1))
        self.sg = SimpleGate()
        self.conv4 = nn.Conv2d(c, ffn, kernel_size=1)
        self.conv5 = nn.Conv2d(ffn // 2, c, kernel_size=1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + self.dropout1(x) * self.beta
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + self.dropout2(x) * self.gamma


def _stage(c: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[NAFBlock(c) for _ in range(n)])


class NAFNet(nn.Module):
    """NAFNet, the U-Net of NAF blocks, with the official constructor and parameter names.

    The input is zero-padded inside ``forward`` to a multiple of ``2 ** len(enc_blk_nums)`` and the output
    cropped back, so any size works. The network predicts a residual that is added to the input.

    Args:
        img_channel: image channels in and out.
        width: channels of the first stage (doubled at each of the ``len(enc_blk_nums)`` downsamplings).
        middle_blk_num: NAF blocks at the lowest resolution.
        enc_blk_nums: NAF blocks per encoder stage.
        dec_blk_nums: NAF blocks per decoder stage (the same length as ``enc_blk_nums``).

    Published configurations (official option files): GoPro deblurring ``width=32`` or ``64``,
    ``enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1, dec_blk_nums=[1, 1, 1, 1]`` (tested as :class:`NAFNetLocal`);
    SIDD denoising ``width=32`` or ``64``, ``enc_blk_nums=[2, 2, 4, 8], middle_blk_num=12,
    dec_blk_nums=[2, 2, 2, 2]``.

    Attributes:
        prior_attach_points: module paths where :func:`gpt4o_prior.attach.attach_prior` with ``at="auto"`` fuses a
            prior: each encoder stage, the middle blocks and each decoder stage (one per resolution on each
            side). It depends on the configuration, so read it from the instance.

    Shape:
        - inp: ``(B, img_channel, H, W)``, any ``H, W``; output: same.

    Example:
        >>> net = NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
        >>> net(torch.rand(1, 3, 13, 10)).shape
        torch.Size([1, 3, 13, 10])
        >>> net.prior_attach_points
        ['encoders.0', 'encoders.1', 'middle_blks', 'decoders.0', 'decoders.1']
    """

    prior_attach_points: list[str] = ["middle_blks"]  # the default configuration's; __init__ sets the instance's

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 16,
        middle_blk_num: int = 1,
        enc_blk_nums: Sequence[int] = (),
        dec_blk_nums: Sequence[int] = (),
    ):
        super().__init__()
        enc_blk_nums, dec_blk_nums = list(enc_blk_nums), list(dec_blk_nums)
        if len(dec_blk_nums) != len(enc_blk_nums):
            raise ValueError(
                f"NAFNet needs as many decoder stages as encoder stages: enc_blk_nums={enc_blk_nums} has "
                f"{len(enc_blk_nums)}, dec_blk_nums={dec_blk_nums} has {len(dec_blk_nums)}"
            )
        self.img_channel = img_channel
        self.intro = nn.Conv2d(img_channel, width, kernel_size=3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, kernel_size=3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        chan = width
        for n in enc_blk_nums:
            self.encoders.append(_stage(chan, n))
            self.downs.append(nn.Conv2d(chan, 2 * chan, kernel_size=2, stride=2))
            chan *= 2
        self.middle_blks = _stage(chan, middle_blk_num)
        for n in dec_blk_nums:
            self.ups.append(nn.Sequential(nn.Conv2d(chan, 2 * chan, kernel_size=1, bias=False), nn.PixelShuffle(2)))
            chan //= 2
            self.decoders.append(_stage(chan, n))
        self.padder_size = 2 ** len(self.encoders)
        self.prior_attach_points = (
            [f"encoders.{i}" for i in range(len(self.encoders))]
            + ["middle_blks"]
            + [f"decoders.{i}" for i in range(len(self.decoders))]
        )

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        check_shape(inp, ["B", self.img_channel, "H", "W"], "inp")
        h, w = inp.shape[-2:]
        inp = pad_to_multiple(inp, self.padder_size, mode="constant")
        x = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = decoder(up(x) + skip)
        return crop_to(self.ending(x) + inp, h, w)
