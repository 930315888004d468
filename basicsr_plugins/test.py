"""``python -m basicsr_plugins.test -opt options.yml``: BasicSR's testing, with priors.

A drop-in for BasicSR's ``basicsr/test.py -opt``. Datasets may be ``PairedImageDataset`` (metrics against the
ground truth) or ``SingleImageDataset`` (a folder of inputs with priors and no ground truth: set
``val: {save_img: true}`` and the outputs are written under ``results/<name>/visualization/``).
``val: {self_ensemble: true}`` averages the 8 flips / rotations, each applied alike to the input and its prior.
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Test with BasicSR's pipeline; ``argv`` as on the command line (default ``sys.argv[1:]``)."""
    from .launch import run_pipeline

    run_pipeline("test", argv)


if __name__ == "__main__":
    main()
