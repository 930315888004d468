"""Where a prior branch can attach: a dry run of the host that records every module's output, and the points
chosen from it (one per resolution, the outermost feature-producing module that finishes last there).

The dry run's input comes from what the host declares, not from its first convolution (which may read something
other than the image, such as an illumination estimator's image-plus-mean): ``input_channels`` when the caller
gives it, else an attribute of the host that names its input channels (:data:`INPUT_CHANNEL_ATTRIBUTES`), else
the prior's channel count (3) tried first and the first convolution's only if the host refuses that.

Features are tensors of the input's batch on the input's grid at some stride ``s`` (a power of two; maps the host
padded to a multiple count): (B, C, H, W) maps, channels-last (B, H, W, C) maps, or (B, N, C) token sequences
whose N is such a grid (``ceil(H / s) * ceil(W / s)``, row-major, as Swin-style bodies flatten their maps). A
point on a channels-last or token module is fused as a (B, C, H, W) map and handed back in its own layout.
Pooled maps (B, C, 1, 1) and window partitions (a batch of windows) are not features.

:func:`gpt4o_prior.attach_prior` uses these; :func:`auto_attach_points` says in advance what it would choose.

Example:
    >>> host = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    >>> x, calls, out = find_example(host)
    >>> tuple(x.shape), [(c.path, c.shape) for c in calls][:1], first_conv(calls, 3)
    ((1, 3, 64, 64), [('0', (1, 8, 64, 64))], '0')
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import nn

__all__ = ["AttachPoint", "ModuleCall", "INPUT_CHANNEL_ATTRIBUTES", "declared_input_channels", "default_example",
           "find_example", "dry_run", "points_from_calls", "auto_attach_points", "first_conv", "check_paths",
           "output_channels", "token_grid", "grid_stride", "call_counts"]

# Attributes under which hosts of this field record their input channels (timm / Swin, KAIR, Restormer, NAFNet,
# BasicSR, RCAN, Uformer, and plain ``in_channels``), in the order they are looked up.
INPUT_CHANNEL_ATTRIBUTES = ("in_chans", "in_nc", "inp_channels", "img_channel", "num_in_ch", "in_channels",
                            "input_channels", "n_colors", "in_ch", "dd_in")
EXAMPLE_SIZE = 64
STRIDES = (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class AttachPoint:
    """Where a fusion block sits: module path, its output channels, its stride relative to the input (from the dry
    run), the encoder level it reads (``0`` for the input-level adapter, which reads the prior image), and the
    layout of its output: ``"BCHW"`` or channels-last ``"BHWC"`` maps, or ``"BNC"`` tokens on the input's grid at
    that stride."""

    path: str
    channels: int
    stride: float
    level: int
    layout: str = "BCHW"


@dataclass
class ModuleCall:
    """One module's run in a :func:`dry_run`: its path, the module, its output shape as (B, C, H, W) when it is a
    floating feature map or a token sequence on the input's grid (``layout`` says which), the channels of its
    first positional input when that is 4-D, and whether it is a leaf."""

    path: str
    module: nn.Module
    shape: tuple[int, ...] | None  # (B, C, H, W) of a feature map, or of the grid of a token sequence
    in_channels: int | None  # channels of the first positional input when it is a 4D tensor
    leaf: bool
    layout: str | None = None  # "BCHW", "BHWC", "BNC" or None (not a feature)


def declared_input_channels(model: nn.Module) -> int | None:
    """The input channels ``model`` declares (the first of :data:`INPUT_CHANNEL_ATTRIBUTES` it holds as a
    positive int), or ``None``."""
    for name in INPUT_CHANNEL_ATTRIBUTES:
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def default_example(model: nn.Module, channels: int = 3, size: int = EXAMPLE_SIZE) -> torch.Tensor:
    """A (1, channels, size, size) ramp image on the host's device and dtype (a deterministic ramp, not random
    numbers: attaching must not move the caller's random stream)."""
    ref = next(iter(model.parameters()), None)
    if ref is None:
        ref = next(iter(model.buffers()), torch.zeros(()))
    dtype = ref.dtype if ref.is_floating_point() else torch.float32
    ramp = torch.linspace(0.0, 1.0, size * size, device=ref.device, dtype=dtype).view(1, 1, size, size)
    return ramp.expand(1, channels, size, size).contiguous()


def find_example(model: nn.Module, example_input: torch.Tensor | None = None, *, prior_channels: int = 3,
                 input_channels: int | None = None) -> tuple[torch.Tensor, list[ModuleCall], Any]:
    """The dry run's input, and the dry run on it: ``(x, calls, output)``.

    ``example_input`` when given; else a (1, C, 64, 64) ramp with C from ``input_channels``, the host's declared
    attribute (:func:`declared_input_channels`), or, failing both, ``prior_channels`` tried first and the first
    convolution's input channels if the host refuses that (then 128 px, for hosts with a minimum size).

    Raises:
        ValueError: the host ran on none of the examples; the message names what was tried, the host's error, and
            says to pass ``example_input``.
    """
    if example_input is not None:
        return (example_input, *dry_run(model, example_input))
    fixed = input_channels if input_channels is not None else declared_input_channels(model)
    if fixed is not None:
        channels = [int(fixed)]
    else:
        conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        channels = [prior_channels] + ([conv.in_channels] if conv is not None and
                                       conv.in_channels != prior_channels else [])
    errors = []
    for size in (EXAMPLE_SIZE, 2 * EXAMPLE_SIZE):
        for c in channels:
            x = default_example(model, c, size)
            try:
                return (x, *dry_run(model, x))
            except Exception as err:  # the host's own error: try the next candidate, report them all
                errors.append(f"(1, {c}, {size}, {size}): {type(err).__name__}: {str(err).splitlines()[0][:200]}")
    tried = "; ".join(errors)
    raise ValueError(
        f"attach_prior could not run {type(model).__name__} on an example input (tried {tried}). Pass "
        "example_input=torch.rand(1, C, H, W) shaped as the host's input (or input_channels=C)"
    )


def token_grid(n: int, input_size: tuple[int, int], stride: float) -> tuple[int, int] | None:
    """The (h, w) grid of ``n`` tokens at ``stride`` of an input of ``input_size``: ``ceil(H / s) x ceil(W / s)``,
    or the one grid padded at the bottom / right by less than its own size whose area is ``n`` (hosts that pad to
    a window multiple); ``None`` when there is none or more than one."""
    th, tw = math.ceil(input_size[0] / stride), math.ceil(input_size[1] / stride)
    if th * tw == n:
        return th, tw
    found = [(h, n // h) for h in range(th, 2 * th) if n % h == 0 and tw <= n // h < 2 * tw]
    return found[0] if len(found) == 1 else None


def grid_stride(h: int, w: int, input_size: tuple[int, int]) -> float | None:
    """The stride ``s`` (a power of two from 1/8 to 32) at which an (h, w) map is the grid of an input of
    ``input_size``: ``ceil(H / s) <= h < 2 ceil(H / s)``, the same ``s`` for ``w`` (the margin covers hosts that pad
    to a multiple); ``None`` when there is no such stride (a pooled (1, 1) map, a channels-last tensor seen as
    channels-first)."""
    for s in STRIDES:
        th, tw = math.ceil(input_size[0] / s), math.ceil(input_size[1] / s)
        if th <= h < 2 * th and tw <= w < 2 * tw:
            return s
    return None


def _feature(output: Any, x: torch.Tensor) -> tuple[tuple[int, ...] | None, str | None]:
    """(B, C, H, W) and the layout of a module output that is a feature of the input ``x``: a floating tensor of
    ``x``'s batch that is a (B, C, H, W) map on the input's grid at some stride (``"BCHW"``), a channels-last
    (B, H, W, C) one (``"BHWC"``), or a (B, N, C) token sequence whose N is such a grid (``"BNC"``)."""
    if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.shape[0] != x.shape[0]:
        return None, None
    size = tuple(x.shape[-2:])
    if output.dim() == 4:
        b, c, h, w = output.shape
        if grid_stride(h, w, size) is not None:
            return (b, c, h, w), "BCHW"
        if grid_stride(c, h, size) is not None:  # (B, H, W, C)
            return (b, w, c, h), "BHWC"
    if output.dim() == 3:
        for s in STRIDES:
            grid = (math.ceil(size[0] / s), math.ceil(size[1] / s))
            if grid[0] * grid[1] == output.shape[1]:
                return (output.shape[0], output.shape[2], *grid), "BNC"
    return None, None


def dry_run(model: nn.Module, x: torch.Tensor) -> tuple[list[ModuleCall], Any]:
    """Run ``model(x)`` once (eval mode, no grad), recording every submodule's output in the order they finish; the
    host's parameters, buffers and modes are as before afterwards."""
    calls: list[ModuleCall] = []
    handles = []

    def record(path):
        def hook(module, args, output):
            shape, layout = _feature(output, x)
            first = args[0] if args else None
            in_ch = first.shape[1] if isinstance(first, torch.Tensor) and first.dim() == 4 else None
            calls.append(ModuleCall(path, module, shape, in_ch, not any(True for _ in module.children()), layout))
        return hook

    for path, module in model.named_modules():
        if path:
            handles.append(module.register_forward_hook(record(path)))
    # the flag is set directly, not through train() / eval(): a host may override those with side effects (a
    # re-parameterisable convolution recomputes its fused weights on eval()), and a dry run must change nothing
    modes = {m: m.training for m in model.modules()}
    try:
        for m in modes:
            m.training = False
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return calls, out


def call_counts(calls: list[ModuleCall]) -> dict[str, int]:
    """How many times each module path ran in the dry run."""
    counts: dict[str, int] = {}
    for c in calls:
        counts[c.path] = counts.get(c.path, 0) + 1
    return counts


def output_channels(out: Any) -> set[int]:
    """The channel counts of every 4-D tensor in a host's output (a tensor, or tuples, lists and dicts of them)."""
    if isinstance(out, torch.Tensor):
        return {out.shape[1]} if out.dim() == 4 else set()
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return set().union(*(output_channels(o) for o in out)) if out else set()
    return set()


def points_from_calls(calls: list[ModuleCall], out: Any) -> list[str]:
    """One point per resolution: the outermost feature-producing module that finishes last at that resolution
    (modules with the channels of an image the host outputs, at most 4, are heads, not features), whatever its
    layout.
    Modules that run more than once per forward (shared across patches, stages or iterations) are left out: one
    prior map does not fit each of their calls."""
    heads = {c for c in output_channels(out) if c <= 4}  # image heads (RGB, grey, RGBA, a haze model's K, B)
    runs = call_counts(calls)
    feats = [c for c in calls if c.shape is not None and c.shape[1] not in heads and runs[c.path] == 1]
    by_size: dict[tuple[int, int], list[ModuleCall]] = {}
    for c in feats:
        by_size.setdefault(c.shape[-2:], []).append(c)
    chosen = []
    for group in by_size.values():
        stages = [c for c in group if not c.leaf] or group
        chosen.append(stages[-1].path)
    order = {c.path: i for i, c in enumerate(calls)}  # last finishing call of each path
    return sorted(set(chosen), key=order.__getitem__)


def auto_attach_points(model: nn.Module, example_input: torch.Tensor | None = None, *,
                       input_channels: int | None = None) -> list[str]:
    """The module paths ``attach_prior(model, at="auto")`` uses.

    The host's own ``prior_attach_points`` (class or instance attribute) when it has one; otherwise a dry run on
    ``example_input`` (default: :func:`find_example`, a (1, C, 64, 64) ramp with C the host's declared input
    channels, or 3) and, for
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
    _, calls, out = find_example(model, example_input, input_channels=input_channels)
    points = points_from_calls(calls, out)
    if not points:
        raise ValueError(
            f"attach_prior could not find a layer of {type(model).__name__} that outputs (B, C, H, W) features; "
            "name the modules with at=[...]"
        )
    return points


def first_conv(calls: list[ModuleCall], in_channels: int) -> str:
    """The path of the first convolution that ran on the ``in_channels``-channel input (the input-level point).

    Trainable convolutions first: a frozen one (a fixed mean shift, the re-parameterised copy that a train-mode
    forward does not use) is taken only when there is no other."""
    convs = [c for c in calls if isinstance(c.module, nn.Conv2d) and c.in_channels == in_channels
             and c.module.in_channels == in_channels]
    for c in sorted(convs, key=lambda c: not c.module.weight.requires_grad):
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
