"""The ``gpt4o-prior`` command: fill, inspect and check a prior cache.

Verbs: ``generate`` (OpenAI image edits, or offline priors), ``batch`` (``submit`` / ``status`` / ``collect`` with the
OpenAI Batch API), ``import`` (released GPT-4o outputs), ``align``, ``verify``, ``stats``; and the verbs adapters add
(:mod:`gpt4o_prior.commands`): the BasicSR adapter's ``demo`` (the bundled end-to-end demo) and ``restore`` (apply a
trained network to a folder). Run ``gpt4o-prior VERB --help`` for each verb's options and examples.

Example:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    gpt4o-prior ...
    0
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from .commands import Command, CommandUnavailable, command_names, load_command
from .version import __version__

__all__ = ["main", "build_parser", "CORE_VERBS"]

#: The verbs of the core; every other verb comes from an adapter (:mod:`gpt4o_prior.commands`).
CORE_VERBS = ("generate", "batch", "import", "align", "verify", "stats")

_RAW = argparse.RawDescriptionHelpFormatter

GENERATE_EXAMPLES = """examples:
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

BATCH_EXAMPLES = """examples:
  gpt4o-prior batch submit data/ohaze/hazy --cache priors/ --set ohaze-gpt --task dehaze --model gpt-image-1.5 \\
      --job ohaze-1
  gpt4o-prior batch status --cache priors/ --job ohaze-1
  gpt4o-prior batch collect --cache priors/ --job ohaze-1 --wait

  # only the batch id at hand (job file lost, or submitted on another machine): the job is rebuilt from the API
  gpt4o-prior batch collect --cache priors/ --batch batch_abc123 --inputs data/ohaze/hazy

submit is resumable (run it again after an interruption); collect can be run any number of times."""

IMPORT_EXAMPLES = """examples:
  # released GPT-4o outputs named like the inputs:
  gpt4o-prior import released/ohaze_gpt4o --inputs data/ohaze/hazy --cache priors/ --set ohaze-released
  # named differently: a template over the input's stem
  gpt4o-prior import released/ --inputs data/hazy --cache priors/ --set r --template '{stem}_gpt4o'"""

VERIFY_EXAMPLES = """examples:
  gpt4o-prior verify --cache priors/
  gpt4o-prior verify --cache priors/ --quarantine     # move broken entries aside"""

STATS_EXAMPLES = """examples:
  gpt4o-prior stats --cache priors/
  gpt4o-prior stats --cache priors/ --inputs data/ohaze/hazy --set ohaze-gpt    # coverage of one dataset"""

ALIGN_EXAMPLES = """examples:
  # align priors stored without an aligned copy (undo the recorded resize/pad):
  gpt4o-prior align --cache priors/ --set ohaze-gpt
  # realign all of a set's priors, registering each to its input, then aligning it densely and storing its
  # per-pixel confidence beside it (--no-dense: global registration only, no confidence map):
  gpt4o-prior align --cache priors/ --set ohaze-gpt --inputs data/ohaze/hazy --force"""


def _add_openai_settings(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("request settings (part of the cache key)")
    g.add_argument("--task", default="restore", help="prompt: dehaze, derain, lowlight, restore (default: restore)")
    g.add_argument("--prompt-version", type=int, default=None, help="prompt version (default: the latest)")
    g.add_argument("--model", default=None, help="image model or Azure deployment name (required for openai)")
    g.add_argument("--size", default="auto", help="output size WxH, or auto to choose one per input (default)")
    g.add_argument("--quality", default="auto", help="low, medium, high, auto (default: auto)")
    g.add_argument("--input-fidelity", default="auto",
                   help="auto (high where the model supports it), high, low, none (default: auto)")
    g.add_argument("--fit", default="pad", choices=["pad", "resize", "crop"],
                   help="how the input is brought to the size (default: pad; the transform is recorded)")
    c = p.add_argument_group("connection")
    c.add_argument("--base-url", default=None,
                   help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL or api.openai.com)")
    c.add_argument("--azure-endpoint", default=os.environ.get("AZURE_OPENAI_ENDPOINT"),
                   help="Azure OpenAI endpoint (default: AZURE_OPENAI_ENDPOINT); --model is then the deployment")
    c.add_argument("--api-version", default=os.environ.get("OPENAI_API_VERSION"), help="Azure API version")
    c.add_argument("--timeout", type=float, default=300.0, help="seconds per request (default: 300)")
    c.add_argument("--max-retries", type=int, default=2, help="the SDK's own retries per attempt (default: 2)")
    c.add_argument("--price-table", default=None, help="JSON file of prices overriding the built-in table")


def build_parser(commands: Mapping[str, Command] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``gpt4o-prior``: the core's verbs plus the adapter verbs in ``commands`` (default:
    every adapter verb that can be loaded here, see :mod:`gpt4o_prior.commands`)."""
    if commands is None:
        commands = _load_all_commands()
    verbs = ", ".join([*CORE_VERBS, *commands])
    parser = argparse.ArgumentParser(prog="gpt4o-prior", formatter_class=_RAW, description=__doc__.split("\n\n")[0]
                                     + f"\n\nverbs: {verbs}")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    g = sub.add_parser("generate", formatter_class=_RAW, epilog=GENERATE_EXAMPLES,
                       help="fill a prior set for a folder of inputs",
                       description="Make a prior for every image of INPUT_DIR and store it in the cache.")
    g.add_argument("input_dir", metavar="INPUT_DIR")
    g.add_argument("--cache", required=True, metavar="CACHE_DIR")
    g.add_argument("--set", required=True, dest="set_name", metavar="NAME", help="prior set name")
    g.add_argument("--provider", default="openai", choices=["openai", "classical", "simulated"],
                   help="where priors come from (default: openai)")
    g.add_argument("--targets", default=None, help="folder of clean targets, same file names (simulated only)")
    g.add_argument("--preset", default="mild", choices=["mild", "generative", "harsh"],
                   help="simulated only: strength of the simulated errors (mild: the light default; generative: "
                        "calibrated to real generative outputs; harsh: worse than them)")
    _add_openai_settings(g)
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

    b = sub.add_parser("batch", formatter_class=_RAW, epilog=BATCH_EXAMPLES,
                       help="OpenAI Batch API: submit, status, collect",
                       description="Fill a prior set through the OpenAI Batch API (lower price, answers within 24 h).")
    bsub = b.add_subparsers(dest="batch_verb", metavar="STEP")
    bs = bsub.add_parser("submit", formatter_class=_RAW, epilog=BATCH_EXAMPLES, help="write, upload, create batches")
    bs.add_argument("input_dir", metavar="INPUT_DIR")
    bs.add_argument("--cache", required=True)
    bs.add_argument("--set", required=True, dest="set_name")
    bs.add_argument("--job", required=True, help="job name (its record lives in CACHE/batches/JOB.json)")
    bs.add_argument("--max-requests", type=int, default=None, help="requests per file (default: the API limit)")
    bs.add_argument("--max-bytes", type=int, default=None, help="bytes per file (default: under the API limit)")
    bs.add_argument("--dry-run", action="store_true", help="write the JSONL files only")
    _add_openai_settings(bs)
    for name, text in (("status", "poll the batches of a job"), ("collect", "ingest finished batches into the cache")):
        x = bsub.add_parser(name, formatter_class=_RAW, epilog=BATCH_EXAMPLES, help=text)
        x.add_argument("--cache", required=True)
        x.add_argument("--job", default=None, help="job name (or a batch id: batch_...)")
        x.add_argument("--batch", default=None, metavar="BATCH_ID",
                       help="a batch id instead of --job: its local job is found, or rebuilt from the API")
        x.add_argument("--set", default=None, dest="set_name",
                       help="with --batch, when the job is rebuilt: the set to fill (default: the batch's metadata)")
        x.add_argument("--inputs", default=None, metavar="INPUT_DIR",
                       help="with --batch, when the job is rebuilt: the inputs, to register answers to them")
        x.add_argument("--base-url", default=None)
        x.add_argument("--azure-endpoint", default=os.environ.get("AZURE_OPENAI_ENDPOINT"))
        x.add_argument("--api-version", default=os.environ.get("OPENAI_API_VERSION"))
        x.add_argument("--timeout", type=float, default=300.0)
        x.add_argument("--max-retries", type=int, default=2)
        if name == "collect":
            x.add_argument("--wait", action="store_true", help="poll until every batch is finished")
            x.add_argument("--poll", type=float, default=30.0, help="seconds between polls (default: 30)")
            x.add_argument("--price-table", default=None)

    i = sub.add_parser("import", formatter_class=_RAW, epilog=IMPORT_EXAMPLES, help="import released GPT-4o outputs",
                       description="Import a folder of released priors (e.g. published GPT-4o outputs) as a set.")
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

    a = sub.add_parser("align", formatter_class=_RAW, epilog=ALIGN_EXAMPLES, help="(re)align a set's priors",
                       description="Bring a set's priors to their inputs' geometry (store the aligned copies).")
    a.add_argument("--cache", required=True)
    a.add_argument("--set", required=True, dest="set_name")
    a.add_argument("--inputs", default=None, help="the input folder: also register each prior to its input")
    a.add_argument("--force", action="store_true", help="realign priors that are aligned already")
    a.add_argument("--no-register", action="store_true", help="only undo the size change, no registration")
    a.add_argument("--no-dense", action="store_true",
                   help="register globally only: no dense alignment step; the realigned priors get no confidence map "
                        "(an old one is removed with its aligned prior)")

    v = sub.add_parser("verify", formatter_class=_RAW, epilog=VERIFY_EXAMPLES, help="check every cache entry",
                       description="Check hashes, sizes and sidecars of every entry (--quarantine: move broken ones aside\n"
                                   "and rebuild the manifest).")
    v.add_argument("--cache", required=True)
    v.add_argument("--quarantine", action="store_true", help="move broken entries aside")

    s = sub.add_parser("stats", formatter_class=_RAW, epilog=STATS_EXAMPLES, help="counts, cost, coverage",
                       description="Entries, sets, refusals and cost; with --inputs and --set, coverage.")
    s.add_argument("--cache", required=True)
    s.add_argument("--inputs", default=None)
    s.add_argument("--set", default=None, dest="set_name")

    for command in commands.values():
        command.add_arguments(sub.add_parser(command.name, formatter_class=_RAW, help=command.help,
                                             description=command.description or command.help,
                                             epilog=command.epilog or None))
    return parser


def _err(msg: str) -> int:
    print(f"gpt4o-prior: error: {msg}", file=sys.stderr)
    return 2


def _provider(args: argparse.Namespace):
    from .providers.openai_images import OpenAIImagesProvider

    if not args.model:
        raise ValueError("--model is required for OpenAI priors (e.g. --model gpt-image-1.5): model names change, "
                         "so there is no default")
    fid = None if str(args.input_fidelity).lower() == "none" else args.input_fidelity
    return OpenAIImagesProvider(model=args.model, task=args.task, prompt_version=args.prompt_version,
                                size=args.size, quality=args.quality, input_fidelity=fid, fit=args.fit)


def _client(args: argparse.Namespace, *, async_client: bool):
    from .providers.openai_images import make_client

    return make_client(base_url=args.base_url, azure_endpoint=args.azure_endpoint, api_version=args.api_version,
                       timeout=args.timeout, max_retries=args.max_retries, async_client=async_client)


def _endpoint(args: argparse.Namespace) -> str:
    if args.azure_endpoint:
        return f"Azure {args.azure_endpoint}"
    return args.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"


def _cmd_generate(args: argparse.Namespace) -> int:
    from .cache import PriorCache
    from .providers.openai_images import list_images

    inputs = list_images(args.input_dir)
    cache = PriorCache(args.cache)
    if args.provider != "openai":
        return _generate_offline(args, inputs, cache)
    from .pricing import load_price_table
    from .providers.openai_images import RetryPolicy, generate

    provider = _provider(args)
    table = load_price_table(args.price_table)
    print(f"model: {provider.model}   task: {provider.prompt_id} (prompt v{provider.prompt_version})   "
          f"endpoint: {_endpoint(args)}   set: {args.set_name}   inputs: {len(inputs)}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(args, inputs, cache, provider, table)
    if args.concurrency < 1:
        return _err("--concurrency must be at least 1")
    if args.busy_timeout is not None and args.busy_timeout < 0:
        return _err("--busy-timeout must be 0 or more seconds (leave it out to wait as long as the other run works)")
    client = _client(args, async_client=True)
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
    from PIL import Image

    from .cache import sha256_file
    from .providers.openai_images import choose_size

    todo, cost, unknown = 0, 0.0, False
    for path in inputs:
        found = cache.find(args.set_name, sha256_file(path))
        if found is not None and (found.status == "ok" or (found.status == "refused" and not args.retry_refused)):
            continue
        with Image.open(path) as im:
            w, h = im.size
        size = choose_size(h, w, model=provider.model, size=provider.size)
        est = provider.estimate_cost(size=size, table=table)
        todo += 1
        if est is None:
            unknown = True
        else:
            cost += est
    budget = ""
    if args.max_cost is not None and not unknown:
        budget = (f"; within --max-cost {args.max_cost}" if cost <= args.max_cost
                  else f"; over --max-cost {args.max_cost}: the run would stop early")
    print(f"dry run: {todo} of {len(inputs)} inputs would be sent to {provider.model}; estimated cost "
          + ("unknown (no price for this model: pass --price-table)" if unknown else f"${cost:.4f}") + budget)
    return 0


def _generate_offline(args: argparse.Namespace, inputs: list[Path], cache: Any) -> int:
    from .providers.base import fill_cache, get_provider

    if args.provider == "classical":
        provider = get_provider("classical", task=args.task)
        targets = None
    else:
        # registered to its input by default, as API answers are (--no-register keeps the raw simulation)
        provider = get_provider("simulated", register=not args.no_register, preset=args.preset)
        if args.no_dense:
            provider.dense = False  # global registration only (also drops the dense version from the key)
        if not args.targets:
            return _err("--provider simulated needs --targets DIR (the clean images, same file names)")
        tdir = Path(args.targets)
        by_stem = {p.stem: p for p in tdir.iterdir() if p.is_file()} if tdir.is_dir() else {}
        if not by_stem:
            return _err(f"--targets {tdir}: no files there")

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


def _cmd_batch(args: argparse.Namespace) -> int:
    from .cache import PriorCache
    from .providers import openai_batch as ob

    cache = PriorCache(args.cache)
    if args.batch_verb == "submit":
        from .providers.openai_images import list_images

        provider = _provider(args)
        inputs = list_images(args.input_dir)
        print(f"model: {provider.model}   task: {provider.prompt_id} (prompt v{provider.prompt_version})   "
              f"endpoint: {_endpoint(args)}   job: {args.job}", file=sys.stderr)
        client = None if args.dry_run else _client(args, async_client=False)
        kw = {k: v for k, v in (("max_requests", args.max_requests), ("max_bytes", args.max_bytes)) if v}
        job = ob.submit(inputs, cache=cache, set_name=args.set_name, provider=provider, client=client, job=args.job,
                        dry_run=args.dry_run, **kw)
        n = sum(len(b["keys"]) for b in job.batches)
        print(f"job {job.name}: {len(job.batches)} batch file(s), {n} requests; "
              + ", ".join(f"{Path(b['file']).name}: {b.get('batch_id') or 'not submitted'}" for b in job.batches))
        return 0
    if args.batch_verb in ("status", "collect"):
        client = _client(args, async_client=False)
        known = ob.find_job(cache, args.batch or args.job) if (args.batch or args.job or "").startswith("batch_") \
            else None
        inputs = None
        if args.inputs:
            from .providers.openai_images import list_images
            inputs = list_images(args.inputs)
        name = ob.resolve_job(cache, job=args.job, batch_id=args.batch, client=client, set_name=args.set_name,
                              inputs=inputs)
        if args.batch or (args.job or "") != name:
            how = "found locally" if known else "rebuilt from the API"
            print(f"batch {args.batch or args.job}: job {name} ({how})", file=sys.stderr)
    if args.batch_verb == "status":
        job = ob.status(cache=cache, job=name, client=client)
        for b in job.batches:
            print(f"{Path(b['file']).name if b.get('file') else '(remote)'}  {b.get('batch_id')}  {b.get('status')}  "
                  f"{b.get('request_counts')}" + ("  collected" if b.get("collected") else ""))
        return 0
    if args.batch_verb == "collect":
        from .pricing import load_price_table

        out = ob.collect(cache=cache, job=name, client=client, wait=args.wait,
                         poll_s=args.poll, price_table=load_price_table(args.price_table))
        print(f"stored {out.done}, refused {out.refused}, failed {out.failed}, pending {out.pending}; "
              f"cost ${out.cost_usd:.4f}")
        for name, reason in sorted(out.missing.items()):
            print(f"  no prior: {name}: {reason}")
        return 0 if out.failed == 0 and out.pending == 0 else 1
    return _err("batch needs a step: submit, status or collect (see gpt4o-prior batch --help)")


def _cmd_import(args: argparse.Namespace) -> int:
    from .cache import PriorCache
    from .providers.released import import_folder

    cache = PriorCache(args.cache)
    report = import_folder(args.priors_dir, inputs_dir=args.inputs, cache=cache, set_name=args.set_name,
                           template=args.template, label=args.label, model=args.model,
                           register=not args.no_register, dense=not args.no_register and not args.no_dense,
                           progress=not args.no_progress)
    print(report)
    return report.exit_code


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _jsonable_text(obj: Any) -> str:
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict
        obj = asdict(obj)
    try:
        return json.dumps(obj, indent=1, default=str)
    except TypeError:
        return str(obj)


def _cmd_align(args: argparse.Namespace) -> int:
    import io

    import numpy as np
    from PIL import Image

    from .align import align_with_confidence, undo_fit
    from .cache import PriorCache, sha256_file
    from .providers.openai_images import list_images

    cache = PriorCache(args.cache)
    cache.get_set(args.set_name)
    by_sha: dict[str, Path] = {}
    if args.inputs:
        by_sha = {sha256_file(p): p for p in list_images(args.inputs)}
    aligned_n, skipped, missing, scores, confs = 0, 0, [], [], []
    dense = not args.no_register and not args.no_dense
    for entry in cache.iter_entries():
        if entry.status != "ok" or entry.raw_path is None:
            continue
        for link in entry.meta.get("sources") or []:
            if link.get("set_name") != args.set_name:
                continue
            src = link.get("source_sha256")
            if link.get("file") and not args.force:
                skipped += 1
                continue
            prior = np.asarray(Image.open(io.BytesIO(Path(entry.raw_path).read_bytes())).convert("RGB"))
            transform = entry.meta.get("send_transform")
            path = by_sha.get(src)
            if path is not None:
                image = np.asarray(Image.open(path).convert("RGB"))
                back, confidence, record = align_with_confidence(prior, image, record=transform,
                                                                 register=not args.no_register, dense=dense)
                if record.get("dense") is None:
                    confidence = None  # no dense step: no confidence file (the prior reads as confidence 1)
                else:
                    confs.append(float(record["dense"].get("confidence_mean", float(confidence.mean()))))
                score = (record or {}).get("quality")
                if isinstance(score, (int, float)):
                    scores.append(float(score))
            elif not transform:
                missing.append(link.get("source_name") or src)
                continue
            else:
                back = undo_fit(prior, transform)
                confidence = None
                record = {"fit": transform, "undo": "fit", "registered": False, "dense": None,
                          "reason": "aligned without --inputs"}
            cache.put_aligned(entry.key, np.ascontiguousarray(back), alignment=record, confidence=confidence,
                              set_name=args.set_name, source_sha256=src)
            aligned_n += 1
    print(f"set {args.set_name}: aligned {aligned_n}, already aligned {skipped}"
          + (f", mean alignment quality {sum(scores) / len(scores):.3f}" if scores else "")
          + (f", mean confidence {sum(confs) / len(confs):.3f}" if confs else "")
          + (f"; {len(missing)} need --inputs (no send transform recorded)" if missing else ""))
    for name in missing:
        print(f"  not aligned: {name}")
    return 0 if not missing else 1


def _cmd_verify(args: argparse.Namespace) -> int:
    from .cache import PriorCache

    report = PriorCache(args.cache).verify(quarantine=args.quarantine)
    print(_jsonable_text(report.to_dict()))
    return 0 if report.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    from .cache import PriorCache

    if bool(args.inputs) != bool(args.set_name):
        return _err("stats: give both --inputs and --set for coverage, or neither")
    print(_jsonable_text(PriorCache(args.cache).stats(inputs=args.inputs, set_name=args.set_name)))
    return 0


def _load_all_commands() -> dict[str, Command]:
    """Every adapter verb that loads here (one that does not is left out of the parser; asking for it says why)."""
    out = {}
    for name in command_names():
        if name in CORE_VERBS:
            continue
        try:
            out[name] = load_command(name)
        except CommandUnavailable:
            continue
    return out


def _commands_for(argv: Sequence[str]) -> dict[str, Command]:
    """The adapter verbs the parser needs for ``argv``: none for a core verb or ``--version``, the one asked for,
    or all of them (the overview, or an unknown verb, whose error lists the choices)."""
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb in CORE_VERBS or (verb is None and "--version" in argv and not {"-h", "--help"} & set(argv)):
        return {}
    if verb is not None and verb in command_names():
        return {verb: load_command(verb)}
    return _load_all_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (0: success; 1: some inputs without a prior; 2: usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        commands = _commands_for(argv)
    except CommandUnavailable as e:
        return _err(str(e))
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    if args.version:
        print(f"gpt4o-prior {__version__}")
        return 0
    if args.verb is None:
        parser.print_help()
        return 2
    handlers = {"generate": _cmd_generate, "batch": _cmd_batch, "import": _cmd_import, "align": _cmd_align,
                "verify": _cmd_verify, "stats": _cmd_stats}
    handlers.update({name: command.run for name, command in commands.items()})
    try:
        return handlers[args.verb](args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as e:
        from .providers.openai_images import redact

        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return _err(redact(str(msg)))
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
