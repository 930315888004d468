"""The zoo of hosts written outside this project (spandrel's copies of published networks), at tiny settings, for
the registry-driven tests of ``attach_prior(at="auto")`` (``tests/gpt4o_prior/archs/test_zoo.py``).

Each :class:`ZooEntry` names a spandrel class, its keyword arguments, its input and what it stresses (extra input
channels, a first convolution that is not the stem, tuple outputs, padding, token bodies, non-persistent buffers).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class ZooEntry:
    arch: str
    params: dict[str, Any]
    stresses: str
    input_channels: int = 3
    size: int = 32
    attach_kwargs: dict[str, Any] = field(default_factory=dict)
    refuses: dict[str, str] = field(default_factory=dict)  # fusion kind -> the error it must raise (a regex)

    def build(self) -> torch.nn.Module:
        from gpt4o_prior.archs.zoo import build_network

        torch.manual_seed(0)
        return build_network(self.arch, **self.params).eval()

    def example(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(1)
        return torch.rand(1, self.input_channels, self.size, self.size, generator=g)


ZOO: dict[str, ZooEntry] = {e.arch: e for e in (
    ZooEntry("NAFNet", dict(width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1]),
             "a U-Net with pooled channel attention ((B, C, 1, 1) maps that are not features); pads to 4", size=30),
    ZooEntry("KBNet_s", dict(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]),
             "kernel-basis attention in a NAFNet-style U-Net"),
    ZooEntry("M3SNet", dict(width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1]),
             "a multi-scale U-Net"),
    ZooEntry("RetinexFormer", dict(n_feat=8, stage=1, num_blocks=[1, 1, 1]),
             "its first convolution reads the image and its channel mean (4 channels), not the stem"),
    ZooEntry("Restormer", dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 1, 1, 1]),
             "spandrel-extra-arches' copy (which does not pad: 32 px)"),
    ZooEntry("FFTformer", dict(dim=8, num_blocks=[1, 1, 1], num_refinement_blocks=1),
             "frequency-domain attention (rfft2 inside the blocks)"),
    ZooEntry("MixDehazeNet", dict(embed_dims=[8, 16, 32, 16, 8], depths=[1, 1, 1, 1, 1]),
             "a dehazing network whose head outputs 4 channels (K and B of a haze model); reflect padding", size=64),
    ZooEntry("HVICIDNet", dict(), "low light in the HVI colour space (a fixed colour transform first)"),
    ZooEntry("DRUNet", dict(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=1),
             "the input is the image plus a noise-level map: 4 channels, the prior stays RGB", input_channels=4),
    ZooEntry("SwinIR", dict(upscale=1, img_size=32, window_size=4, embed_dim=12, depths=[1], num_heads=[2],
                            mlp_ratio=2, upsampler=""),
             "a (B, N, C) token body between convolutions; pads to the window", size=30),
    ZooEntry("Uformer", dict(img_size=32, embed_dim=8, depths=[1] * 9, num_heads=[1] * 9, win_size=4),
             "a U-Net of (B, N, C) token stages; window partitions inside"),
    ZooEntry("DnCNN", dict(in_nc=3, out_nc=3, nc=8, nb=3), "a plain residual denoiser (nn.Sequential)"),
    ZooEntry("MPRNet", dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1),
             "returns a tuple of three images; stages share modules over image patches"),
    ZooEntry("MIRNet2", dict(n_feat=16, chan_factor=1.5, n_MRB=1), "multi-resolution blocks (spandrel-extra-arches)"),
    ZooEntry("RCAN", dict(scale=2, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4),
             "super-resolution (features at 2x), scales its input in place, pooled channel attention"),
    ZooEntry("OmniSR", dict(num_feat=16, block_num=1, window_size=4, res_num=1, up_scale=2),
             "super-resolution with non-persistent buffers"),
    ZooEntry("SPAN", dict(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2),
             "super-resolution; re-parameterisable convolutions (an eval-only fused copy of each)",
             refuses={"input_concat": "runs only in eval mode.*use a feature-level fusion"}),
    ZooEntry("Compact", dict(num_feat=8, num_conv=2, upscale=2), "a plain nn.Sequential super-resolution body"),
)}


def flat_outputs(out: Any) -> list[torch.Tensor]:
    """The floating tensors of a host output (a tensor, or tuples, lists and dicts of them), in order."""
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() else []
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat_outputs(o)]
    return []


def snapshot(module: torch.nn.Module) -> dict[str, str]:
    """Every parameter and buffer (persistent or not) of ``module`` by name, as dtype, shape and a hash of its
    bytes, plus the number of forward hooks of each submodule: equal snapshots are the same module state."""
    out = {}
    for kind, items in (("param", module.named_parameters()), ("buffer", module.named_buffers())):
        for name, t in items:
            data = t.detach().cpu().contiguous().reshape(-1)
            digest = hashlib.sha256(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"").hexdigest()
            out[f"{kind}:{name}"] = f"{data.dtype}{tuple(t.shape)}:{digest}"
    for name, m in module.named_modules():
        if m._forward_hooks or m._forward_pre_hooks:
            out[f"hooks:{name}"] = f"{len(m._forward_hooks)}/{len(m._forward_pre_hooks)}"
    return out
