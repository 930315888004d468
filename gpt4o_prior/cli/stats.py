"""``gpt4o-prior stats``: entries, sets, refusals and cost of a cache; with inputs and a set, its coverage."""
from __future__ import annotations

import argparse

from ..commands import Command
from .common import error, jsonable_text

__all__ = ["STATS", "EXAMPLES"]

EXAMPLES = """examples:
  gpt4o-prior stats --cache priors/
  gpt4o-prior stats --cache priors/ --inputs data/ohaze/hazy --set ohaze-gpt    # coverage of one dataset"""


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--cache", required=True)
    s.add_argument("--inputs", default=None)
    s.add_argument("--set", default=None, dest="set_name")


def run(args: argparse.Namespace) -> int:
    from ..cache import PriorCache

    if bool(args.inputs) != bool(args.set_name):
        return error("stats: give both --inputs and --set for coverage, or neither")
    print(jsonable_text(PriorCache(args.cache).stats(inputs=args.inputs, set_name=args.set_name)))
    return 0


STATS = Command(name="stats", help="counts, cost, coverage", add_arguments=add_arguments, run=run,
                description="Entries, sets, refusals and cost; with --inputs and --set, coverage.", epilog=EXAMPLES)
