"""Apply a trained network to a folder of degraded images: priors from the cache, tiled inference, PNG outputs.

The network is any callable on (1, C, H, W) float tensors in [0, 1]: ``net(x)`` for a network without a prior,
``net(x, prior=p, confidence=c)`` for one with a prior branch (:func:`gpt4o_prior.attach_prior`). The adapters turn
their own files into such a network: ``gpt4o-prior restore --opt OPTION_FILE --checkpoint NET_G.pth`` is the
BasicSR adapter's (:mod:`basicsr_plugins.restore`), which builds the network as training did and calls
:func:`restore_folder` here.

Each input's prior is found in the cache by the input file's content hash. Inputs without one get it from the
set's provider when it runs locally (``classical``; ``simulated`` with ``targets=``, the clean images); for remote
providers (``openai-images``, batches, released outputs) the run stops before any image is restored, listing the
inputs and the command that fills the cache.

Images larger than ``tile`` are cut into overlapping tiles (the prior at the same places), each tile restored on
its own and the tiles blended with linear ramps across the overlaps (:func:`tiled_forward`).

Importing this module imports no training framework and not the OpenAI SDK.

Example:
    >>> import torch
    >>> net = lambda x, prior=None: x * 2
    >>> x = torch.rand(1, 3, 40, 50)
    >>> bool(torch.allclose(tiled_forward(net, x, tile=16, overlap=4), x * 2))
    True
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .cache.errors import PriorMissingError
from .data.io import IMAGE_SUFFIXES, as_rgb_uint8
from .data.io import list_images as list_inputs

if TYPE_CHECKING:  # annotations only: torch is imported where it is used
    import torch

__all__ = ["IMAGE_SUFFIXES", "MissingPriorsError", "RestoreResult", "list_inputs", "tile_starts", "blend_window",
           "tiled_forward", "is_prior_net", "restore_image", "offline_provider_for_set", "ensure_priors",
           "restore_folder"]

"""File suffixes (lower case) treated as input images."""

MissingPriorsError = PriorMissingError
"""The error for inputs without a prior (:class:`gpt4o_prior.cache.PriorMissingError`, the one every loader raises;
this name is kept for callers of ``restore``)."""


@dataclass
class RestoreResult:
    """What :func:`restore_folder` did.

    Attributes:
        outputs: output PNG paths, in input order.
        out_dir: the output folder.
        filled: how many missing priors the set's offline provider made first.
        seconds: wall time of the restoring loop.
        tiles: inputs restored in tiles (larger than ``tile``).
    """

    outputs: list[Path]
    out_dir: Path
    filled: int = 0
    seconds: float = 0.0
    tiles: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- tiled inference
def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``size``, neighbours overlapping by at least ``overlap``.

    Example:
        >>> tile_starts(100, 40, 10)
        [0, 30, 60]
        >>> tile_starts(30, 40, 10)
        [0]
    """
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need tile > 0 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return starts


def blend_window(length: int, *, ramp_start: int, ramp_end: int, dtype=None) -> torch.Tensor:
    """A 1-D weight: 1 in the middle, rising linearly over ``ramp_start`` samples and falling over ``ramp_end``.

    Weights stay strictly positive, so every pixel covered by a tile has a non-zero total weight.

    Example:
        >>> blend_window(6, ramp_start=2, ramp_end=0).tolist()
        [0.3333333432674408, 0.6666666865348816, 1.0, 1.0, 1.0, 1.0]
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    w = torch.ones(length, dtype=dtype)
    if ramp_start > 0:
        w[:ramp_start] = torch.arange(1, ramp_start + 1, dtype=dtype) / (ramp_start + 1)
    if ramp_end > 0:
        w[length - ramp_end:] = torch.minimum(
            w[length - ramp_end:], torch.arange(ramp_end, 0, -1, dtype=dtype) / (ramp_end + 1))
    return w


def tiled_forward(fn: Callable[..., torch.Tensor], x: torch.Tensor, *, prior: torch.Tensor | None = None,
                  tile: int = 256, overlap: int = 32, confidence: torch.Tensor | None = None) -> torch.Tensor:
    """Run ``fn`` over overlapping tiles of ``x`` (and ``prior``, cut at the same places) and blend the results.

    An image no larger than ``tile`` in both directions is passed whole, so the result is then exactly ``fn``'s.
    Overlaps are blended with linear ramps, which hides seams; a network whose receptive field is larger than the
    overlap can still differ slightly from a whole-image run near tile borders.

    Args:
        fn: called as ``fn(x_tile, prior=prior_tile)`` (or ``fn(x_tile)`` when ``prior`` is None; with
            ``confidence``, ``fn(x_tile, prior=prior_tile, confidence=confidence_tile)``); returns a tensor with the
            tile's size times an integer scale (1 for restoration).
        x: the input batch.
        prior: the aligned prior, same height and width as ``x``, or None.
        tile: tile size in input pixels.
        overlap: overlap between neighbouring tiles in input pixels (< ``tile``).
        confidence: the prior's per-pixel confidence, cut like the prior, or None (only with ``prior``).

    Returns:
        ``fn``'s output for the whole image.

    Shape:
        - x: ``(B, C, H, W)``; prior: ``(B, C', H, W)``; confidence: ``(B, 1, H, W)``.
        - output: ``(B, C_out, s H, s W)`` for the scale ``s`` ``fn`` applies.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 3, 20, 20)
        >>> tiled_forward(lambda t, prior: t + prior, x, prior=torch.ones_like(x), tile=8, overlap=2).shape
        torch.Size([1, 3, 20, 20])
    """
    from .checks import check_shape

    check_shape(x, ["B", "C", "H", "W"], "x")
    b, _, h, w = x.shape
    if prior is not None:
        check_shape(prior, [b, "C", h, w], "prior")
    if confidence is not None:
        if prior is None:
            raise ValueError("tiled_forward: confidence needs a prior")
        check_shape(confidence, [b, 1, h, w], "confidence")

    def call(xt, pt, ct=None):
        if pt is None:
            return fn(xt)
        return fn(xt, prior=pt) if ct is None else fn(xt, prior=pt, confidence=ct)

    if h <= tile and w <= tile:
        return call(x, prior, confidence)
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    out = weight = None
    scale = None
    for i, y0 in enumerate(ys):
        th = min(tile, h)
        for j, x0 in enumerate(xs):
            tw = min(tile, w)
            xt = x[..., y0:y0 + th, x0:x0 + tw]
            pt = None if prior is None else prior[..., y0:y0 + th, x0:x0 + tw]
            ct = None if confidence is None else confidence[..., y0:y0 + th, x0:x0 + tw]
            yt = call(xt, pt, ct)
            if scale is None:
                scale = yt.shape[-1] // tw
                if scale < 1 or yt.shape[-2] != th * scale or yt.shape[-1] != tw * scale:
                    raise ValueError(f"tiled_forward: fn returned {tuple(yt.shape)} for a {th}x{tw} tile; it must "
                                     "return the tile's size times an integer scale")
                out = yt.new_zeros(b, yt.shape[1], h * scale, w * scale)
                weight = yt.new_zeros(1, 1, h * scale, w * scale)
            # ramps only where a neighbour overlaps this tile, as long as the actual overlap
            top = (ys[i - 1] + th - y0) * scale if i > 0 else 0
            bottom = (y0 + th - ys[i + 1]) * scale if i + 1 < len(ys) else 0
            left = (xs[j - 1] + tw - x0) * scale if j > 0 else 0
            right = (x0 + tw - xs[j + 1]) * scale if j + 1 < len(xs) else 0
            wy = blend_window(th * scale, ramp_start=top, ramp_end=bottom, dtype=yt.dtype).to(yt.device)
            wx = blend_window(tw * scale, ramp_start=left, ramp_end=right, dtype=yt.dtype).to(yt.device)
            win = (wy[:, None] * wx[None, :])[None, None]
            ys0, xs0 = y0 * scale, x0 * scale
            out[..., ys0:ys0 + th * scale, xs0:xs0 + tw * scale] += yt * win
            weight[..., ys0:ys0 + th * scale, xs0:xs0 + tw * scale] += win
    return out / weight


# ---------------------------------------------------------------------------------------------- the network
def is_prior_net(net: Any) -> bool:
    """Whether ``net`` is a network with a prior branch (what :func:`gpt4o_prior.attach_prior` returns).

    Example:
        >>> import torch
        >>> is_prior_net(torch.nn.Identity())
        False
    """
    return hasattr(net, "host") and hasattr(net, "load_host_state_dict")


def _to_tensor(img: np.ndarray, device) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1)[None].div_(255.0).to(device)


def restore_image(net: torch.nn.Module, image: np.ndarray, *, prior: np.ndarray | None = None, tile: int = 256,
                  overlap: int = 32, device: str | torch.device = "cpu",
                  confidence: np.ndarray | None = None) -> np.ndarray:
    """Restore one RGB image (with its aligned prior for a prior network), as BasicSR's validation does.

    Values go in as float in [0, 1] and come out clamped and rounded to 8 bits (BasicSR's ``tensor2img``).

    Args:
        net: any ``net(x)`` / ``net(x, prior=p)`` module (e.g. :func:`basicsr_plugins.restore.build_network`).
        image: (H, W, 3) uint8 RGB.
        prior: (H, W, 3) uint8 RGB, or None for a network without a prior branch.
        tile, overlap: tiled inference for images larger than ``tile``.
        device: where to run.
        confidence: (H, W) float in [0, 1], the prior's confidence from the cache, passed to the network as
            ``confidence=`` (B, 1, H, W); None: the network is called without it (the prior trusted everywhere).

    Returns:
        (H', W', 3) uint8 RGB.

    Example:
        >>> img = np.full((8, 8, 3), 100, np.uint8)
        >>> import torch
        >>> restore_image(torch.nn.Identity(), img)[0, 0].tolist()
        [100, 100, 100]
    """
    import torch

    image = as_rgb_uint8(image, "image")
    x = _to_tensor(image, device)
    p = None
    if prior is not None:
        if prior.shape != image.shape or prior.dtype != np.uint8:
            raise ValueError(f"prior must be uint8 with the image's shape {image.shape}, got {prior.shape} "
                             f"{prior.dtype}: store aligned priors in the cache (`gpt4o-prior align`)")
        p = _to_tensor(prior, device)
    c = None
    if confidence is not None:
        confidence = np.asarray(confidence, dtype=np.float32)
        if prior is None or confidence.shape != image.shape[:2]:
            raise ValueError(f"confidence must be an (H, W) map beside a prior, with the image's size "
                             f"{image.shape[:2]}, got {confidence.shape}")
        c = torch.from_numpy(np.ascontiguousarray(confidence))[None, None].to(device)
    with torch.no_grad():
        y = tiled_forward(net, x, prior=p, tile=tile, overlap=overlap, confidence=c)
    y = y[0].clamp_(0, 1).mul_(255.0).round_().byte().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(y)


# ---------------------------------------------------------------------------------------------- priors
def offline_provider_for_set(pset: Any):
    """The local provider that made a set's priors, rebuilt from its record, or None for a remote provider.

    Args:
        pset: a ``gpt4o_prior.cache.PriorSet``.

    Returns:
        a ``ClassicalProvider`` / ``SimulatedProvider`` with the set's settings, or None (``openai-images``,
        ``openai-batch``, ``released``, ...).

    Example:
        >>> from gpt4o_prior.cache import PriorSet
        >>> from gpt4o_prior.providers.classical import ClassicalProvider
        >>> s = PriorSet(name="c", **ClassicalProvider(task="derain").set_fields())
        >>> offline_provider_for_set(s).task
        'derain'
        >>> offline_provider_for_set(PriorSet(name="g", provider="openai-images")) is None
        True
    """
    params = dict(pset.params or {})
    if pset.provider == "classical":
        from .providers.classical import ClassicalProvider

        provider = ClassicalProvider(task=params.get("task", "dehaze"), **dict(params.get("settings") or {}))
    elif pset.provider == "simulated":
        from .providers.simulated import SimulatedProvider

        kwargs = {k: v for k, v in params.items() if k not in ("version", "register")}
        if params.get("register"):  # "align_prior(affine)" or "align_prior(affine)+dense(vN)"
            kwargs.update(register=True, dense="+dense" in str(params["register"]))
        provider = SimulatedProvider(**kwargs)
    else:
        return None
    if provider.params() != params:
        raise ValueError(f"prior set {pset.name!r} was made by {pset.provider} with settings {params}, which this "
                         f"version cannot reproduce ({provider.params()}); make the missing priors with the version "
                         "that made the set, or fill a new set")
    return provider


def ensure_priors(inputs: Sequence[str | os.PathLike], *, cache: Any, set_name: str,
                  targets: str | os.PathLike | None = None, progress: bool = False) -> int:
    """Make sure every input has a prior in ``set_name``: fill the missing ones with the set's offline provider.

    Args:
        inputs: input image files.
        cache: a ``gpt4o_prior.cache.PriorCache``.
        set_name: the prior set.
        targets: folder of clean images with the inputs' file names, for ``simulated`` sets only.
        progress: progress bar while filling.

    Returns:
        how many priors were made.

    Raises:
        KeyError: the set is not in the cache.
        MissingPriorsError: inputs lack a prior and the provider cannot run here (remote provider, or simulated
            without ``targets``); the message lists them and the command that fills the cache.
    """
    from .cache.missing import SHOW_MISSING, missing_priors, missing_priors_error

    pset = cache.get_set(set_name)
    missing = [Path(p) for p in missing_priors(cache, set_name, inputs)]
    if not missing:
        return 0
    provider = offline_provider_for_set(pset)
    if provider is None:
        raise missing_priors_error(missing, total=len(inputs), set_name=set_name, cache=cache,
                                   advice=f"then run restore again (set {set_name!r} comes from the "
                                          f"{pset.provider!r} provider, which restore does not call).")
    target_fn = None
    if pset.provider == "simulated":
        if targets is None:
            raise missing_priors_error(
                missing, total=len(inputs), set_name=set_name, cache=cache,
                advice=f"set {set_name!r} holds simulated priors, made from the clean images: or pass --targets "
                       "<folder of clean images> (same file names) to restore and they are made first, or restore "
                       "with another set.")
        tdir = Path(targets)

        def target_fn(path: Path) -> Path:
            for cand in [tdir / path.name, *sorted(tdir.glob(path.stem + ".*"))]:
                if cand.is_file():
                    return cand
            raise FileNotFoundError(f"no clean target for {path.name} in {tdir}")

    from .providers.base import fill_cache

    out = fill_cache(missing, cache=cache, set_name=set_name, provider=provider, targets=target_fn,
                     progress=progress)
    if out["failed"]:
        failed = "\n  ".join(f"{k}: {v}" for k, v in sorted(out["failed"].items())[:SHOW_MISSING])
        still = [str(m) for m in missing if m.name in out["failed"]]
        raise PriorMissingError(
            set_name, still[0] if still else "", missing=still, cache_root=str(cache.root),
            message=f"{len(missing)} of {len(inputs)} inputs had no prior of set {set_name!r} in the cache "
                    f"{cache.root}, and the {pset.provider} provider failed on {len(out['failed'])}:\n  {failed}")
    return int(out["done"])


def restore_folder(input_dir: str | os.PathLike, *, net: Callable[..., Any], out_dir: str | os.PathLike,
                   cache: str | os.PathLike | None = None, set_name: str | None = None, confidence: bool = True,
                   tile: int = 256, tile_overlap: int = 32, targets: str | os.PathLike | None = None,
                   device: str = "cpu", progress: bool = True, no_prior: bool = False,
                   uses_prior: bool | None = None) -> RestoreResult:
    """Restore every image of ``input_dir`` with ``net`` and write ``out_dir/<stem>.png``.

    Args:
        input_dir: folder of degraded images.
        net: the network (see the module docstring), already on ``device`` and in eval mode.
        out_dir: output folder (created).
        cache: prior cache folder (needed when the network takes a prior).
        set_name: prior set (the same).
        confidence: pass each prior's confidence map (as training did unless it ran with ``confidence: false``).
        tile: tile size for images larger than it; tile_overlap: overlap of neighbouring tiles.
        targets: clean images, only to make missing ``simulated`` priors.
        device: where inputs go (``cpu`` or ``cuda``).
        progress: progress bars.
        no_prior: run a prior network without priors (its host alone; no cache needed): the no-prior mode of a
            model trained with ``dropout_mode: pair`` / ``dropout_fill: none``.
        uses_prior: whether ``net`` takes a prior; default: :func:`is_prior_net`.

    Returns:
        :class:`RestoreResult`.

    Raises:
        MissingPriorsError: inputs without a prior that the set's provider cannot make here (nothing is written).
        ValueError: a prior network without ``cache`` / ``set_name``.

    Example:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from gpt4o_prior.data.io import write_png
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = write_png(root / "in" / "a.png", np.full((8, 8, 3), 50, np.uint8))
        >>> res = restore_folder(root / "in", net=lambda x: x * 2, out_dir=root / "out", progress=False)
        >>> [p.name for p in res.outputs]
        ['a.png']
    """
    from .cache import PriorCache

    inputs = list_inputs(input_dir)
    takes_prior = is_prior_net(net) if uses_prior is None else bool(uses_prior)
    pcache = None
    filled = 0
    if takes_prior and not no_prior:
        if not cache or not set_name:
            raise ValueError("this network has a prior branch: give the prior cache and set (cache=, set_name=)")
        pcache = PriorCache(cache)
        filled = ensure_priors(inputs, cache=pcache, set_name=set_name, targets=targets, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from .data.io import read_rgb, write_png

    it: Any = inputs
    if progress:
        from tqdm import tqdm

        it = tqdm(inputs, unit="img", desc=f"restore -> {out}", file=sys.stderr)
    result = RestoreResult(outputs=[], out_dir=out, filled=filled)
    t0 = time.perf_counter()
    for path in it:
        image = read_rgb(path)
        prior = conf = None
        if pcache is not None and confidence:
            prior, conf = pcache.load_prior(set_name, path, with_confidence=True)
        elif pcache is not None:
            prior = pcache.load_prior(set_name, path)
        if max(image.shape[:2]) > tile:
            result.tiles.append(path.name)
        restored = restore_image(net, image, prior=prior, tile=tile, overlap=tile_overlap, device=device,
                                 confidence=conf)
        result.outputs.append(write_png(out / f"{path.stem}.png", restored))
    result.seconds = time.perf_counter() - t0
    return result
