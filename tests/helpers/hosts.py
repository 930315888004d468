"""Tiny host networks for the fusion tests: a U-Net, a plain residual net and a transformer-style net.

``randomise`` gives every parameter non-trivial values, so that "identity at initialisation" is tested on hosts
whose layers are not themselves identities.
"""
import torch
from einops import rearrange
from torch import nn


class TinyUNet(nn.Module):
    """Two-level U-Net with residual output (NAFNet-like layout: intro, encoders, middle, decoders, ending)."""

    def __init__(self, c=8):
        super().__init__()
        self.intro = nn.Conv2d(3, c, 3, padding=1)
        self.encoders = nn.ModuleList([nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.GELU()),
                                       nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.GELU())])
        self.downs = nn.ModuleList([nn.Conv2d(c, 2 * c, 2, 2), nn.Conv2d(2 * c, 4 * c, 2, 2)])
        self.middle = nn.Sequential(nn.Conv2d(4 * c, 4 * c, 3, padding=1), nn.GELU())
        self.ups = nn.ModuleList([nn.Sequential(nn.Conv2d(4 * c, 8 * c, 1), nn.PixelShuffle(2)),
                                  nn.Sequential(nn.Conv2d(2 * c, 4 * c, 1), nn.PixelShuffle(2))])
        self.decoders = nn.ModuleList([nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.GELU()),
                                       nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.GELU())])
        self.ending = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, inp):
        h, w = inp.shape[-2:]
        x = nn.functional.pad(inp, (0, (-w) % 4, 0, (-h) % 4))
        x = self.intro(x)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.middle(x)
        for dec, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = dec(up(x) + skip)
        return self.ending(x)[..., :h, :w] + inp


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.act, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(x)))


class TinyResNet(nn.Module):
    """EDSR-like single-resolution residual net."""

    def __init__(self, c=16, blocks=2):
        super().__init__()
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(c) for _ in range(blocks)])
        self.tail = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x):
        return x + self.tail(self.body(self.head(x)))


class TokenBlock(nn.Module):
    """Pre-norm transformer block on (B, C, H, W) maps: multi-head self-attention over all pixels, then an MLP."""

    def __init__(self, c, heads=2):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.attn = nn.MultiheadAttention(c, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(c, 2 * c), nn.GELU(), nn.Linear(2 * c, c))

    def forward(self, x):
        h, w = x.shape[-2:]
        t = rearrange(x, "b c h w -> b (h w) c")
        n = self.norm1(t)
        t = t + self.attn(n, n, n, need_weights=False)[0]
        t = t + self.mlp(self.norm2(t))
        return rearrange(t, "b (h w) c -> b c h w", h=h, w=w)


class TinyTransformer(nn.Module):
    """Transformer-style restoration net: conv embedding, token blocks, conv head."""

    def __init__(self, c=16, depth=2):
        super().__init__()
        self.embed = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.Sequential(*[TokenBlock(c) for _ in range(depth)])
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x):
        return x + self.head(self.blocks(self.embed(x)))


def tiny_nafnet():
    from gpt4o_prior.archs.nafnet import NAFNet

    return NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])


def tiny_restormer():
    from gpt4o_prior.archs.restormer import Restormer

    return Restormer(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1)


HOSTS = {"unet": TinyUNet, "resnet": TinyResNet, "transformer": TinyTransformer, "nafnet": tiny_nafnet,
         "restormer": tiny_restormer}


def randomise(model, std=0.2, seed=0):
    """Give every parameter random values (so no layer of the host is an identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def make_host(name):
    return randomise(HOSTS[name]().eval())
