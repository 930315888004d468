"""Restormer: an efficient transformer U-Net for high-resolution restoration (Zamir et al., CVPR 2022).

Written from the paper (arXiv:2111.09881). Parameter names and shapes equal those of the official checkpoints
(swz30/Restormer), so their ``["params"]`` load with ``strict=True``. The blocks are in
:mod:`gpt4o_prior.archs.restormer_blocks`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..checks import check_shape
from .padding import crop_to, pad_to_multiple
from .restormer_blocks import RestormerBlock

__all__ = ["Restormer"]


class _PatchEmbed(nn.Module):
    """3x3 conv embedding (official ``OverlapPatchEmbed``; key ``proj``)."""

    def __init__(self, in_c: int, embed_dim: int, bias: bool = False):
        super().__init__()
        self.proj = nn.Conv2d(in_c, embed_dim, kernel_size=3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class _Resample(nn.Module):
    """Halve (``down``) or double the resolution: a bias-free 3x3 conv then pixel-(un)shuffle (key ``body``)."""

    def __init__(self, n_feat: int, down: bool):
        super().__init__()
        if down:  # C -> C/2 channels, then 2x2 pixels to channels: 2C at half size
            self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))
        else:  # C -> 2C channels, then channels to 2x2 pixels: C/2 at double size
            self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Restormer(nn.Module):
    """Restormer, with the official constructor, defaults and parameter names.

    A four-level U-Net of :class:`~gpt4o_prior.archs.restormer_blocks.RestormerBlock`; the first level's decoder
    and the refinement stage run at ``2 * dim`` channels. The input is padded (reflect) inside ``forward`` to a
    multiple of 8 and the output cropped back, as the official test scripts do outside the model.

    Args:
        inp_channels: input channels (6 for dual-pixel defocus deblurring).
        out_channels: output channels.
        dim: channels of the first level (doubled per level).
        num_blocks: transformer blocks per level (encoder and decoder of a level share the count).
        num_refinement_blocks: blocks of the final full-resolution refinement.
        heads: attention heads per level.
        ffn_expansion_factor: hidden-channel expansion of the feed-forward networks.
        bias: whether convolutions inside the blocks have biases.
        LayerNorm_type: ``"WithBias"`` or ``"BiasFree"``.
        dual_pixel_task: dual-pixel defocus deblurring (adds ``skip_conv``, no global residual).

    Published configurations (official demo and test scripts): deraining, motion and single-image defocus
    deblurring use the defaults; real and Gaussian colour denoising use ``LayerNorm_type="BiasFree"``; Gaussian
    grey denoising also ``inp_channels=out_channels=1``; dual-pixel defocus deblurring ``inp_channels=6,
    dual_pixel_task=True``.

    Attributes:
        prior_attach_points: module paths where :func:`gpt4o_prior.attach.attach_prior` with ``at="auto"`` fuses a
            prior: the three encoder levels, the latent level and the three decoder levels.

    Shape:
        - inp_img: ``(B, inp_channels, H, W)``, any ``H, W``; output: ``(B, out_channels, H, W)``.

    Example:
        >>> net = Restormer(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1)
        >>> net(torch.rand(1, 3, 11, 13)).shape
        torch.Size([1, 3, 11, 13])
    """

    prior_attach_points: list[str] = [
        "encoder_level1", "encoder_level2", "encoder_level3", "latent",
        "decoder_level3", "decoder_level2", "decoder_level1",
    ]
    pad_multiple: int = 8

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        LayerNorm_type: str = "WithBias",
        dual_pixel_task: bool = False,
    ):
        super().__init__()
        if len(num_blocks) != 4 or len(heads) != 4:
            raise ValueError(f"Restormer needs 4 levels: got num_blocks={list(num_blocks)}, heads={list(heads)}")
        if not dual_pixel_task and inp_channels != out_channels:
            raise ValueError(
                f"Restormer adds its input to its output, so inp_channels ({inp_channels}) must equal "
                f"out_channels ({out_channels}); only dual_pixel_task=True allows them to differ"
            )
        self.inp_channels = inp_channels
        self.dual_pixel_task = dual_pixel_task

        def level(channels: int, n: int, n_heads: int) -> nn.Sequential:
            return nn.Sequential(*[
                RestormerBlock(channels, n_heads, ffn_expansion_factor, bias, LayerNorm_type) for _ in range(n)
            ])

        c1, c2, c3, c4 = dim, dim * 2, dim * 4, dim * 8
        self.patch_embed = _PatchEmbed(inp_channels, dim)
        self.encoder_level1 = level(c1, num_blocks[0], heads[0])
        self.down1_2 = _Resample(c1, down=True)
        self.encoder_level2 = level(c2, num_blocks[1], heads[1])
        self.down2_3 = _Resample(c2, down=True)
        self.encoder_level3 = level(c3, num_blocks[2], heads[2])
        self.down3_4 = _Resample(c3, down=True)
        self.latent = level(c4, num_blocks[3], heads[3])
        self.up4_3 = _Resample(c4, down=False)
        self.reduce_chan_level3 = nn.Conv2d(c4, c3, kernel_size=1, bias=bias)
        self.decoder_level3 = level(c3, num_blocks[2], heads[2])
        self.up3_2 = _Resample(c3, down=False)
        self.reduce_chan_level2 = nn.Conv2d(c3, c2, kernel_size=1, bias=bias)
        self.decoder_level2 = level(c2, num_blocks[1], heads[1])
        self.up2_1 = _Resample(c2, down=False)  # no channel reduction: level 1 decodes at 2 * dim
        self.decoder_level1 = level(c2, num_blocks[0], heads[0])
        self.refinement = level(c2, num_refinement_blocks, heads[0])
        if dual_pixel_task:
            self.skip_conv = nn.Conv2d(c1, c2, kernel_size=1, bias=bias)
        self.output = nn.Conv2d(c2, out_channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        check_shape(inp_img, ["B", self.inp_channels, "H", "W"], "inp_img")
        h, w = inp_img.shape[-2:]
        x_in = pad_to_multiple(inp_img, self.pad_multiple, mode="reflect")
        emb = self.patch_embed(x_in)
        e1 = self.encoder_level1(emb)
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        x = self.latent(self.down3_4(e3))
        x = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(x), e3], 1)))
        x = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(x), e2], 1)))
        x = self.refinement(self.decoder_level1(torch.cat([self.up2_1(x), e1], 1)))
        if self.dual_pixel_task:
            out = self.output(x + self.skip_conv(emb))
        else:
            out = self.output(x) + x_in
        return crop_to(out, h, w)
