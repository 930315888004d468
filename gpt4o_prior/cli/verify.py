"""``gpt4o-prior verify``: check every cache entry (hashes, sizes, sidecars, confidences)."""
from __future__ import annotations

import argparse

from ..commands import Command
from .common import jsonable_text

__all__ = ["VERIFY", "EXAMPLES"]

EXAMPLES = """examples:
  gpt4o-prior verify --cache priors/
  gpt4o-prior verify --cache priors/ --quarantine     # move broken entries aside"""


def add_arguments(v: argparse.ArgumentParser) -> None:
    v.add_argument("--cache", required=True)
    v.add_argument("--quarantine", action="store_true", help="move broken entries aside")


def run(args: argparse.Namespace) -> int:
    from ..cache import PriorCache

    report = PriorCache(args.cache).verify(quarantine=args.quarantine)
    print(jsonable_text(report.to_dict()))
    return 0 if report.ok else 1


VERIFY = Command(name="verify", help="check every cache entry", add_arguments=add_arguments, run=run,
                 description="Check hashes, sizes and sidecars of every entry (--quarantine: move broken ones aside\n"
                             "and rebuild the manifest).", epilog=EXAMPLES)
