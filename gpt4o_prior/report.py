"""Evaluation report pieces: PSNR / SSIM as BasicSR computes them, a Markdown table, and labelled PNG grids.

Metrics are :mod:`gpt4o_prior.metrics` (the numbers BasicSR's ``calculate_psnr`` / ``calculate_ssim`` give for the
same images, without importing BasicSR), on 8-bit images, RGB channels, no border crop by default.

Example:
    >>> import numpy as np
    >>> gt = np.full((16, 16, 3), 100, np.uint8)
    >>> round(image_metrics(gt + 10, gt)["psnr"], 2)
    28.13
    >>> print(markdown_table([{"run": "a", "psnr": 20.0}], columns=[("run", "run"), ("PSNR", "psnr")]))
    | run | PSNR |
    | --- | ---: |
    | a | 20.00 |
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .data.io import as_rgb_uint8

__all__ = ["image_metrics", "folder_metrics", "markdown_table", "make_grid", "save_grid"]


def image_metrics(img: np.ndarray, gt: np.ndarray, *, crop_border: int = 0,
                  test_y_channel: bool = False) -> dict[str, float]:
    """PSNR (dB) and SSIM of one image against its ground truth, as BasicSR's validation computes them.

    Args:
        img: (H, W, 3) uint8 RGB result.
        gt: (H, W, 3) uint8 RGB ground truth.
        crop_border: pixels ignored at each edge.
        test_y_channel: compare the Y channel of YCbCr instead of RGB.

    Returns:
        ``{"psnr": float, "ssim": float}``.

    Raises:
        ValueError: not (H, W, 3) arrays, or different shapes (the message gives both); TypeError: not uint8.
    """
    from .metrics import psnr, ssim

    kw = dict(crop_border=crop_border, test_y_channel=test_y_channel)
    return {"psnr": psnr(img, gt, **kw), "ssim": ssim(img, gt, **kw)}


def folder_metrics(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, names: Sequence[str] | None = None,
                   **kwargs: Any) -> dict[str, Any]:
    """Mean PSNR / SSIM of ``pred_dir/NAME.png`` against ``gt_dir/NAME.png`` (and the per-image values).

    Args:
        pred_dir: results, one PNG per name.
        gt_dir: ground truth with the same file names.
        names: file stems to compare; default every PNG in ``gt_dir``.
        **kwargs: ``crop_border``, ``test_y_channel`` for :func:`image_metrics`.

    Returns:
        ``{"psnr": mean, "ssim": mean, "per_image": {name: {"psnr", "ssim"}}}``.

    Raises:
        FileNotFoundError: a result or ground-truth file is missing (named).
    """
    from .data.io import read_rgb

    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    if names is None:
        names = sorted(p.stem for p in gt_dir.glob("*.png"))
    if not names:
        raise FileNotFoundError(f"no ground-truth PNG files in {gt_dir}")
    per = {}
    for n in names:
        pred, gt = pred_dir / f"{n}.png", gt_dir / f"{n}.png"
        for p in (pred, gt):
            if not p.is_file():
                raise FileNotFoundError(f"{p} is missing: every name needs a result and a ground truth")
        per[n] = image_metrics(read_rgb(pred), read_rgb(gt), **kwargs)
    return {"psnr": float(np.mean([v["psnr"] for v in per.values()])),
            "ssim": float(np.mean([v["ssim"] for v in per.values()])), "per_image": per}


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], *, columns: Sequence[tuple[str, str]],
                   digits: Mapping[str, int] | None = None) -> str:
    """A Markdown table: one row per mapping, ``columns`` as ``(header, key)``; floats right-aligned.

    Args:
        rows: the rows; a missing key or None prints ``-``.
        columns: ``(header, key)`` pairs, in order.
        digits: decimals per key (default 2; e.g. ``{"ssim": 4}``).

    Returns:
        the table, lines joined by newlines (no trailing newline).
    """
    digits = dict(digits or {})
    numeric = {k: any(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in rows)
               for _, k in columns}
    lines = ["| " + " | ".join(h for h, _ in columns) + " |",
             "| " + " | ".join("---:" if numeric[k] else "---" for _, k in columns) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(k), digits.get(k, 2)) for _, k in columns) + " |")
    return "\n".join(lines)


def make_grid(panels: Sequence[tuple[str, np.ndarray]], *, scale: int = 1, label_height: int = 14,
              pad: int = 2):
    """One row of labelled image panels, as a PIL image (labels in PIL's default font above each panel).

    Args:
        panels: ``(label, (H, W, 3) uint8 RGB)`` pairs; panels of different sizes are top-aligned.
        scale: integer upscaling of every panel (nearest neighbour), for small images.
        label_height: pixels reserved for the label.
        pad: white space between panels.

    Returns:
        ``PIL.Image.Image`` in RGB.

    Example:
        >>> g = make_grid([("input", np.zeros((8, 8, 3), np.uint8)), ("gt", np.zeros((8, 8, 3), np.uint8))], scale=2)
        >>> g.size
        (34, 30)
    """
    from PIL import Image, ImageDraw, ImageFont

    if not panels:
        raise ValueError("make_grid needs at least one (label, image) panel")
    imgs = []
    for label, img in panels:
        im = Image.fromarray(as_rgb_uint8(img, f"panel {label!r}"))
        if scale != 1:
            im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
        imgs.append((str(label), im))
    width = sum(im.width for _, im in imgs) + pad * (len(imgs) - 1)
    height = label_height + max(im.height for _, im in imgs)
    grid = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    x = 0
    for label, im in imgs:
        grid.paste(im, (x, label_height))
        draw.text((x + 1, 1), label, fill=(0, 0, 0), font=font)
        x += im.width + pad
    return grid


def save_grid(path: str | os.PathLike, panels: Sequence[tuple[str, np.ndarray]], **kwargs: Any) -> Path:
    """:func:`make_grid` written to ``path`` as PNG (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_grid(panels, **kwargs).save(path, format="PNG")
    return path
