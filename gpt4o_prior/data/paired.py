"""Write a paired dataset folder (degraded / clean) in BasicSR's layout from clean images.

Layout written by :func:`make_paired_dataset`::

    <out_dir>/<task>/<split>/gt/NAME.png      clean image
    <out_dir>/<task>/<split>/lq/NAME.png      the same image degraded for <task>
    <out_dir>/<task>/<split>/meta.json        what was done to each image (seed and parameters)

``lq`` and ``gt`` hold the same file names, so BasicSR's ``PairedImageDataset`` (``dataroot_lq`` / ``dataroot_gt``,
``filename_tmpl: '{}'``) and MMagic's ``BasicImageDataset`` read it as is. Each image's seed is derived from the
dataset seed, the task and the image's name, so adding or removing images never changes the others.

Example:
    >>> import tempfile
    >>> ds = make_paired_dataset(tempfile.mkdtemp(), "derain", split="val", limit=2, crop=32)
    >>> ds.names, ds.lq_dir.name, ds.gt_dir.parent.name
    (['astronaut_s1_2', 'astronaut_s2_3'], 'lq', 'val')
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bundled import bundled_images
from .degrade import TASKS, degrade
from .io import as_rgb_uint8, read_rgb, write_png

__all__ = ["PairedDataset", "image_seed", "make_paired_dataset"]

_FORMAT = 1  # bump when the degradations change, so stale folders are rebuilt


@dataclass(frozen=True)
class PairedDataset:
    """Where :func:`make_paired_dataset` wrote a split.

    Attributes:
        root: ``<out_dir>/<task>/<split>``.
        lq_dir: folder of degraded inputs.
        gt_dir: folder of clean targets.
        names: file stems, sorted (the files are ``NAME.png`` in both folders).
        task: the degradation task.
        split: the split name.
        params: file stem -> the JSON-able record of what was done to that image.
    """

    root: Path
    lq_dir: Path
    gt_dir: Path
    names: list[str]
    task: str
    split: str
    params: dict = field(default_factory=dict, repr=False)

    def pairs(self) -> list[tuple[Path, Path]]:
        """``(lq_path, gt_path)`` for every image, in name order."""
        return [(self.lq_dir / f"{n}.png", self.gt_dir / f"{n}.png") for n in self.names]


def image_seed(seed: int, task: str, name: str) -> int:
    """A per-image seed derived from the dataset seed, the task and the image name (stable across runs).

    Example:
        >>> image_seed(0, "dehaze", "a") == image_seed(0, "dehaze", "a") != image_seed(1, "dehaze", "a")
        True
    """
    digest = hashlib.sha256(f"{int(seed)}|{task}|{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def _center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if size > min(h, w):
        raise ValueError(f"crop={size} is larger than an image of {w}x{h}; use a smaller crop")
    y, x = (h - size) // 2, (w - size) // 2
    return img[y:y + size, x:x + size]


def make_paired_dataset(out_dir: str | Path, task: str, *, images=None, split: str = "train", seed: int = 0,
                        crop: int | None = None, limit: int | None = None, overwrite: bool = False,
                        **params) -> PairedDataset:
    """Degrade clean images for ``task`` and write the pairs as ``<out_dir>/<task>/<split>/{lq,gt}/NAME.png``.

    Re-running with the same arguments reuses the folder (it checks ``meta.json``), so it is cheap to call at the
    start of every test or demo. Different arguments rebuild the split (old files are replaced).

    Args:
        out_dir: root folder; created if missing.
        task: ``"dehaze"``, ``"derain"`` or ``"lowlight"``.
        images: clean images: a list of file paths, or a dict ``name -> (H, W, 3) uint8 array``. Default: the
            bundled images of ``split`` (:func:`gpt4o_prior.data.bundled_images`).
        split: folder name of the split, e.g. ``"train"`` or ``"val"`` (also picks the bundled split).
        seed: dataset seed; each image gets :func:`image_seed` ``(seed, task, name)``.
        crop: centre-crop every clean image to ``crop`` x ``crop`` first (small, fast datasets for tests).
        limit: use only the first ``limit`` images (in name order).
        overwrite: rebuild even if the folder is up to date.
        **params: fixed degradation parameters passed to :func:`gpt4o_prior.data.degrade`.

    Returns:
        :class:`PairedDataset` describing the written split.

    Raises:
        ValueError: unknown task, empty image list, duplicate names, or a crop larger than an image.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: choose one of " + ", ".join(repr(t) for t in TASKS))
    if images is None:
        if split not in ("train", "val"):
            raise ValueError(f"split {split!r} has no bundled images: pass images=..., or use 'train' or 'val'")
        images = bundled_images(split)
    if isinstance(images, dict):
        sources = {str(k): v for k, v in images.items()}
    else:
        sources = {}
        for p in images:
            stem = Path(p).stem
            if stem in sources:
                raise ValueError(f"two images share the name {stem!r} ({sources[stem]} and {p}); "
                                 "file names must be unique because lq/ and gt/ are matched by name")
            sources[stem] = Path(p)
    names = sorted(sources)[:limit] if limit is not None else sorted(sources)
    if not names:
        raise ValueError("no images to degrade: images is empty")

    root = Path(out_dir) / task / split
    lq_dir, gt_dir, meta_path = root / "lq", root / "gt", root / "meta.json"
    request = {"format": _FORMAT, "task": task, "split": split, "seed": int(seed), "crop": crop,
               "params": {k: params[k] for k in sorted(params)}, "names": names,
               "sources": {n: _fingerprint(sources[n]) for n in names}}
    if not overwrite and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("request") == request and all(
                (lq_dir / f"{n}.png").is_file() and (gt_dir / f"{n}.png").is_file() for n in names):
            return PairedDataset(root, lq_dir, gt_dir, names, task, split, meta.get("images", {}))

    for d in (lq_dir, gt_dir):
        if d.is_dir():
            for old in d.glob("*.png"):
                if old.stem not in names:
                    old.unlink()
    records = {}
    for name in names:
        src = sources[name]
        clean = read_rgb(src) if isinstance(src, (str, Path)) else as_rgb_uint8(src, f"images[{name!r}]")
        if crop is not None:
            clean = _center_crop(clean, int(crop))
        s = image_seed(seed, task, name)
        lq, rec = degrade(clean, task, seed=s, return_params=True, **params)
        write_png(gt_dir / f"{name}.png", clean)
        write_png(lq_dir / f"{name}.png", lq)
        records[name] = rec
    _write_json(meta_path, {"request": request, "images": records})
    return PairedDataset(root, lq_dir, gt_dir, names, task, split, records)


def _fingerprint(src) -> str:
    if isinstance(src, (str, Path)):
        st = Path(src).stat()
        return f"file:{Path(src).resolve()}:{st.st_size}:{st.st_mtime_ns}"
    arr = as_rgb_uint8(src, "image")
    return "array:" + hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".meta.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
