"""``gpt4o-prior batch``: fill a prior set through the OpenAI Batch API (``submit``, ``status``, ``collect``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..commands import Command
from .common import RAW, add_connection_settings, add_openai_settings, endpoint, error, openai_client, openai_provider

__all__ = ["BATCH", "EXAMPLES"]

EXAMPLES = """examples:
  gpt4o-prior batch submit data/ohaze/hazy --cache priors/ --set ohaze-gpt --task dehaze --model gpt-image-1.5 \\
      --job ohaze-1
  gpt4o-prior batch status --cache priors/ --job ohaze-1
  gpt4o-prior batch collect --cache priors/ --job ohaze-1 --wait

  # only the batch id at hand (job file lost, or submitted on another machine): the job is rebuilt from the API
  gpt4o-prior batch collect --cache priors/ --batch batch_abc123 --inputs data/ohaze/hazy

submit is resumable (run it again after an interruption); collect can be run any number of times."""


def add_arguments(b: argparse.ArgumentParser) -> None:
    bsub = b.add_subparsers(dest="batch_verb", metavar="STEP")
    bs = bsub.add_parser("submit", formatter_class=RAW, epilog=EXAMPLES, help="write, upload, create batches")
    bs.add_argument("input_dir", metavar="INPUT_DIR")
    bs.add_argument("--cache", required=True)
    bs.add_argument("--set", required=True, dest="set_name")
    bs.add_argument("--job", required=True, help="job name (its record lives in CACHE/batches/JOB.json)")
    bs.add_argument("--max-requests", type=int, default=None, help="requests per file (default: the API limit)")
    bs.add_argument("--max-bytes", type=int, default=None, help="bytes per file (default: under the API limit)")
    bs.add_argument("--dry-run", action="store_true", help="write the JSONL files only")
    add_openai_settings(bs)
    for name, text in (("status", "poll the batches of a job"), ("collect", "ingest finished batches into the cache")):
        x = bsub.add_parser(name, formatter_class=RAW, epilog=EXAMPLES, help=text)
        x.add_argument("--cache", required=True)
        x.add_argument("--job", default=None, help="job name (or a batch id: batch_...)")
        x.add_argument("--batch", default=None, metavar="BATCH_ID",
                       help="a batch id instead of --job: its local job is found, or rebuilt from the API")
        x.add_argument("--set", default=None, dest="set_name",
                       help="with --batch, when the job is rebuilt: the set to fill (default: the batch's metadata)")
        x.add_argument("--inputs", default=None, metavar="INPUT_DIR",
                       help="with --batch, when the job is rebuilt: the inputs, to register answers to them")
        add_connection_settings(x, documented=False)
        if name == "collect":
            x.add_argument("--wait", action="store_true", help="poll until every batch is finished")
            x.add_argument("--poll", type=float, default=30.0, help="seconds between polls (default: 30)")
            x.add_argument("--price-table", default=None)


def run(args: argparse.Namespace) -> int:
    from ..cache import PriorCache
    from ..data.io import list_images
    from ..providers import openai_batch as ob

    cache = PriorCache(args.cache)
    if args.batch_verb == "submit":
        provider = openai_provider(args)
        inputs = list_images(args.input_dir)
        print(f"model: {provider.model}   task: {provider.prompt_id} (prompt v{provider.prompt_version})   "
              f"endpoint: {endpoint(args)}   job: {args.job}", file=sys.stderr)
        client = None if args.dry_run else openai_client(args, async_client=False)
        kw = {k: v for k, v in (("max_requests", args.max_requests), ("max_bytes", args.max_bytes)) if v}
        job = ob.submit(inputs, cache=cache, set_name=args.set_name, provider=provider, client=client, job=args.job,
                        dry_run=args.dry_run, **kw)
        n = sum(len(b["keys"]) for b in job.batches)
        print(f"job {job.name}: {len(job.batches)} batch file(s), {n} requests; "
              + ", ".join(f"{Path(b['file']).name}: {b.get('batch_id') or 'not submitted'}" for b in job.batches))
        return 0
    if args.batch_verb in ("status", "collect"):
        client = openai_client(args, async_client=False)
        known = ob.find_job(cache, args.batch or args.job) if (args.batch or args.job or "").startswith("batch_") \
            else None
        inputs = list_images(args.inputs) if args.inputs else None
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
        from ..pricing import load_price_table

        out = ob.collect(cache=cache, job=name, client=client, wait=args.wait,
                         poll_s=args.poll, price_table=load_price_table(args.price_table))
        print(f"stored {out.done}, refused {out.refused}, failed {out.failed}, pending {out.pending}; "
              f"cost ${out.cost_usd:.4f}")
        for name, reason in sorted(out.missing.items()):
            print(f"  no prior: {name}: {reason}")
        return 0 if out.failed == 0 and out.pending == 0 else 1
    return error("batch needs a step: submit, status or collect (see gpt4o-prior batch --help)")


BATCH = Command(name="batch", help="OpenAI Batch API: submit, status, collect", add_arguments=add_arguments, run=run,
                description="Fill a prior set through the OpenAI Batch API (lower price, answers within 24 h).",
                epilog=EXAMPLES)
