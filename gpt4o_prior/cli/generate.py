"""``gpt4o-prior generate``: fill a prior set for a folder of inputs (OpenAI image edits, or offline priors)."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ..commands import Command
from .common import add_openai_settings, endpoint, error, openai_client, openai_provider

__all__ = ["GENERATE", "EXAMPLES"]

EXAMPLES = """examples:
  # GPT priors for a hazy dataset (key and endpoint from OPENAI_API_KEY / OPENAI_BASE_URL):
  gpt4o-prior generate data/ohaze/hazy --cache priors/ --set ohaze-gpt --task dehaze --model gpt-image-1.5 \\
      --concurrency 8 --max-cost 20

  # how many requests and what they would cost, without sending anything:
  gpt4o-prior generate data/ohaze/hazy --cache priors/ --set ohaze-gpt --task dehaze --model gpt-image-1.5 --dry-run

  # any OpenAI-compatible server, or Azure OpenAI (the model is the deployment name):
  gpt4o-prior generate IN --cache priors/ --set s --task derain --model my-model --base-url http://host:8000/v1
  gpt4o-prior generate IN --cache priors/ --set s --task derain --model my-deployment \\
      --azure-endpoint https://NAME.openai.azure.com --api-version 2025-04-01-preview

  # offline priors (free, no network): classical enhancement, or simulated GPT-like priors from clean targets:
  gpt4o-prior generate IN --cache priors/ --set s-classical --task dehaze --provider classical
  gpt4o-prior generate IN --cache priors/ --set s-sim --provider simulated --targets data/ohaze/clean

The run is resumable: stop it (even with kill -9) and run the same command again; nothing is paid twice.
Two runs on the same inputs share the work: an input the other run is sending is waited for (--busy-timeout).
Exit code 0 only when every input has a prior; each input without one is listed with its reason."""


def add_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("input_dir", metavar="INPUT_DIR")
    g.add_argument("--cache", required=True, metavar="CACHE_DIR")
    g.add_argument("--set", required=True, dest="set_name", metavar="NAME", help="prior set name")
    g.add_argument("--provider", default="openai", choices=["openai", "classical", "simulated"],
                   help="where priors come from (default: openai)")
    g.add_argument("--targets", default=None, help="folder of clean targets, same file names (simulated only)")
    g.add_argument("--preset", default="mild", choices=["mild", "generative", "harsh"],
                   help="simulated only: strength of the simulated errors (mild: the light default; generative: "
                        "calibrated to real generative outputs; harsh: worse than them)")
    add_openai_settings(g)
    r = g.add_argument_group("run")
    r.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: 8)")
    r.add_argument("--max-cost", type=float, default=None, help="USD budget of this run: stop before exceeding it")
    r.add_argument("--dry-run", action="store_true", help="print how many requests and their estimated cost; send none")
    r.add_argument("--attempts", type=int, default=6, help="attempts per input, with backoff (default: 6)")
    r.add_argument("--backoff", type=float, default=1.0, help="first backoff in seconds (default: 1)")
    r.add_argument("--retry-refused", action="store_true", help="send inputs refused before again")
    r.add_argument("--no-register", action="store_true",
                   help="only undo the resize/pad of each answer; skip registration (much less CPU; run "
                        "`gpt4o-prior align --inputs DIR --force` later to register). With --provider simulated: "
                        "store the misaligned simulation as it is")
    r.add_argument("--no-dense", action="store_true",
                   help="register globally only: skip the dense alignment step and its per-pixel confidence map "
                        "(the priors then read as confidence 1 everywhere, as before the dense step)")
    r.add_argument("--workers", type=int, default=0,
                   help="processes for image work (encode, decode, align, write); 0: threads in this process "
                        "(default), -1: one per core (at most 8). Use it on many-core machines at high concurrency")
    r.add_argument("--busy-timeout", type=float, default=None, metavar="SECONDS",
                   help="an input another live run is sending (its claim is held) is waited for, then counted as "
                        "cached (or sent here if that run died or gave up); wait at most SECONDS per input, then "
                        "report it busy. Default: as long as the other run holds the claim; 0: do not wait")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..cache import PriorCache
    from ..data.io import list_images

    inputs = list_images(args.input_dir)
    cache = PriorCache(args.cache)
    if args.provider != "openai":
        return _generate_offline(args, inputs, cache)
    from ..pricing import load_price_table
    from ..providers.openai_images import RetryPolicy, generate

    provider = openai_provider(args)
    table = load_price_table(args.price_table)
    print(f"model: {provider.model}   task: {provider.prompt_id} (prompt v{provider.prompt_version})   "
          f"endpoint: {endpoint(args)}   set: {args.set_name}   inputs: {len(inputs)}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(args, inputs, cache, provider, table)
    if args.concurrency < 1:
        return error("--concurrency must be at least 1")
    if args.busy_timeout is not None and args.busy_timeout < 0:
        return error("--busy-timeout must be 0 or more seconds (leave it out to wait as long as the other run works)")
    client = openai_client(args, async_client=True)
    retry = RetryPolicy(max_attempts=args.attempts, base_s=args.backoff, retry_refused=args.retry_refused)
    summary = asyncio.run(_run_generate(generate, inputs, cache, args, provider, client, retry, table))
    print(f"done {summary.done}, cached {summary.cached}, refused {summary.refused}, failed {summary.failed}, "
          f"over budget {summary.skipped_budget}, busy {summary.busy}; cost ${summary.cost_usd:.4f}"
          + (f" (+{summary.cost_unknown} of unknown price)" if summary.cost_unknown else "")
          + f"; {summary.wall_s:.1f} s")
    for name, reason in sorted(summary.missing.items()):
        print(f"  no prior: {name}: {reason}")
    return 0 if summary.complete else 1


async def _run_generate(generate, inputs, cache, args, provider, client, retry, table):
    try:
        return await generate(inputs, cache=cache, set_name=args.set_name, provider=provider, client=client,
                              concurrency=args.concurrency, max_cost=args.max_cost, retry=retry, price_table=table,
                              progress=not args.no_progress, register=not args.no_register,
                              dense=not args.no_register and not args.no_dense,
                              workers=args.workers, busy_timeout=args.busy_timeout)
    finally:
        await client.close()


def _dry_run(args: argparse.Namespace, inputs: list[Path], cache: Any, provider: Any, table: dict) -> int:
    from ..providers.openai_images import estimate_generate

    todo, cost = estimate_generate(inputs, cache=cache, set_name=args.set_name, provider=provider, table=table,
                                   retry_refused=args.retry_refused)
    budget = ""
    if args.max_cost is not None and cost is not None:
        budget = (f"; within --max-cost {args.max_cost}" if cost <= args.max_cost
                  else f"; over --max-cost {args.max_cost}: the run would stop early")
    print(f"dry run: {todo} of {len(inputs)} inputs would be sent to {provider.model}; estimated cost "
          + ("unknown (no price for this model: pass --price-table)" if cost is None else f"${cost:.4f}") + budget)
    return 0


def _generate_offline(args: argparse.Namespace, inputs: list[Path], cache: Any) -> int:
    from ..providers.base import fill_cache, get_provider

    if args.provider == "classical":
        provider = get_provider("classical", task=args.task)
        targets = None
    else:
        # registered to its input by default, as API answers are (--no-register keeps the raw simulation)
        provider = get_provider("simulated", register=not args.no_register, preset=args.preset)
        if args.no_dense:
            provider.dense = False  # global registration only (also drops the dense version from the key)
        if not args.targets:
            return error("--provider simulated needs --targets DIR (the clean images, same file names)")
        tdir = Path(args.targets)
        by_stem = {p.stem: p for p in tdir.iterdir() if p.is_file()} if tdir.is_dir() else {}
        if not by_stem:
            return error(f"--targets {tdir}: no files there")

        def targets(path: Path) -> Path:
            if (tdir / path.name).is_file():
                return tdir / path.name
            if path.stem in by_stem:
                return by_stem[path.stem]
            raise FileNotFoundError(f"no target for {path.name} in {tdir}")

    print(f"provider: {provider.name}   set: {args.set_name}   inputs: {len(inputs)}", file=sys.stderr)
    out = fill_cache(inputs, cache=cache, set_name=args.set_name, provider=provider, targets=targets,
                     progress=not args.no_progress, busy_timeout=args.busy_timeout)
    print(f"done {out['done']}, cached {out['cached']}, failed {len(out['failed'])}; cost $0")
    for name, reason in sorted(out["failed"].items()):
        print(f"  no prior: {name}: {reason}")
    return 0 if not out["failed"] else 1


GENERATE = Command(name="generate", help="fill a prior set for a folder of inputs", add_arguments=add_arguments,
                   run=run, description="Make a prior for every image of INPUT_DIR and store it in the cache.",
                   epilog=EXAMPLES)
