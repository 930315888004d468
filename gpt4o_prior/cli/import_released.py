"""``gpt4o-prior import``: a folder of released priors (published GPT-4o outputs, say) as a prior set."""
from __future__ import annotations

import argparse

from ..commands import Command

__all__ = ["IMPORT", "EXAMPLES"]

EXAMPLES = """examples:
  # released GPT-4o outputs named like the inputs:
  gpt4o-prior import released/ohaze_gpt4o --inputs data/ohaze/hazy --cache priors/ --set ohaze-released
  # named differently: a template over the input's stem
  gpt4o-prior import released/ --inputs data/hazy --cache priors/ --set r --template '{stem}_gpt4o'"""


def add_arguments(i: argparse.ArgumentParser) -> None:
    i.add_argument("priors_dir", metavar="PRIORS_DIR")
    i.add_argument("--inputs", required=True, metavar="INPUT_DIR")
    i.add_argument("--cache", required=True)
    i.add_argument("--set", required=True, dest="set_name")
    i.add_argument("--template", default="{stem}", help="prior file name from the input's stem (default: '{stem}')")
    i.add_argument("--label", default="released-gpt", help="the set's label (default: released-gpt)")
    i.add_argument("--model", default=None, help="the model that made the priors, if known (recorded only)")
    i.add_argument("--no-register", action="store_true", help="only undo the size change, no registration")
    i.add_argument("--no-dense", action="store_true",
                   help="register globally only: no dense alignment step, no confidence map")
    i.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..cache import PriorCache
    from ..providers.released import import_folder

    report = import_folder(args.priors_dir, inputs_dir=args.inputs, cache=PriorCache(args.cache),
                           set_name=args.set_name, template=args.template, label=args.label, model=args.model,
                           register=not args.no_register, dense=not args.no_register and not args.no_dense,
                           progress=not args.no_progress)
    print(report)
    return report.exit_code


IMPORT = Command(name="import", help="import released GPT-4o outputs", add_arguments=add_arguments, run=run,
                 description="Import a folder of released priors (e.g. published GPT-4o outputs) as a set.",
                 epilog=EXAMPLES)
