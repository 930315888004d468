"""Fit an input to the size a provider sends, and undo that fit on what comes back.

Image models return a few fixed sizes (the GPT-image edit API: 1024x1024, 1536x1024, 1024x1536), so a provider
picks the size nearest the input's aspect (:func:`choose_size`), fits the input to it (:func:`fit_to_size`:
letterbox ``pad``, stretch ``resize`` or cover-and-``crop``) and records exactly what it did; :func:`undo_fit`
inverts that record and :func:`fit_matrix` gives it as a matrix. Registration of what the model then moved is
:mod:`gpt4o_prior.align`'s.

Coordinates: pixel ``i`` covers ``[i, i + 1)``; a fit record says ``sent = scale * input + offset`` per axis in
those edge coordinates.

Example:
    >>> img = np.zeros((30, 40, 3), np.uint8)
    >>> sent, rec = fit_to_size(img, (64, 64), mode="pad")
    >>> sent.shape, rec["scale"], rec["offset"]
    ((64, 64, 3), [1.6, 1.6], [0, 8])
    >>> undo_fit(sent, rec).shape
    (30, 40, 3)
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .data.io import as_rgb_uint8

__all__ = ["API_SIZES", "FIT_MODES", "RECORD_VERSION", "choose_size", "fit_to_size", "undo_fit", "fit_matrix",
           "check_fit_record", "resize_rgb"]

#: Sizes (width, height) the GPT-image edit API returns on all models.
API_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))
FIT_MODES = ("pad", "resize", "crop")
#: version of the fit record (and of the alignment record that embeds it)
RECORD_VERSION = 1


def resize_rgb(image: np.ndarray, size_wh: tuple[int, int], box: Sequence[float] | None = None) -> np.ndarray:
    """Antialiased bicubic resize (Pillow) of an RGB image, optionally of a sub-box in pixel-edge coordinates.

    Shape:
        (H, W, 3) uint8 -> (size_wh[1], size_wh[0], 3) uint8 (a copy when the size is already right).

    Example:
        >>> resize_rgb(np.zeros((4, 6, 3), np.uint8), (3, 2)).shape
        (2, 3, 3)
    """
    w, h = size_wh
    if box is None and image.shape[1] == w and image.shape[0] == h:
        return image.copy()
    out = Image.fromarray(np.ascontiguousarray(image), "RGB").resize(
        (int(w), int(h)), Image.Resampling.BICUBIC, box=None if box is None else tuple(float(b) for b in box))
    return np.asarray(out)


def choose_size(height: int, width: int, sizes: Sequence[tuple[int, int]] = API_SIZES) -> tuple[int, int]:
    """The (width, height) among ``sizes`` whose aspect ratio is closest to the input's.

    Example:
        >>> choose_size(480, 640)
        (1536, 1024)
    """
    if height < 1 or width < 1:
        raise ValueError(f"choose_size: height and width must be positive, got {height}x{width}")
    aspect = math.log(width / height)
    return min(sizes, key=lambda s: abs(math.log(s[0] / s[1]) - aspect))


def fit_to_size(img: np.ndarray, size: Sequence[int], *, mode: str = "pad", pad_mode: str = "edge",
                pad_value: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit an image to the size a provider will send, and record how, so that :func:`undo_fit` can invert it.

    Args:
        img: the input, (H, W, 3) uint8 RGB.
        size: target (width, height).
        mode: ``"pad"`` scale to fit inside and pad the rest (aspect kept, nothing lost); ``"resize"`` stretch to the
            target (aspect changes); ``"crop"`` scale to cover and centre-crop (aspect kept, borders lost).
        pad_mode: ``numpy.pad`` mode for ``"pad"``: ``"edge"`` (default), ``"reflect"`` or ``"constant"``.
        pad_value: the value for ``pad_mode="constant"``.

    Returns:
        ``(sent, record)``: the (H', W', 3) uint8 image to send and a JSON-able record with ``mode``,
        ``input_size`` [H, W], ``sent_size`` [H', W'], ``scale`` [sx, sy] and ``offset`` [ox, oy]
        (``sent = scale * input + offset`` in pixel-edge coordinates).

    Shape:
        (H, W, 3) -> (size[1], size[0], 3).

    Example:
        >>> im = np.zeros((10, 20, 3), np.uint8)
        >>> fit_to_size(im, (16, 16), mode="crop")[1]["offset"]
        [-8, 0]
    """
    img = as_rgb_uint8(img, "img")
    if mode not in FIT_MODES:
        raise ValueError(f"fit_to_size: mode must be one of {FIT_MODES}, got {mode!r}")
    if len(size) != 2 or int(size[0]) < 1 or int(size[1]) < 1:
        raise ValueError(f"fit_to_size: size must be (width, height) with positive ints, got {size!r}")
    tw, th = int(size[0]), int(size[1])
    h, w = img.shape[:2]
    if mode == "resize":
        nw, nh, ox, oy = tw, th, 0, 0
        sent = resize_rgb(img, (tw, th))
    else:
        s = min(tw / w, th / h) if mode == "pad" else max(tw / w, th / h)
        if mode == "pad":
            nw, nh = min(tw, max(1, round(w * s))), min(th, max(1, round(h * s)))
            ox, oy = (tw - nw) // 2, (th - nh) // 2
        else:
            nw, nh = max(tw, round(w * s)), max(th, round(h * s))
            ox, oy = -((nw - tw) // 2), -((nh - th) // 2)
        scaled = resize_rgb(img, (nw, nh))
        if mode == "pad":
            pads = ((oy, th - nh - oy), (ox, tw - nw - ox), (0, 0))
            if pad_mode == "constant":
                sent = np.pad(scaled, pads, mode="constant", constant_values=pad_value)
            elif pad_mode in ("edge", "reflect", "symmetric"):
                sent = np.pad(scaled, pads, mode=pad_mode)
            else:
                raise ValueError(f"fit_to_size: pad_mode must be 'edge', 'reflect', 'symmetric' or 'constant', "
                                 f"got {pad_mode!r}")
        else:
            sent = np.ascontiguousarray(scaled[-oy:-oy + th, -ox:-ox + tw])
    record = {"version": RECORD_VERSION, "mode": mode, "input_size": [h, w], "sent_size": [th, tw],
              "scale": [nw / w, nh / h], "offset": [ox, oy]}
    if mode == "pad":
        record["pad_mode"] = pad_mode
    return sent, record


def check_fit_record(record: Any) -> dict[str, Any]:
    """``record`` if it is a fit record (a dict with the keys :func:`fit_to_size` writes); else a ValueError."""
    need = ("input_size", "sent_size", "scale", "offset")
    if not isinstance(record, dict) or any(k not in record for k in need):
        raise ValueError(f"fit record must be the dict returned by fit_to_size with keys {need}, got {record!r:.200}")
    return record


def fit_matrix(record: dict[str, Any], returned_size: Sequence[int] | None = None) -> np.ndarray:
    """3x3 matrix mapping input pixel centres to pixel centres of the returned image (``returned_size`` = (H, W),
    default the sent size; a returned image of another size is taken to cover the same field of view).

    Example:
        >>> _, rec = fit_to_size(np.zeros((8, 8, 3), np.uint8), (16, 16), mode="resize")
        >>> fit_matrix(rec)[0].tolist()
        [2.0, 0.0, 0.5]
    """
    record = check_fit_record(record)
    sh, sw = record["sent_size"]
    rh, rw = (sh, sw) if returned_size is None else (int(returned_size[0]), int(returned_size[1]))
    sx, sy = record["scale"][0] * rw / sw, record["scale"][1] * rh / sh
    ox, oy = record["offset"][0] * rw / sw, record["offset"][1] * rh / sh
    # edge coords: u = s * x + o; centres: u_c + 0.5 = s * (x_c + 0.5) + o
    return np.array([[sx, 0.0, ox + 0.5 * sx - 0.5], [0.0, sy, oy + 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def undo_fit(prior: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """Bring a prior of the sent (or returned) geometry back to the input's size, inverting ``fit_to_size``.

    A prior whose size differs from the sent size is first taken to cover the same field of view (it is scaled
    per axis). Regions lost by ``mode="crop"`` are filled by extending the prior's border.

    Args:
        prior: the provider's output, (H', W', 3) uint8 RGB.
        record: the record returned by :func:`fit_to_size` for this input.

    Returns:
        (H, W, 3) uint8 RGB, with (H, W) = ``record["input_size"]``.

    Example:
        >>> im = (np.arange(12 * 16 * 3) % 251).astype(np.uint8).reshape(12, 16, 3)
        >>> sent, rec = fit_to_size(im, (32, 32), mode="pad")
        >>> back = undo_fit(sent, rec)
        >>> back.shape, int(np.abs(back.astype(int) - im).mean()) < 40
        ((12, 16, 3), True)
    """
    prior = as_rgb_uint8(prior, "prior")
    record = check_fit_record(record)
    h, w = (int(v) for v in record["input_size"])
    sh, sw = record["sent_size"]
    rh, rw = prior.shape[:2]
    fx, fy = rw / sw, rh / sh
    x0 = record["offset"][0] * fx
    y0 = record["offset"][1] * fy
    x1 = x0 + record["scale"][0] * w * fx
    y1 = y0 + record["scale"][1] * h * fy
    mx = int(math.ceil(max(0.0, -x0, x1 - rw)))
    my = int(math.ceil(max(0.0, -y0, y1 - rh)))
    if mx or my:
        prior = np.pad(prior, ((my, my), (mx, mx), (0, 0)), mode="edge")
    box = (max(0.0, x0 + mx), max(0.0, y0 + my), min(prior.shape[1], x1 + mx), min(prior.shape[0], y1 + my))
    return resize_rgb(prior, (w, h), box=box)
