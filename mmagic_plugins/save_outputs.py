"""``SaveRestored``: an MMEngine metric that writes each restored image to a folder (inference without ground truth).

MMagic's own visualisation hook names output files after ``gt_path``, so it needs ground truth. Used as the
``test_evaluator`` (or beside real metrics in a list), this writes ``<out_dir>/<input name>.png`` for every input
and reports how many it wrote; it needs nothing but the model's output and the input's path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from .registry import METRICS, register

__all__ = ["SaveRestored"]


def _get(d: Any, key: str) -> Any:
    if isinstance(d, dict):
        return d.get(key)
    return getattr(d, key, None)


@register(METRICS)
class SaveRestored(BaseMetric):
    """Write every ``pred_img`` to ``out_dir``, named after the input file.

    Args:
        out_dir: output folder (created when missing).
        suffix: file suffix; ``'.png'`` keeps the output lossless.
        key: metainfo key of the input path (``'img_path'``, set by ``BasicImageDataset``).
        collect_device, prefix: as for ``mmengine.evaluator.BaseMetric``.

    Example:
        >>> import tempfile, torch
        >>> out = tempfile.mkdtemp()
        >>> m = SaveRestored(out_dir=out)
        >>> m.process({}, [dict(img_path='in/0001.png', output=dict(pred_img=torch.zeros(3, 4, 4)))])
        >>> m.compute_metrics(m.results), sorted(p.name for p in Path(out).iterdir())
        ({'saved': 1}, ['0001.png'])
    """

    default_prefix = "restored"

    def __init__(self, out_dir: str, suffix: str = ".png", key: str = "img_path", collect_device: str = "cpu",
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir = Path(out_dir)
        self.suffix = suffix
        self.key = key

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Write the outputs of one batch (``pred_img``: ``(3, H, W)`` BGR values in [0, 255], as MMagic gives)."""
        import cv2

        self.out_dir.mkdir(parents=True, exist_ok=True)
        for sample in data_samples:
            output = _get(sample, "output")
            pred = _get(output, "pred_img") if output is not None else _get(sample, "pred_img")
            path = _get(sample, self.key)
            if pred is None or path is None:
                raise KeyError(f"SaveRestored needs output.pred_img and {self.key} in each data sample; got keys "
                               f"{sorted(sample) if isinstance(sample, dict) else type(sample).__name__}")
            pred = getattr(pred, "detach", lambda: pred)()
            arr = np.asarray(pred.cpu() if hasattr(pred, "cpu") else pred, dtype=np.float32)
            if arr.ndim == 3 and arr.shape[0] in (1, 3):
                arr = arr.transpose(1, 2, 0)
            img = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
            target = self.out_dir / (Path(str(path)).stem + self.suffix)
            if not cv2.imwrite(str(target), img):
                raise OSError(f"SaveRestored could not write {target}")
            self.results.append(str(target))

    def compute_metrics(self, results: list) -> dict:
        """Return ``{'saved': number of images written}``."""
        return {"saved": len(results)}
