"""Retinexformer: one-stage Retinex-based transformer for low-light enhancement (Cai et al., ICCV 2023).

Written from the paper (arXiv:2303.06705). Parameter names and shapes equal those of the official checkpoints
(caiyuanhao1998/Retinexformer, class ``RetinexFormer``), so their ``["params"]`` load with ``strict=True``.

Each stage estimates a light-up map and illumination features from the image (:class:`IlluminationEstimator`),
brightens the image with the map (``img * map + img``), then restores it with a small U-Net whose attention
(:class:`IGMSA`, illumination-guided multi-head self-attention, across channels) weights the values by the
illumination features.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..checks import check_shape
from .padding import crop_to, pad_to_multiple

__all__ = [
    "illumination_guided_attention", "IlluminationEstimator", "IGMSA", "IGAB", "RetinexformerDenoiser",
    "RetinexformerStage", "Retinexformer",
]


class _GELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x)


class IlluminationEstimator(nn.Module):
    """Light-up map and illumination features from an image and its channel mean.

    Args:
        n_feat: feature channels (divisible by ``in_channels + 1``, the grouping of the depthwise conv).
        in_channels: image channels.

    Returns:
        ``(features, light_up_map)``.

    Shape:
        - img: ``(B, in_channels, H, W)``; features: ``(B, n_feat, H, W)``; map: ``(B, in_channels, H, W)``.

    Example:
        >>> fea, light = IlluminationEstimator(8)(torch.rand(1, 3, 6, 6))
        >>> tuple(fea.shape), tuple(light.shape)
        ((1, 8, 6, 6), (1, 3, 6, 6))
    """

    def __init__(self, n_feat: int, in_channels: int = 3):
        super().__init__()
        n_in = in_channels + 1
        if n_feat % n_in:
            raise ValueError(f"Retinexformer: n_feat={n_feat} must be divisible by in_channels + 1 = {n_in}")
        self.conv1 = nn.Conv2d(n_in, n_feat, kernel_size=1)
        self.depth_conv = nn.Conv2d(n_feat, n_feat, kernel_size=5, padding=2, groups=n_in)
        self.conv2 = nn.Conv2d(n_feat, in_channels, kernel_size=1)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fea = self.depth_conv(self.conv1(torch.cat([img, img.mean(1, keepdim=True)], 1)))
        return fea, self.conv2(fea)


def illumination_guided_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, illu: torch.Tensor,
                                  rescale: torch.Tensor, heads: int) -> torch.Tensor:
    """Channel attention of Retinexformer: per head, softmax(norm(k)^T norm(q) * rescale) applied to ``v * illu``.

    Args:
        q, k, v: token features.
        illu: illumination features, multiplied into ``v``.
        rescale: ``(heads, 1, 1)`` learnt scale of the logits.
        heads: the number of heads (divides ``C``).

    Shape:
        - q, k, v, illu: ``(B, N, C)`` (``N`` pixels); output: ``(B, N, C)``.

    Example:
        >>> t = torch.rand(2, 12, 8)
        >>> illumination_guided_attention(t, t, t, t, torch.ones(2, 1, 1), heads=2).shape
        torch.Size([2, 12, 8])
    """
    split = "b n (m d) -> b m d n"  # m heads, d channels per head, n pixels
    q = F.normalize(rearrange(q, split, m=heads), dim=-1)
    k = F.normalize(rearrange(k, split, m=heads), dim=-1)
    v = rearrange(v, split, m=heads) * rearrange(illu, split, m=heads)
    attn = (k @ q.transpose(-2, -1) * rescale).softmax(dim=-1)
    return rearrange(attn @ v, "b m d n -> b n (m d)")


class IGMSA(nn.Module):
    """Illumination-guided multi-head self-attention (official ``IG_MSA``), channel-wise.

    Values are multiplied by the illumination features before a per-head ``dim_head x dim_head`` attention; a
    depthwise-conv positional branch on the raw values is added to the projected result.

    Args:
        dim: channels (must equal ``dim_head * heads``).
        dim_head: channels per head.
        heads: heads.

    Shape:
        - x, illu: ``(B, H, W, dim)`` (channels last, as the official code); output: same.

    Example:
        >>> IGMSA(8, dim_head=4, heads=2)(torch.rand(1, 3, 5, 8), torch.rand(1, 3, 5, 8)).shape
        torch.Size([1, 3, 5, 8])
    """

    def __init__(self, dim: int, dim_head: int = 64, heads: int = 8):
        super().__init__()
        if dim_head * heads != dim:
            raise ValueError(f"IGMSA: dim ({dim}) must equal dim_head ({dim_head}) * heads ({heads})")
        self.num_heads = heads
        self.dim_head = dim_head
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.rescale = nn.Parameter(torch.ones(heads, 1, 1))
        self.proj = nn.Linear(dim, dim, bias=True)
        self.pos_emb = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, bias=False, groups=dim),
            _GELU(),
            nn.Conv2d(dim, dim, 3, padding=1, bias=False, groups=dim),
        )

    def forward(self, x: torch.Tensor, illu: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        tokens = x.reshape(b, h * w, c)
        v = self.to_v(tokens)
        out = illumination_guided_attention(self.to_q(tokens), self.to_k(tokens), v, illu.reshape(b, h * w, c),
                                            self.rescale, self.num_heads)
        pos = self.pos_emb(v.view(b, h, w, c).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.proj(out).view(b, h, w, c) + pos


class _FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        hid = dim * mult
        self.net = nn.Sequential(
            nn.Conv2d(dim, hid, 1, bias=False), _GELU(),
            nn.Conv2d(hid, hid, 3, padding=1, bias=False, groups=hid), _GELU(),
            nn.Conv2d(hid, dim, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # channels last in and out
        return self.net(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class _PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.fn = fn
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class IGAB(nn.Module):
    """Illumination-guided attention block: ``num_blocks`` pairs of (IG-MSA, pre-norm feed-forward), residual.

    Args:
        dim, dim_head, heads: see :class:`IGMSA`.
        num_blocks: pairs.

    Shape:
        - x, illu_fea: ``(B, dim, H, W)``; output: ``(B, dim, H, W)``.

    Example:
        >>> IGAB(8, dim_head=8, heads=1, num_blocks=1)(torch.rand(1, 8, 4, 4), torch.rand(1, 8, 4, 4)).shape
        torch.Size([1, 8, 4, 4])
    """

    def __init__(self, dim: int, dim_head: int = 64, heads: int = 8, num_blocks: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList([IGMSA(dim, dim_head=dim_head, heads=heads), _PreNorm(dim, _FeedForward(dim))])
            for _ in range(num_blocks)
        )

    def forward(self, x: torch.Tensor, illu_fea: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        illu = illu_fea.permute(0, 2, 3, 1)
        for attn, ff in self.blocks:
            x = attn(x, illu) + x
            x = ff(x) + x
        return x.permute(0, 3, 1, 2)


class RetinexformerDenoiser(nn.Module):
    """The illumination-guided U-Net of one stage (official ``Denoiser``): ``level`` downsamplings.

    Args:
        in_dim, out_dim: image channels in and out.
        dim: channels at full resolution (also the per-head width at every level).
        level: downsamplings.
        num_blocks: IG-MSA pairs per level, the last one for the bottleneck (``level + 1`` entries).

    Shape:
        - x: ``(B, in_dim, H, W)`` with ``H, W`` divisible by ``2 ** level``; illu_fea: ``(B, dim, H, W)``;
          output: ``(B, out_dim, H, W)``.

    Example:
        >>> den = RetinexformerDenoiser(dim=8, level=2, num_blocks=[1, 1, 1])
        >>> den(torch.rand(1, 3, 8, 8), torch.rand(1, 8, 8, 8)).shape
        torch.Size([1, 3, 8, 8])
    """

    def __init__(self, in_dim: int = 3, out_dim: int = 3, dim: int = 31, level: int = 2,
                 num_blocks: Sequence[int] = (2, 4, 4)):
        super().__init__()
        if len(num_blocks) != level + 1:
            raise ValueError(f"num_blocks needs level + 1 = {level + 1} entries, got {list(num_blocks)}")
        self.level = level
        self.embedding = nn.Conv2d(in_dim, dim, 3, padding=1, bias=False)
        self.encoder_layers = nn.ModuleList()
        c = dim
        for i in range(level):
            self.encoder_layers.append(nn.ModuleList([
                IGAB(c, dim_head=dim, heads=c // dim, num_blocks=num_blocks[i]),
                nn.Conv2d(c, c * 2, 4, stride=2, padding=1, bias=False),  # features down
                nn.Conv2d(c, c * 2, 4, stride=2, padding=1, bias=False),  # illumination features down
            ]))
            c *= 2
        self.bottleneck = IGAB(c, dim_head=dim, heads=c // dim, num_blocks=num_blocks[-1])
        self.decoder_layers = nn.ModuleList()
        for i in range(level):
            self.decoder_layers.append(nn.ModuleList([
                nn.ConvTranspose2d(c, c // 2, kernel_size=2, stride=2),
                nn.Conv2d(c, c // 2, 1, bias=False),  # fuse upsampled features with the skip
                IGAB(c // 2, dim_head=dim, heads=c // 2 // dim, num_blocks=num_blocks[level - 1 - i]),
            ]))
            c //= 2
        self.mapping = nn.Conv2d(dim, out_dim, 3, padding=1, bias=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, illu_fea: torch.Tensor) -> torch.Tensor:
        fea = self.embedding(x)
        skips, illus = [], []
        for igab, down, illu_down in self.encoder_layers:
            fea = igab(fea, illu_fea)
            skips.append(fea)
            illus.append(illu_fea)
            fea, illu_fea = down(fea), illu_down(illu_fea)
        fea = self.bottleneck(fea, illu_fea)
        for up, fuse, igab in self.decoder_layers:
            fea = fuse(torch.cat([up(fea), skips.pop()], 1))
            fea = igab(fea, illus.pop())
        return self.mapping(fea) + x


class RetinexformerStage(nn.Module):
    """One Retinexformer stage (official ``RetinexFormer_Single_Stage``): estimate, light up, restore.

    Shape:
        - img: ``(B, in_channels, H, W)`` with ``H, W`` divisible by ``2 ** level``; output: same.

    Example:
        >>> RetinexformerStage(n_feat=8, num_blocks=[1, 1, 1])(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 8, 8])
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, n_feat: int = 40, level: int = 2,
                 num_blocks: Sequence[int] = (1, 1, 1)):
        super().__init__()
        # Registered denoiser first so that the first Conv2d of the model takes the image itself (the estimator's
        # first conv takes image + mean); tools that infer the input channels from it get them right. Key order
        # does not matter to load_state_dict.
        self.denoiser = RetinexformerDenoiser(in_dim=in_channels, out_dim=out_channels, dim=n_feat, level=level,
                                              num_blocks=num_blocks)
        self.estimator = IlluminationEstimator(n_feat, in_channels=in_channels)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        illu_fea, light_up = self.estimator(img)
        return self.denoiser(img * light_up + img, illu_fea)


class Retinexformer(nn.Module):
    """Retinexformer (official class ``RetinexFormer``), with the official keyword names.

    The input is padded (reflect) inside ``forward`` to a multiple of 4 and the output cropped back.

    Args:
        in_channels: image channels in.
        out_channels: image channels out (equal to ``in_channels``: the stages are residual).
        n_feat: feature channels at full resolution; divisible by ``in_channels + 1``.
        stage: stages applied one after another.
        num_blocks: IG-MSA pairs per level ``[level 1, level 2, bottleneck]``.

    Defaults are the published configuration, used by every official option file (LOL-v1, LOL-v2 real and
    synthetic, SID, SMID, SDSD indoor and outdoor, FiveK, NTIRE): ``n_feat=40, stage=1, num_blocks=[1, 2, 2]``,
    1.61 M parameters. (The official class defaults, ``n_feat=31, stage=3, num_blocks=[1, 1, 1]``, cannot be
    built: 31 channels do not split into the estimator's 4 groups.)

    Attributes:
        prior_attach_points: the IGAB outputs of the last stage's U-Net, one per resolution on each side. Each
            instance sets its own (the path depends on ``stage``).

    Shape:
        - x: ``(B, in_channels, H, W)``, any ``H, W``; output: same.

    Example:
        >>> net = Retinexformer(n_feat=8, num_blocks=[1, 1, 1])
        >>> net(torch.rand(1, 3, 10, 7)).shape
        torch.Size([1, 3, 10, 7])
        >>> net.prior_attach_points[:2]
        ['body.0.denoiser.encoder_layers.0.0', 'body.0.denoiser.encoder_layers.1.0']
    """

    prior_attach_points: list[str] = [
        "body.0.denoiser.encoder_layers.0.0", "body.0.denoiser.encoder_layers.1.0", "body.0.denoiser.bottleneck",
        "body.0.denoiser.decoder_layers.0.2", "body.0.denoiser.decoder_layers.1.2",
    ]
    level: int = 2

    def __init__(self, in_channels: int = 3, out_channels: int = 3, n_feat: int = 40, stage: int = 1,
                 num_blocks: Sequence[int] = (1, 2, 2)):
        super().__init__()
        if in_channels != out_channels:
            raise ValueError(
                f"Retinexformer adds its input to its output: in_channels ({in_channels}) must equal "
                f"out_channels ({out_channels})"
            )
        if stage < 1:
            raise ValueError(f"Retinexformer needs stage >= 1, got {stage}")
        self.in_channels = in_channels
        self.body = nn.Sequential(*[
            RetinexformerStage(in_channels, out_channels, n_feat=n_feat, level=self.level, num_blocks=num_blocks)
            for _ in range(stage)
        ])
        last = f"body.{stage - 1}.denoiser"
        self.prior_attach_points = (
            [f"{last}.encoder_layers.{i}.0" for i in range(self.level)] + [f"{last}.bottleneck"]
            + [f"{last}.decoder_layers.{i}.2" for i in range(self.level)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, ["B", self.in_channels, "H", "W"], "x")
        h, w = x.shape[-2:]
        return crop_to(self.body(pad_to_multiple(x, 2 ** self.level, mode="reflect")), h, w)
