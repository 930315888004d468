"""The verbs the BasicSR adapter adds to ``gpt4o-prior``: ``demo`` and ``restore``.

Declared as entry points of the group ``gpt4o_prior.commands`` in ``setup.py`` (see :mod:`gpt4o_prior.commands`),
so the core's command line finds them without importing this adapter unless one of them is asked for.

Example:
    >>> DEMO.name, RESTORE.name
    ('demo', 'restore')
"""
from __future__ import annotations

import argparse

from gpt4o_prior.commands import Command

__all__ = ["DEMO", "RESTORE"]


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from .demo import add_demo_arguments

    add_demo_arguments(parser)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def _restore_arguments(parser: argparse.ArgumentParser) -> None:
    from .restore import add_restore_arguments

    add_restore_arguments(parser)


def _run_restore(args: argparse.Namespace) -> int:
    from .restore import run_restore

    return run_restore(args)


DEMO = Command(
    name="demo", help="the bundled end-to-end demo: offline priors, three BasicSR runs, a report",
    description="Degrade the bundled images, fill a cache with offline priors (stand-ins for GPT-image priors),\n"
                "train the same small NAFNet three ways through BasicSR and write a report.",
    epilog="""examples:
  gpt4o-prior demo                                  # dehaze, 500 iterations per run, into demo_out/
  gpt4o-prior demo --task all --iters 200 --out /tmp/demo""",
    add_arguments=_demo_arguments, run=_run_demo)

RESTORE = Command(
    name="restore", help="restore a folder with a trained network (priors from the cache, tiled)",
    description="Run a trained prior-branch network (BasicSR option file + checkpoint) on a folder.",
    epilog="""examples:
  gpt4o-prior restore hazy/ --opt options/basicsr/ohaze_nafnet_prior.yml \\
      --checkpoint experiments/NAFNet_ohaze/models/net_g_latest.pth --cache priors/ --set ohaze-gpt --out restored/
  gpt4o-prior restore big/ --opt my.yml --checkpoint net_g.pth --cache priors/ --set s --out out/ --tile 512""",
    add_arguments=_restore_arguments, run=_run_restore)
