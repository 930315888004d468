"""``gpt4o-prior align``: (re)align a set's priors to their inputs (:func:`gpt4o_prior.cache.realign_set`)."""
from __future__ import annotations

import argparse

from ..commands import Command

__all__ = ["ALIGN", "EXAMPLES"]

EXAMPLES = """examples:
  # align priors stored without an aligned copy (undo the recorded resize/pad):
  gpt4o-prior align --cache priors/ --set ohaze-gpt
  # realign all of a set's priors, registering each to its input, then aligning it densely and storing its
  # per-pixel confidence beside it (--no-dense: global registration only, no confidence map):
  gpt4o-prior align --cache priors/ --set ohaze-gpt --inputs data/ohaze/hazy --force"""


def add_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--cache", required=True)
    a.add_argument("--set", required=True, dest="set_name")
    a.add_argument("--inputs", default=None, help="the input folder: also register each prior to its input")
    a.add_argument("--force", action="store_true", help="realign priors that are aligned already")
    a.add_argument("--no-register", action="store_true", help="only undo the size change, no registration")
    a.add_argument("--no-dense", action="store_true",
                   help="register globally only: no dense alignment step; the realigned priors get no confidence map "
                        "(an old one is removed with its aligned prior)")


def run(args: argparse.Namespace) -> int:
    from ..cache import PriorCache, realign_set

    report = realign_set(PriorCache(args.cache), args.set_name, args.inputs, force=args.force,
                         register=not args.no_register, dense=not args.no_dense)
    print(report.summary(args.set_name))
    for name in report.missing:
        print(f"  not aligned: {name}")
    return 0 if not report.missing else 1


ALIGN = Command(name="align", help="(re)align a set's priors", add_arguments=add_arguments, run=run,
                description="Bring a set's priors to their inputs' geometry (store the aligned copies).",
                epilog=EXAMPLES)
