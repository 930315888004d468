"""Cost of the prior in training (issue 13, part 6): BasicSR iteration time with the prior and its confidence
against the same option file without the ``prior:`` line.

Each variant is the demo's option file (:func:`basicsr_plugins.demo.option_text`: NAFNet, Adam, L1) trained through
BasicSR's own loop (``python -m basicsr_plugins.train``) for ``--iters`` iterations on a real training split at crop
``--gt-size``, with ``num_worker_per_gpu`` set to each value of ``--workers`` (the same for every variant). The
iteration time is read from BasicSR's log: the time between consecutive iteration lines (data loading, forward,
backward, step), median over the iterations after ``--warmup``. Variants run interleaved, ``--repeats`` times, so
each ratio compares runs made side by side on the same (shared, noisy) machine; the table gives the median time
per variant and the ratio of medians to ``none``.

Variants: ``none`` (no prior line), ``<fusion>+conf`` for each ``--fusions`` (the prior and its confidence map, the
default of the ``prior:`` line), and ``sft-noconf`` (``confidence: false``: what the confidence map itself costs).
Priors: the calibrated simulated preset (``generative``), registered with the dense step, filled once into
``--out/priors`` (their making is not timed).

Usage:
    .venv/bin/python benchmarks/bench_iter_cost.py --sets dehaze_sots_indoor derain_rain100h --workers 0 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
from pathlib import Path

from basicsr_plugins.demo import DemoConfig, option_text, train_run

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
#: hosts: the demo's NAFNet, and the size of the published NAFNet-SIDD-width32 option file (blocks per stage)
HOSTS = {"demo": None,
         "nafnet-sidd-w32": {"width": 32, "enc_blk_nums": [2, 2, 4, 8], "middle_blk_num": 12,
                             "dec_blk_nums": [2, 2, 2, 2]}}
TASK_OF = {"dehaze_sots_indoor": "dehaze", "derain_rain100h": "derain"}
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO: .*\biter:\s*([\d,]+)")


def iteration_times(log: Path) -> list[tuple[int, float]]:
    """``(iteration, seconds since the previous iteration line)`` from a BasicSR log with ``print_freq: 1``."""
    out, prev = [], None
    for line in log.read_text(errors="replace").splitlines():
        m = _STAMP.match(line)
        if not m:
            continue
        t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        it = int(m.group(2).replace(",", ""))
        if prev is not None and it == prev[0] + 1:
            out.append((it, t - prev[1]))
        prev = (it, t)
    return out


def fill_priors(split: Path, cache_dir: Path, name: str) -> None:
    from gpt4o_prior.cache import PriorCache
    from gpt4o_prior.providers.base import fill_cache
    from gpt4o_prior.providers.simulated import SimulatedProvider

    lq = sorted((split / "lq").glob("*.png"))
    res = fill_cache(lq, cache=PriorCache(cache_dir), set_name=name, targets=lambda p: split / "gt" / p.name,
                     provider=SimulatedProvider(seed=0, preset="generative", register=True, dense=True))
    if res["failed"]:
        raise RuntimeError(f"{name}: priors failed for {sorted(res['failed'])[:5]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sets", nargs="+", default=list(TASK_OF), choices=list(TASK_OF))
    ap.add_argument("--workers", nargs="+", type=int, default=[0, 2])
    ap.add_argument("--fusions", nargs="+", default=["sft", "deformable"])
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--gt-size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=DemoConfig.batch)
    ap.add_argument("--width", type=int, default=DemoConfig.width, help="NAFNet width of the demo host")
    ap.add_argument("--host", default="demo", choices=list(HOSTS),
                    help="demo: the demo's small NAFNet (--width); nafnet-sidd-w32: NAFNet at the size of the "
                         "published SIDD width-32 option file")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of each training process")
    ap.add_argument("--out", type=Path, default=Path("bench_iter_cost_out"))
    args = ap.parse_args(argv)
    out = args.out.resolve()
    cache_dir = out / "priors"
    # variant name -> (fusion, confidence passed), None: no prior line
    variants = {"none": None, **{f"{f}+conf": (f, True) for f in args.fusions}, "sft-noconf": ("sft", False)}
    times: dict[tuple[str, int, str], list[float]] = {}
    for set_name in args.sets:
        train, val = args.data / set_name / "train", args.data / set_name / "val"
        if not (train / "lq").is_dir():
            raise SystemExit(f"{train}: expected <data>/{set_name}/train/{{lq,gt}} (pass --data)")
        pset = f"{set_name}-generative"
        fill_priors(train, cache_dir, pset)
        fill_priors(val, cache_dir, pset)
        for workers in args.workers:
            for rep in range(args.repeats):
                for v, prior in variants.items():
                    line = None
                    if prior is not None:
                        fusion, conf = prior
                        line = (f"prior: {{cache: {cache_dir}, set: {pset}, fusion: {fusion}, "
                                f"confidence: {'true' if conf else 'false'}}}")
                    text = option_text(task=TASK_OF[set_name], train_lq=train / "lq", train_gt=train / "gt",
                                       val_lq=val / "lq", val_gt=val / "gt", iters=args.iters, width=args.width,
                                       batch=args.batch, gt_size=args.gt_size, lr=2e-3, seed=10, prior_line=line)
                    text = text.replace("num_worker_per_gpu: 0", f"num_worker_per_gpu: {workers}", 1)
                    host = HOSTS[args.host]
                    if host is not None:
                        text = (text.replace(f"width: {args.width}\n", f"width: {host['width']}\n", 1)
                                .replace("middle_blk_num: 1\n", f"middle_blk_num: {host['middle_blk_num']}\n", 1)
                                .replace("enc_blk_nums: [1, 1, 1]", f"enc_blk_nums: {host['enc_blk_nums']}", 1)
                                .replace("dec_blk_nums: [1, 1, 1]", f"dec_blk_nums: {host['dec_blk_nums']}", 1))
                    run = f"{args.host}_{set_name}_w{workers}_r{rep}_{v.replace('+', '_')}"
                    opt = out / "options" / f"{run}.yml"
                    opt.parent.mkdir(parents=True, exist_ok=True)
                    opt.write_text(text)
                    cfg = DemoConfig(out=out, iters=args.iters, progress=False, threads=args.threads)
                    res = train_run(cfg, opt_path=opt, run_name=run, label=run)
                    its = [s for i, s in iteration_times(res["log"]) if i > args.warmup]
                    if not its:
                        raise RuntimeError(f"{res['log']}: no iteration times after warm-up {args.warmup}")
                    times.setdefault((set_name, workers, v), []).append(statistics.median(its))
                    print(f"[bench_iter_cost] {run}: {statistics.median(its) * 1000:.0f} ms/iter", file=sys.stderr,
                          flush=True)
    host = f"NAFNet width {args.width}" if HOSTS[args.host] is None else f"{args.host} {HOSTS[args.host]}"
    lines = [f"BasicSR training iteration, crop {args.gt_size}, batch {args.batch}, {host}, "
             f"{args.iters} iterations (median after {args.warmup}), {args.repeats} interleaved repeats; "
             "real training sets, simulated priors (preset generative, dense-aligned).", "",
             "| set | workers | variant | ms / iteration | ratio to none |", "|---|---|---|---|---|"]
    result = []
    for set_name in args.sets:
        for workers in args.workers:
            base = statistics.median(times[(set_name, workers, "none")])
            for v in variants:
                t = statistics.median(times[(set_name, workers, v)])
                lines.append(f"| {set_name} | {workers} | {v} | {t * 1000:.0f} | {t / base:.2f} |")
                result.append({"set": set_name, "workers": workers, "variant": v, "s_per_iter": t,
                               "ratio": t / base, "runs": times[(set_name, workers, v)]})
    (out / f"results_{args.host}.json").write_text(json.dumps({"command": " ".join(sys.argv), "rows": result}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
