"""Where a prior branch can attach: a dry run of the host that records every module's output, and the points
chosen from it (one per resolution, the outermost feature-producing module that finishes last there).

:func:`gpt4o_prior.attach_prior` uses these; :func:`auto_attach_points` says in advance what it would choose.

Example:
    >>> host = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    >>> calls, out = dry_run(host, default_example(host))
    >>> [(c.path, c.shape) for c in calls][:1], first_conv(calls, 3)
    ([('0', (1, 8, 64, 64))], '0')
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import nn

__all__ = ["AttachPoint", "ModuleCall", "default_example", "dry_run", "points_from_calls", "auto_attach_points",
           "first_conv", "check_paths"]


@dataclass(frozen=True)
class AttachPoint:
    """Where a fusion block sits: module path, its output channels, its stride relative to the input (from the dry
    run), and the encoder level it reads (``0`` for the input-level adapter, which reads the prior image)."""

    path: str
    channels: int
    stride: float
    level: int



@dataclass
class ModuleCall:
    """One module's run in a :func:`dry_run`: its path, the module, its output shape when that is a floating
    (B, C, H, W) tensor, the channels of its first positional input when that is 4-D, and whether it is a leaf."""

    path: str
    module: nn.Module
    shape: tuple[int, ...] | None  # output shape when it is a floating (B, C, H, W) tensor
    in_channels: int | None  # channels of the first positional input when it is a 4D tensor
    leaf: bool


def default_example(model: nn.Module) -> torch.Tensor:
    """A (1, C, 64, 64) ramp image on the host's device and dtype, C the first convolution's input channels (3
    without one): the input of the dry run when the caller gives none."""
    ref = next(iter(model.parameters()), None)
    if ref is None:
        ref = next(iter(model.buffers()), torch.zeros(()))
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels = conv.in_channels if conv is not None else 3
    dtype = ref.dtype if ref.is_floating_point() else torch.float32
    # A deterministic ramp, not random numbers: attaching must not move the caller's random stream.
    ramp = torch.linspace(0.0, 1.0, 64 * 64, device=ref.device, dtype=dtype).view(1, 1, 64, 64)
    return ramp.expand(1, channels, 64, 64).contiguous()


def dry_run(model: nn.Module, x: torch.Tensor) -> tuple[list[ModuleCall], Any]:
    """Run ``model(x)`` once (eval mode, no grad), recording every submodule's output in the order they finish."""
    calls: list[ModuleCall] = []
    handles = []

    def record(path):
        def hook(module, args, output):
            shape = None
            if isinstance(output, torch.Tensor) and output.dim() == 4 and output.is_floating_point():
                shape = tuple(output.shape)
            first = args[0] if args else None
            in_ch = first.shape[1] if isinstance(first, torch.Tensor) and first.dim() == 4 else None
            calls.append(ModuleCall(path, module, shape, in_ch, not any(True for _ in module.children())))
        return hook

    for path, module in model.named_modules():
        if path:
            handles.append(module.register_forward_hook(record(path)))
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    return calls, out


def points_from_calls(calls: list[ModuleCall], out: Any) -> list[str]:
    """One point per resolution: the outermost feature-producing module that finishes last at that resolution."""
    out_channels = out.shape[1] if isinstance(out, torch.Tensor) and out.dim() == 4 else None
    feats = [c for c in calls if c.shape is not None and c.shape[1] != out_channels]
    by_size: dict[tuple[int, int], list[ModuleCall]] = {}
    for c in feats:
        by_size.setdefault(c.shape[-2:], []).append(c)
    chosen = []
    for group in by_size.values():
        stages = [c for c in group if not c.leaf] or group
        chosen.append(stages[-1].path)
    order = {c.path: i for i, c in enumerate(calls)}  # last finishing call of each path
    return sorted(set(chosen), key=order.__getitem__)


def auto_attach_points(model: nn.Module, example_input: torch.Tensor | None = None) -> list[str]:
    """The module paths ``attach_prior(model, at="auto")`` uses.

    The host's own ``prior_attach_points`` (class or instance attribute) when it has one; otherwise a dry run on
    ``example_input`` (default: a (1, C, 64, 64) ramp image, C the first convolution's input channels) and, for
    each output resolution, the outermost module producing (B, C, H, W) features that finishes last at that
    resolution (the image head excluded). For a U-Net that is the decoder stage of each level and the middle;
    for a single-resolution network, its body. The result depends only on the host's structure and the example
    size, so it is reproducible.

    Example:
        >>> host = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Sequential(nn.Conv2d(8, 8, 3, padding=1),
        ...                      nn.ReLU()), nn.Conv2d(8, 3, 3, padding=1))
        >>> auto_attach_points(host)
        ['1']
    """
    declared = getattr(model, "prior_attach_points", None)
    if declared:
        return list(declared)
    x = example_input if example_input is not None else default_example(model)
    calls, out = dry_run(model, x)
    points = points_from_calls(calls, out)
    if not points:
        raise ValueError(
            f"attach_prior could not find a layer of {type(model).__name__} that outputs (B, C, H, W) features; "
            "name the modules with at=[...]"
        )
    return points


def first_conv(calls: list[ModuleCall], in_channels: int) -> str:
    """The path of the first convolution that ran on the ``in_channels``-channel input (the input-level point)."""
    for c in calls:
        if isinstance(c.module, nn.Conv2d) and c.in_channels == in_channels == c.module.in_channels:
            return c.path
    raise ValueError(
        f"attach_prior(fusion='input_concat') found no nn.Conv2d taking the {in_channels}-channel input; "
        "name the host's first convolution with at=['...']"
    )


def check_paths(model: nn.Module, paths: Iterable[str]) -> list[str]:
    """``paths`` without repeats, each checked to be a module of ``model`` (a KeyError names near misses)."""
    names = dict(model.named_modules())
    out = []
    for path in paths:
        if not isinstance(path, str) or not path:
            raise ValueError(f"attach points must be non-empty module paths, got {path!r}")
        if path not in names:
            close = difflib.get_close_matches(path, [n for n in names if n], n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"{type(model).__name__} has no module {path!r}{hint}")
        if path not in out:
            out.append(path)
    return out
