"""Training-time augmentation for (input, ground truth, prior) triplets, framework-agnostic.

Two kinds of operation live here:

* **Geometric, shared**: the random crop and the flip / 90-degree rotation applied *identically* to ``lq``, ``gt``
  and ``prior`` (:func:`paired_random_crop`, :func:`sample_flip_rot`, :func:`apply_flip_rot`). The prior is
  aligned to the input, so it must move with the input.
* **Prior only**: small random warps of the prior (:func:`random_warp`, a random affine of a few pixels and a
  degree or so) and prior dropout (:func:`prior_dropout`, the prior replaced by the input or zeros, or removed), so a
  network neither trusts the prior's geometry blindly nor breaks when a prior is missing. :func:`augment_prior`
  applies both with the documented default rates; :func:`paired_augment` does the whole recipe.

**Confidence.** The cache stores beside each aligned prior a per-pixel confidence (``(H, W)`` float32 in [0, 1],
of the prior's size) of where the prior can be trusted. Every function here that moves the prior also takes an
optional ``confidence=`` and moves it exactly like the prior: the same crop box, the same flip / rotation, the same
affine warp (where a warped pixel samples outside the frame the prior is invented by the border fill, so its
confidence falls to 0: :func:`warp_confidence`). A dropped prior carries nothing of the generative model, so its
confidence is 0 whatever the fill (the cache's ``fallback="input"`` / ``"zeros"`` give confidence 0 too, so a
dropped training sample looks like a test-time fallback); with fill ``none`` :func:`prior_dropout` returns no
confidence either. A function returning one image returns ``(prior, confidence)`` when ``confidence`` is given, a
function returning a tuple gains a trailing ``confidence`` (as BasicSR's ``augment`` returns ``flows`` when given
them); :class:`PriorViews` has ``confidence`` fields. Without ``confidence`` every result is as it always was, and
the confidence never draws random numbers: the random stream is the same with and without it.

Images are NumPy arrays laid out ``(H, W)`` or ``(H, W, C)`` (uint8 or float), as data pipelines hold them.
:func:`apply_flip_rot` and :func:`undo_flip_rot` also take torch tensors laid out ``(..., H, W)``, for
test-time flip / rotation ensembles.

Randomness: every random function takes ``rng``: ``None`` (NumPy's global state, which BasicSR and MMEngine seed
per process and per DataLoader worker), a :class:`numpy.random.Generator`, a :class:`numpy.random.RandomState`,
a :class:`random.Random` or the :mod:`random` module itself.

Default rates (used by the BasicSR and MMagic adapters unless an option file says otherwise):
:data:`PRIOR_DROPOUT` = 0.1, :data:`WARP_PROB` = 0.5, :data:`MAX_SHIFT` = 2.0 px, :data:`MAX_ROTATION` = 1.0 degree,
:data:`MAX_SCALE` = 0.02 (2 % zoom).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np

__all__ = [
    "PRIOR_DROPOUT", "WARP_PROB", "MAX_SHIFT", "MAX_ROTATION", "MAX_SCALE", "DROPOUT_FILLS", "DROPOUT_MODES",
    "default_dropout_fill",
    "FlipRot", "ALL_FLIP_ROTS", "sample_flip_rot", "apply_flip_rot", "undo_flip_rot",
    "random_crop_box", "paired_random_crop",
    "random_affine", "warp_affine", "warp_confidence", "random_warp", "prior_dropout", "augment_prior", "PriorViews",
    "prior_training_views", "paired_augment",
]

PRIOR_DROPOUT = 0.1
"""Default probability that a training sample's prior is dropped (replaced by the ``fill``)."""
WARP_PROB = 0.5
"""Default probability that a training sample's prior is warped by a small random affine."""
MAX_SHIFT = 2.0
"""Default largest random translation of the prior, in pixels, along each axis."""
MAX_ROTATION = 1.0
"""Default largest random rotation of the prior, in degrees."""
MAX_SCALE = 0.02
"""Default largest random relative zoom of the prior (0.02 = between 98 % and 102 %)."""
DROPOUT_FILLS = ("input", "zeros", "mean", "none")
"""What a dropped prior becomes: the input itself, zeros, the prior's mean colour, or ``none``: no prior at all,
the branch switched off for that sample (``PriorNet(..., prior_keep=0)``), which is how a model runs without one."""
DROPOUT_MODES = ("sample", "pair")
"""How dropout is applied in training: ``sample`` drops each sample's prior with probability ``dropout``;
``pair`` trains every sample twice per step, once with its prior and once dropped (the batch doubles)."""


def default_dropout_fill(mode: str) -> str:
    """The fill a dropout mode uses unless told otherwise: ``input`` for ``sample``, ``none`` for ``pair``.

    ``pair`` exists to make a model that also runs without priors, and ``none`` trains exactly that (the measured
    choice: see benchmarks/RESULTS.md, "Prior dropout").

    Example:
        >>> default_dropout_fill("sample"), default_dropout_fill("pair")
        ('input', 'none')
    """
    if mode not in DROPOUT_MODES:
        raise ValueError(f"dropout mode must be one of {DROPOUT_MODES}, got {mode!r}")
    return "none" if mode == "pair" else "input"


# --------------------------------------------------------------------------------------------- randomness
def _uniform(rng: Any, low: float, high: float) -> float:
    if rng is None:
        return float(np.random.uniform(low, high))
    return float(rng.uniform(low, high))


def _chance(rng: Any, p: float) -> bool:
    """True with probability ``p`` (draws one number even when p is 0 or 1, to keep streams stable)."""
    u = np.random.random() if rng is None else rng.random()  # all supported sources have .random()
    return float(u) < p


def _randint(rng: Any, low: int, high: int) -> int:
    """An integer in [low, high], both ends included."""
    if rng is None:
        return int(np.random.randint(low, high + 1))
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(low, high + 1))
    if isinstance(rng, np.random.RandomState):
        return int(rng.randint(low, high + 1))
    return int(rng.randint(low, high))  # random.Random / random module: inclusive


def _hw(img: Any, name: str) -> tuple[int, int]:
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"{name} must be a NumPy array laid out (H, W) or (H, W, C), got shape {img.shape}")
        return int(img.shape[0]), int(img.shape[1])
    raise TypeError(f"{name} must be a NumPy array laid out (H, W) or (H, W, C), got {type(img).__name__}")


def _check_confidence(confidence: Any, prior: Any, name: str = "confidence") -> np.ndarray:
    """``confidence`` checked against its prior: a float NumPy array (H, W) or (H, W, 1) of the prior's H and W."""
    if prior is None:
        raise ValueError(f"{name} was given without a prior: a confidence belongs to a prior image")
    if not isinstance(confidence, np.ndarray) or confidence.dtype.kind != "f":
        got = f"dtype {confidence.dtype}" if isinstance(confidence, np.ndarray) else type(confidence).__name__
        raise ValueError(f"{name} must be a float NumPy array (H, W) in [0, 1] (as PriorCache.load_prior(..., "
                         f"with_confidence=True) gives), got {got}")
    if confidence.ndim not in (2, 3) or (confidence.ndim == 3 and confidence.shape[2] != 1):
        raise ValueError(f"{name} must be laid out (H, W) or (H, W, 1), got shape {confidence.shape}")
    if confidence.shape[:2] != prior.shape[:2]:
        raise ValueError(f"{name} {confidence.shape[:2]} must have its prior's size {prior.shape[:2]}")
    return confidence


# --------------------------------------------------------------------------------------------- flips, rotations
class FlipRot(NamedTuple):
    """One of the 8 flip / 90-degree-rotation combinations, in BasicSR's order: ``hflip`` (left-right), then
    ``vflip`` (up-down), then ``transpose`` (swap H and W; with a flip, a 90-degree rotation)."""

    hflip: bool = False
    vflip: bool = False
    transpose: bool = False


ALL_FLIP_ROTS: tuple[FlipRot, ...] = tuple(
    FlipRot(bool(h), bool(v), bool(t)) for t in (0, 1) for v in (0, 1) for h in (0, 1)
)
"""All 8 combinations, the identity first (for test-time ensembles)."""


def sample_flip_rot(*, hflip: bool = True, rotation: bool = True, rng: Any = None) -> FlipRot:
    """Draw a random flip / rotation, each part with probability 0.5.

    Args:
        hflip: allow the left-right flip.
        rotation: allow the up-down flip and the transpose (together: rotations by multiples of 90 degrees).
        rng: source of randomness (see the module docstring).

    Returns:
        The drawn :class:`FlipRot`. Three numbers are drawn whatever the switches, in the order hflip, vflip,
        transpose, as BasicSR's ``augment`` does.

    Example:
        >>> sample_flip_rot(hflip=False, rotation=False, rng=np.random.default_rng(0))
        FlipRot(hflip=False, vflip=False, transpose=False)
    """
    h = _chance(rng, 0.5)
    v = _chance(rng, 0.5)
    t = _chance(rng, 0.5)
    return FlipRot(hflip and h, rotation and v, rotation and t)


def _flip_rot_one(img: Any, op: FlipRot, inverse: bool) -> Any:
    steps = [("h", op.hflip), ("v", op.vflip), ("t", op.transpose)]
    if inverse:
        steps.reverse()
    is_np = isinstance(img, np.ndarray)
    if not is_np:
        import torch

        if not isinstance(img, torch.Tensor):
            raise TypeError(f"expected a NumPy array (H, W[, C]) or a torch tensor (..., H, W), got {type(img)}")
        if img.dim() < 2:
            raise ValueError(f"a tensor to flip must be laid out (..., H, W), got shape {tuple(img.shape)}")
    else:
        _hw(img, "image")
    for kind, on in steps:
        if not on:
            continue
        if is_np:
            if kind == "h":
                img = img[:, ::-1]
            elif kind == "v":
                img = img[::-1]
            else:
                img = img.swapaxes(0, 1)
        else:
            if kind == "h":
                img = img.flip(-1)
            elif kind == "v":
                img = img.flip(-2)
            else:
                img = img.transpose(-2, -1)
    return np.ascontiguousarray(img) if is_np else img.contiguous()


def apply_flip_rot(img: Any, op: FlipRot) -> Any:
    """Apply a flip / rotation to one image (a new array; the input is left unchanged).

    Args:
        img: NumPy array ``(H, W)`` / ``(H, W, C)``, or torch tensor ``(..., H, W)``.
        op: the :class:`FlipRot` to apply (the same one for ``lq``, ``gt`` and ``prior``).

    Returns:
        The transformed image, same type and dtype; H and W swapped when ``op.transpose``.

    Example:
        >>> a = np.arange(6).reshape(2, 3)
        >>> apply_flip_rot(a, FlipRot(hflip=True)).tolist()
        [[2, 1, 0], [5, 4, 3]]
        >>> apply_flip_rot(a, FlipRot(transpose=True)).shape
        (3, 2)
    """
    return _flip_rot_one(img, op, inverse=False)


def undo_flip_rot(img: Any, op: FlipRot) -> Any:
    """Invert :func:`apply_flip_rot` (for bringing ensemble outputs back).

    Example:
        >>> import torch
        >>> x = torch.arange(12.).reshape(1, 1, 3, 4)
        >>> op = FlipRot(True, True, True)
        >>> bool((undo_flip_rot(apply_flip_rot(x, op), op) == x).all())
        True
    """
    return _flip_rot_one(img, op, inverse=True)


# --------------------------------------------------------------------------------------------- crop
def random_crop_box(size: Sequence[int], patch: int | Sequence[int], *, rng: Any = None) -> tuple[int, int]:
    """Draw the top-left corner of a random ``patch`` inside an image of ``size``.

    Args:
        size: ``(H, W)`` of the image.
        patch: patch size, an int (square) or ``(h, w)``.
        rng: source of randomness; draws top, then left.

    Returns:
        ``(top, left)``.

    Raises:
        ValueError: the patch is larger than the image.

    Example:
        >>> random_crop_box((8, 8), 8)
        (0, 0)
    """
    ph, pw = (patch, patch) if isinstance(patch, int) else (int(patch[0]), int(patch[1]))
    h, w = int(size[0]), int(size[1])
    if ph > h or pw > w:
        raise ValueError(f"patch ({ph}, {pw}) is larger than the image ({h}, {w}): lower the patch size "
                         f"(gt_size / crop size) or remove this image")
    return _randint(rng, 0, h - ph), _randint(rng, 0, w - pw)


def paired_random_crop(lq: np.ndarray, gt: np.ndarray | None = None, prior: np.ndarray | None = None, *,
                       patch_size: int, scale: int = 1, rng: Any = None, name: str = "",
                       confidence: np.ndarray | None = None) -> tuple:
    """Crop the same region from ``lq``, ``gt`` and ``prior`` (and the prior's ``confidence``).

    ``patch_size`` is the ground-truth patch size (as BasicSR's ``gt_size``); the ``lq`` patch is
    ``patch_size // scale``. The prior is aligned to the input, so it has ``lq``'s size and is cropped like
    ``lq``; a prior of ``gt``'s size (when ``scale > 1``) is cropped like ``gt``.

    Args:
        lq: input image ``(H, W[, C])``.
        gt: ground truth ``(H * scale, W * scale[, C])`` or None.
        prior: prior image, ``lq``-sized (or ``gt``-sized), or None.
        patch_size: ground-truth patch size in pixels.
        scale: super-resolution factor between ``gt`` and ``lq`` (1 for restoration).
        rng: source of randomness (draws top, then left, like BasicSR).
        name: a file name to put in error messages.
        confidence: the prior's confidence ``(H, W)`` (or ``(H, W, 1)``) of the prior's size, or None; cropped
            with the prior's box. Draws nothing.

    Returns:
        ``(lq, gt, prior)`` patches (views into the inputs); None stays None. With ``confidence``:
        ``(lq, gt, prior, confidence)``.

    Shape:
        lq ``(H, W, C)`` -> ``(p / s, p / s, C)``; gt -> ``(p, p, C)``; prior like lq (or like gt); confidence
        like the prior.

    Example:
        >>> lq = np.zeros((16, 16, 3), np.float32); gt = np.zeros((32, 32, 3), np.float32)
        >>> a, b, c = paired_random_crop(lq, gt, lq.copy(), patch_size=16, scale=2, rng=np.random.default_rng(0))
        >>> a.shape, b.shape, c.shape
        ((8, 8, 3), (16, 16, 3), (8, 8, 3))
        >>> conf = np.ones((16, 16), np.float32)
        >>> paired_random_crop(lq, None, lq, patch_size=8, confidence=conf)[3].shape
        (8, 8)
    """
    where = f" ({name})" if name else ""
    h, w = _hw(lq, "lq")
    if patch_size % scale:
        raise ValueError(f"patch_size {patch_size} must be a multiple of scale {scale}")
    lp = patch_size // scale
    if gt is not None:
        gh, gw = _hw(gt, "gt")
        if (gh, gw) != (h * scale, w * scale):
            raise ValueError(f"gt {(gh, gw)} is not {scale}x lq {(h, w)}{where}")
    prior_like_gt = False
    if prior is not None:
        ph, pw = _hw(prior, "prior")
        if (ph, pw) == (h, w):
            prior_like_gt = False
        elif scale > 1 and (ph, pw) == (h * scale, w * scale):
            prior_like_gt = True
        else:
            raise ValueError(f"prior {(ph, pw)} must have the input's size {(h, w)}{where}: load priors aligned to "
                             f"the input (PriorCache.load_prior does)")
    if confidence is not None:
        _check_confidence(confidence, prior)
    top, left = random_crop_box((h, w), lp, rng=rng)
    lq = lq[top:top + lp, left:left + lp]
    tg, lg = top * scale, left * scale
    if gt is not None:
        gt = gt[tg:tg + patch_size, lg:lg + patch_size]
    if prior is not None:
        prior = (prior[tg:tg + patch_size, lg:lg + patch_size] if prior_like_gt
                 else prior[top:top + lp, left:left + lp])
    if confidence is None:
        return lq, gt, prior
    confidence = (confidence[tg:tg + patch_size, lg:lg + patch_size] if prior_like_gt
                  else confidence[top:top + lp, left:left + lp])
    return lq, gt, prior, confidence


# --------------------------------------------------------------------------------------------- warps
def random_affine(size: Sequence[int], *, max_shift: float = MAX_SHIFT, max_rotation: float = MAX_ROTATION,
                  max_scale: float = MAX_SCALE, rng: Any = None) -> np.ndarray:
    """Draw a small random affine transform about the image centre.

    Args:
        size: ``(H, W)`` of the image.
        max_shift: largest translation in pixels along each axis (uniform in ``[-max_shift, max_shift]``).
        max_rotation: largest rotation in degrees.
        max_scale: largest relative zoom (uniform in ``[1 - max_scale, 1 + max_scale]``).
        rng: source of randomness (draws rotation, zoom, shift x, shift y).

    Returns:
        A ``(2, 3)`` float64 matrix mapping output pixel coordinates ``(x, y, 1)`` to the source coordinates
        they are sampled from.

    Example:
        >>> random_affine((8, 8), max_shift=0, max_rotation=0, max_scale=0).round(6).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    h, w = int(size[0]), int(size[1])
    angle = math.radians(_uniform(rng, -max_rotation, max_rotation))
    zoom = 1.0 + _uniform(rng, -max_scale, max_scale)
    tx = _uniform(rng, -max_shift, max_shift)
    ty = _uniform(rng, -max_shift, max_shift)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    c, s = math.cos(angle) / zoom, math.sin(angle) / zoom
    # source = R/zoom * (out - centre) + centre + t
    return np.array([[c, -s, cx - c * cx + s * cy + tx],
                     [s, c, cy - s * cx - c * cy + ty]], dtype=np.float64)


def _source_coords(h: int, w: int, m: np.ndarray) -> tuple[Any, Any]:
    """The source pixel coordinates ``(sx, sy)`` (float64 tensors ``(h, w)``) the affine ``m`` samples."""
    import torch

    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    return m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]


def warp_affine(img: np.ndarray, matrix: np.ndarray, *, border: str = "repeat") -> np.ndarray:
    """Resample ``img`` through an affine map, bilinearly, repeating the border (or with zeros outside).

    Runs on the CPU through ``torch.nn.functional.grid_sample`` (a few milliseconds for a 256 x 256 patch).

    Args:
        img: image ``(H, W)`` or ``(H, W, C)``, uint8 or float.
        matrix: ``(2, 3)`` map from output pixel ``(x, y, 1)`` to source pixel coordinates
            (as :func:`random_affine` returns).
        border: ``"repeat"`` (samples outside the frame take the nearest edge pixel) or ``"zeros"`` (the image
            is zero outside its frame, blended bilinearly into the edge pixels).

    Returns:
        The warped image, same shape and dtype (uint8 results are rounded).

    Example:
        >>> a = np.arange(16, dtype=np.float32).reshape(4, 4)
        >>> shift = np.array([[1., 0., 1.], [0., 1., 0.]])  # sample one pixel to the right
        >>> warp_affine(a, shift)[0].tolist()
        [1.0, 2.0, 3.0, 3.0]
    """
    import torch
    import torch.nn.functional as F

    h, w = _hw(img, "img")
    if border not in ("repeat", "zeros"):
        raise ValueError(f"border must be 'repeat' or 'zeros', got {border!r}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must have shape (2, 3), got {m.shape}")
    src = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).reshape(h, w, -1).permute(2, 0, 1)[None]
    sx, sy = _source_coords(h, w, m)
    # grid_sample's normalised coordinates (align_corners=True: -1 and 1 are the centres of the edge pixels)
    gx = sx * (2.0 / (w - 1)) - 1.0 if w > 1 else torch.zeros_like(sx)
    gy = sy * (2.0 / (h - 1)) - 1.0 if h > 1 else torch.zeros_like(sy)
    grid = torch.stack([gx, gy], dim=-1)[None].to(torch.float32)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border" if border == "repeat" else "zeros",
                        align_corners=True)
    out = out[0].permute(1, 2, 0).reshape(img.shape).numpy()
    if img.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(img.dtype, copy=False)


def warp_confidence(confidence: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp a prior's confidence through the affine map its prior is warped by (:func:`warp_affine`).

    Inside the frame the confidence is resampled bilinearly, as the prior is. Where an output pixel samples
    outside the frame, the warped prior there is the border fill, invented rather than seen: its confidence is 0
    (one pixel or more outside; a pixel sampling less than one pixel outside blends towards 0).

    Args:
        confidence: ``(H, W)`` or ``(H, W, 1)`` float map in [0, 1].
        matrix: the ``(2, 3)`` map the prior is warped with.

    Returns:
        The warped confidence, same shape and dtype, in [0, 1].

    Example:
        >>> conf = np.ones((3, 4), np.float32)
        >>> shift = np.array([[1., 0., 1.], [0., 1., 0.]])  # sample one pixel to the right
        >>> warp_confidence(conf, shift)[0].tolist()  # the last column is border fill
        [1.0, 1.0, 1.0, 0.0]
    """
    if not isinstance(confidence, np.ndarray) or confidence.dtype.kind != "f":
        raise ValueError(f"confidence must be a float NumPy array (H, W) in [0, 1], got "
                         f"{getattr(confidence, 'dtype', type(confidence).__name__)}")
    out = warp_affine(confidence, matrix, border="zeros")
    h, w = out.shape[:2]
    sx, sy = _source_coords(h, w, np.asarray(matrix, dtype=np.float64))
    eps = 1e-6  # a sample one pixel or more outside touches no pixel: exactly 0 (grid_sample rounds to ~1e-7)
    outside = ((sx <= -1 + eps) | (sx >= w - eps) | (sy <= -1 + eps) | (sy >= h - eps)).numpy()
    out[outside] = 0
    return np.clip(out, 0.0, 1.0, out=out)


def random_warp(prior: np.ndarray, *, max_shift: float = MAX_SHIFT, max_rotation: float = MAX_ROTATION,
                max_scale: float = MAX_SCALE, rng: Any = None, confidence: np.ndarray | None = None) -> Any:
    """Warp a prior by a small random affine (shift, rotation, zoom), imitating residual misalignment.

    Args:
        prior: ``(H, W[, C])`` image.
        max_shift, max_rotation, max_scale: see :func:`random_affine`.
        rng: source of randomness.
        confidence: the prior's confidence, or None; warped by the same affine (:func:`warp_confidence`).

    Returns:
        The warped prior, same shape and dtype; with ``confidence``, ``(prior, confidence)``.

    Example:
        >>> p = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
        >>> random_warp(p, rng=np.random.default_rng(1)).shape
        (8, 8, 3)
        >>> w, c = random_warp(p, rng=np.random.default_rng(1), confidence=np.ones((8, 8), np.float32))
        >>> bool(np.array_equal(w, random_warp(p, rng=np.random.default_rng(1)))), c.shape
        (True, (8, 8))
    """
    h, w = _hw(prior, "prior")
    if confidence is not None:
        _check_confidence(confidence, prior)
    m = random_affine((h, w), max_shift=max_shift, max_rotation=max_rotation, max_scale=max_scale, rng=rng)
    if confidence is None:
        return warp_affine(prior, m)
    return warp_affine(prior, m), warp_confidence(confidence, m)


# --------------------------------------------------------------------------------------------- dropout
def prior_dropout(prior: np.ndarray, *, p: float = PRIOR_DROPOUT, fill: str = "input",
                  lq: np.ndarray | None = None, rng: Any = None, confidence: np.ndarray | None = None) -> Any:
    """With probability ``p``, replace the prior by a stand-in carrying no prior information.

    Args:
        prior: ``(H, W[, C])`` image.
        p: drop probability (one number is drawn even when ``p`` is 0, to keep random streams stable).
        fill: ``"input"`` (the input ``lq`` itself, what the cache's ``fallback="input"`` gives at test time),
            ``"zeros"``, ``"mean"`` (the prior's mean colour everywhere) or ``"none"`` (no prior: returns None).
        lq: the input, needed when ``fill="input"``; must have the prior's shape.
        rng: source of randomness.
        confidence: the prior's confidence, or None. A kept prior keeps it; a stand-in gets confidence 0
            everywhere, whatever the fill (it carries nothing of the generative model; the cache's fallbacks
            ``input`` and ``zeros`` give 0 too); fill ``none`` gives no confidence (None).

    Returns:
        The prior, or its stand-in (a new array) when dropped; None when dropped with ``fill="none"`` (the caller
        then runs that sample without a prior). With ``confidence``: ``(prior, confidence)``, ``(None, None)``
        when dropped with ``fill="none"``.

    Example:
        >>> prior = np.ones((4, 4, 3), np.float32)
        >>> float(prior_dropout(prior, p=1.0, fill="zeros").max())
        0.0
        >>> prior_dropout(prior, p=0.0) is prior
        True
        >>> _, conf = prior_dropout(prior, p=1.0, fill="mean", confidence=np.ones((4, 4), np.float32))
        >>> float(conf.max())
        0.0
    """
    if fill not in DROPOUT_FILLS:
        raise ValueError(f"fill must be one of {DROPOUT_FILLS}, got {fill!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"prior dropout probability must be in [0, 1], got {p}")
    if confidence is not None:
        _check_confidence(confidence, prior)
    out = _drop(prior, p=p, fill=fill, lq=lq, rng=rng)
    if confidence is None:
        return out
    if out is prior:
        return prior, confidence
    return out, (None if out is None else np.zeros_like(confidence))


def _drop(prior: np.ndarray, *, p: float, fill: str, lq: np.ndarray | None, rng: Any) -> np.ndarray | None:
    """:func:`prior_dropout` without the confidence (returns ``prior`` itself when kept)."""
    if not _chance(rng, p):
        return prior
    if fill == "none":
        return None
    if fill == "zeros":
        return np.zeros_like(prior)
    if fill == "mean":
        axes = (0, 1)
        return np.broadcast_to(prior.mean(axis=axes, keepdims=True), prior.shape).astype(prior.dtype)
    if lq is None:
        raise ValueError("prior_dropout(fill='input') needs lq=the input image")
    if lq.shape != prior.shape:
        raise ValueError(f"prior_dropout(fill='input'): lq {lq.shape} and prior {prior.shape} differ in shape; "
                         f"use fill='zeros' or 'mean'")
    return lq.astype(prior.dtype, copy=True)


def augment_prior(prior: np.ndarray, *, lq: np.ndarray | None = None, dropout: float = PRIOR_DROPOUT,
                  fill: str = "input", warp: float = WARP_PROB, max_shift: float = MAX_SHIFT,
                  max_rotation: float = MAX_ROTATION, max_scale: float = MAX_SCALE,
                  rng: Any = None, confidence: np.ndarray | None = None) -> Any:
    """The prior-only part of training augmentation: a small random warp, then prior dropout.

    Args:
        prior: ``(H, W[, C])`` image (already cropped / flipped like ``lq``).
        lq: the input patch (for ``fill="input"``).
        dropout: probability of dropping the prior (0 turns it off).
        fill: what a dropped prior becomes (see :func:`prior_dropout`).
        warp: probability of warping the prior (0 turns it off).
        max_shift, max_rotation, max_scale: warp ranges (see :func:`random_affine`).
        rng: source of randomness.
        confidence: the prior's confidence, or None: warped with the prior (:func:`random_warp`) and dropped with
            it (:func:`prior_dropout`).

    Returns:
        The augmented prior, same shape and dtype; None when dropped with ``fill="none"``. With ``confidence``:
        ``(prior, confidence)`` (``(None, None)`` when dropped with ``fill="none"``).

    Example:
        >>> p = np.zeros((8, 8, 3), np.uint8)
        >>> augment_prior(p, warp=0.0, dropout=0.0) is p
        True
        >>> conf = np.ones((8, 8), np.float32)
        >>> augment_prior(p, warp=0.0, dropout=0.0, confidence=conf)[1] is conf
        True
    """
    if not 0.0 <= warp <= 1.0:
        raise ValueError(f"prior warp probability must be in [0, 1], got {warp}")
    if confidence is not None:
        _check_confidence(confidence, prior)
    if _chance(rng, warp):
        warped = random_warp(prior, max_shift=max_shift, max_rotation=max_rotation, max_scale=max_scale, rng=rng,
                             confidence=confidence)
        prior, confidence = warped if confidence is not None else (warped, None)
    return prior_dropout(prior, p=dropout, fill=fill, lq=lq, rng=rng, confidence=confidence)


class PriorViews(NamedTuple):
    """What training makes of one sample's prior (:func:`prior_training_views`).

    Attributes:
        prior: the prior the network sees (warped; a stand-in when dropped with fill ``none``).
        keep: with fill ``none``, 1.0 or 0.0 (0: run this sample without its prior); None for other fills.
        dropped: ``dropout_mode="pair"`` only: the same sample's dropped prior (a stand-in for fill ``none``).
        dropped_keep: ``pair`` with fill ``none``: 0.0; otherwise None.
        confidence: when a confidence was given, that of ``prior``: moved with it by the warp, and 0 everywhere
            when the prior was dropped (any fill, ``none`` included: the stand-in is trusted nowhere); otherwise None.
        dropped_confidence: ``pair`` with a confidence: that of ``dropped``, 0 everywhere; otherwise None.
    """

    prior: np.ndarray
    keep: float | None
    dropped: np.ndarray | None
    dropped_keep: float | None
    confidence: np.ndarray | None = None
    dropped_confidence: np.ndarray | None = None


def prior_training_views(prior: np.ndarray, *, lq: np.ndarray | None = None, mode: str = "sample",
                         dropout: float = PRIOR_DROPOUT, fill: str | None = None, warp: float = WARP_PROB,
                         max_shift: float = MAX_SHIFT, max_rotation: float = MAX_ROTATION,
                         max_scale: float = MAX_SCALE, rng: Any = None,
                         confidence: np.ndarray | None = None) -> PriorViews:
    """The prior-only training recipe of both framework adapters: warp, then dropout in ``mode``.

    ``sample``: the prior is dropped with probability ``dropout``. ``pair``: it is never dropped, and ``dropped``
    carries the dropped version for a second pass of the same sample. Fill ``none`` (the default of ``pair``)
    keeps an image as a stand-in and reports the drop in ``keep`` / ``dropped_keep``, which the model hands to
    the network as ``prior_keep``.

    Args:
        prior, lq: ``(H, W[, C])`` images (the prior already cropped / flipped with ``lq``).
        mode: ``"sample"`` or ``"pair"``.
        dropout: drop probability in ``sample`` mode (unused in ``pair`` mode).
        fill: see :func:`prior_dropout`; None = :func:`default_dropout_fill` of ``mode``.
        warp, max_shift, max_rotation, max_scale: see :func:`augment_prior`.
        rng: source of randomness.
        confidence: the prior's confidence ``(H, W)`` (or ``(H, W, 1)``), or None; see :class:`PriorViews`.

    Returns:
        :class:`PriorViews`.

    Example:
        >>> p = np.ones((4, 4, 3), np.float32)
        >>> v = prior_training_views(p, mode="pair", warp=0.0)
        >>> v.keep, v.dropped_keep, v.dropped.shape
        (1.0, 0.0, (4, 4, 3))
        >>> v = prior_training_views(p, mode="pair", warp=0.0, confidence=np.ones((4, 4), np.float32))
        >>> float(v.confidence.min()), float(v.dropped_confidence.max())
        (1.0, 0.0)
    """
    fill = default_dropout_fill(mode) if fill is None else fill
    pair = mode == "pair"
    if confidence is not None:
        _check_confidence(confidence, prior)
    out = augment_prior(prior, lq=lq, dropout=0.0 if pair else dropout, fill=fill, warp=warp,
                        max_shift=max_shift, max_rotation=max_rotation, max_scale=max_scale, rng=rng,
                        confidence=confidence)
    out, conf = out if confidence is not None else (out, None)
    keep = None if fill != "none" else float(out is not None)
    if out is None:  # dropped with fill none: the prior stays as a stand-in, trusted nowhere
        out = prior
        conf = None if confidence is None else np.zeros_like(confidence)
    dropped = dropped_keep = dropped_conf = None
    if pair:
        dropped = _drop(out, p=1.0, fill=fill, lq=lq, rng=rng)
        if dropped is None:
            dropped, dropped_keep = out, 0.0
        dropped_conf = None if conf is None else np.zeros_like(conf)
    return PriorViews(out, keep, dropped, dropped_keep, conf, dropped_conf)


def paired_augment(lq: np.ndarray, gt: np.ndarray | None = None, prior: np.ndarray | None = None, *,
                   patch_size: int | None = None, scale: int = 1, hflip: bool = True, rotation: bool = True,
                   dropout: float = PRIOR_DROPOUT, fill: str = "input", warp: float = WARP_PROB,
                   max_shift: float = MAX_SHIFT, max_rotation: float = MAX_ROTATION, max_scale: float = MAX_SCALE,
                   rng: Any = None, confidence: np.ndarray | None = None) -> tuple:
    """The whole training recipe: shared random crop, shared flip / rotation, then prior warp and dropout.

    Args:
        lq, gt, prior: images ``(H, W[, C])`` (gt ``scale`` times larger; gt / prior may be None).
        patch_size: ground-truth crop size, or None for no crop.
        scale: gt / lq size ratio.
        hflip, rotation: allowed flips / rotations (see :func:`sample_flip_rot`).
        dropout, fill, warp, max_shift, max_rotation, max_scale: prior-only augmentation
            (see :func:`augment_prior`); for ``fill="input"`` with ``scale > 1`` the prior must be lq-sized.
        rng: source of randomness.
        confidence: the prior's confidence (of the prior's size), or None: cropped, flipped / rotated, warped and
            dropped exactly like the prior (the module docstring says how).

    Returns:
        ``(lq, gt, prior)``, contiguous arrays; None stays None, and a prior dropped with ``fill="none"`` is None.
        With ``confidence``: ``(lq, gt, prior, confidence)`` (the confidence None where the prior is).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> lq = rng.random((12, 12, 3)).astype(np.float32)
        >>> a, b, c = paired_augment(lq, lq.copy(), lq.copy(), patch_size=8, warp=0, dropout=0, rng=rng)
        >>> bool((a == b).all() and (a == c).all()), a.shape
        (True, (8, 8, 3))
        >>> conf = np.ones((12, 12), np.float32)
        >>> len(paired_augment(lq, None, lq, patch_size=8, confidence=conf, rng=rng))
        4
    """
    with_conf = confidence is not None
    if with_conf:
        _check_confidence(confidence, prior)
    if prior is not None and fill == "input" and prior.shape[:2] != lq.shape[:2]:
        raise ValueError(f"fill='input' needs an lq-sized prior, got prior {prior.shape} and lq {lq.shape}; "
                         f"use fill='zeros' or 'mean'")
    if patch_size is not None:
        out = paired_random_crop(lq, gt, prior, patch_size=patch_size, scale=scale, rng=rng, confidence=confidence)
        (lq, gt, prior), confidence = out[:3], (out[3] if with_conf else None)
    op = sample_flip_rot(hflip=hflip, rotation=rotation, rng=rng)
    lq = apply_flip_rot(lq, op)
    gt = None if gt is None else apply_flip_rot(gt, op)
    if prior is not None:
        prior = apply_flip_rot(prior, op)
        confidence = None if confidence is None else apply_flip_rot(confidence, op)
        out = augment_prior(prior, lq=lq, dropout=dropout, fill=fill, warp=warp, max_shift=max_shift,
                            max_rotation=max_rotation, max_scale=max_scale, rng=rng, confidence=confidence)
        prior, confidence = out if with_conf else (out, None)
    if with_conf:
        return lq, gt, prior, None if confidence is None else np.ascontiguousarray(confidence)
    return lq, gt, prior

