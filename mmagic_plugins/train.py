"""Train from an MMagic config, honouring ``runner_type`` (so ``'mmagic_plugins.PriorRunner'`` takes effect).

    python -m mmagic_plugins.train options/mmagic/ohaze_nafnet_prior.py [--work-dir DIR] [--resume]
        [--cfg-options key=value ...]

The same steps as MMagic's ``tools/train.py`` (which always builds the plain ``Runner``), plus the MMEngine
convention of building ``cfg.runner_type`` from the ``RUNNERS`` registry when the config names one.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

__all__ = ["build_runner", "load_config", "main"]


def load_config(path: str | Path, *, work_dir: str | None = None, options: dict | None = None) -> Any:
    """Read an MMEngine config file (importing MMagic through this plugin's shims first).

    Args:
        path: the config file.
        work_dir: overrides ``cfg.work_dir``; default ``./work_dirs/<config name>`` when the config has none.
        options: ``--cfg-options``-style overrides, merged into the config.

    Returns:
        The ``mmengine.Config``.
    """
    from mmengine.config import Config

    from . import registry  # noqa: F401  (shims, then MMagic's registries)

    cfg = Config.fromfile(str(path))
    if options:
        cfg.merge_from_dict(options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = str(Path("work_dirs") / Path(path).stem)
    return cfg


def build_runner(cfg: Any) -> Any:
    """Build the runner of ``cfg``: ``cfg.runner_type`` from the ``RUNNERS`` registry if set, else ``Runner``.

    Args:
        cfg: an ``mmengine.Config`` (or dict).

    Returns:
        The runner.
    """
    from mmengine.registry import RUNNERS, init_default_scope
    from mmengine.runner import Runner

    init_default_scope(cfg.get("default_scope", "mmagic"))
    if cfg.get("runner_type") is not None:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def main(argv: Sequence[str] | None = None) -> Any:
    """Command-line entry point (see the module docstring); returns the runner after training."""
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="MMagic / MMEngine config file")
    parser.add_argument("--work-dir", default=None, help="where logs and checkpoints go")
    parser.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in work-dir")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None,
                        help="override config entries, e.g. train_cfg.max_iters=10")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, work_dir=args.work_dir, options=args.cfg_options)
    if args.resume:
        cfg.resume = True
    runner = build_runner(cfg)
    runner.train()
    return runner


if __name__ == "__main__":
    main()
