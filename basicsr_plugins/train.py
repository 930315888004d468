"""``python -m basicsr_plugins.train -opt options.yml``: BasicSR's training, with priors.

A drop-in for BasicSR's ``basicsr/train.py -opt``, with the same flags (``--launcher none|pytorch|slurm``,
``--auto_resume``, ``--debug``, ``--force_yml``). It runs BasicSR's own ``train_pipeline`` after registering the
prior pieces, with the top-level ``prior:`` option applied and BasicSR 1.4.2's CPU gaps closed
(:mod:`basicsr_plugins.launch`). ``experiments/`` and ``tb_logger/`` go under the current directory.

Distributed on a machine without CUDA: ``torchrun --nproc_per_node 2 -m basicsr_plugins.train -opt x.yml
--launcher pytorch`` (gloo backend).
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Train with BasicSR's pipeline; ``argv`` as on the command line (default ``sys.argv[1:]``)."""
    from .launch import run_pipeline

    run_pipeline("train", argv)


if __name__ == "__main__":
    main()
