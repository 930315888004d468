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

``--part data`` times only the training dataset's ``__getitem__`` (BasicSR's ``PairedImageDataset`` against
its prior twin with the confidence, built from the same option files, samples interleaved): what the prior adds to
the data side. ``--part model`` times only the network's forward and backward on a random batch of the crop size
(the host against the host with its prior branch; one thread unless ``--threads``): what it adds to the model
side. Together they say which side a ratio above the goal comes from.

Usage:
    .venv/bin/python benchmarks/bench_iter_cost.py --sets dehaze_sots_indoor derain_rain100h --workers 0 2
    .venv/bin/python benchmarks/bench_iter_cost.py --part data model --sets dehaze_sots_indoor
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import time
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


def _option_text(args, set_name: str, train: Path, val: Path, line: str | None, workers: int) -> str:
    text = option_text(task=TASK_OF[set_name], train_lq=train / "lq", train_gt=train / "gt", val_lq=val / "lq",
                       val_gt=val / "gt", iters=args.iters, width=args.width, batch=args.batch,
                       gt_size=args.gt_size, lr=2e-3, seed=10, prior_line=line)
    text = text.replace("num_worker_per_gpu: 0", f"num_worker_per_gpu: {workers}", 1)
    host = HOSTS[args.host]
    if host is not None:
        text = (text.replace(f"width: {args.width}\n", f"width: {host['width']}\n", 1)
                .replace("middle_blk_num: 1\n", f"middle_blk_num: {host['middle_blk_num']}\n", 1)
                .replace("enc_blk_nums: [1, 1, 1]", f"enc_blk_nums: {host['enc_blk_nums']}", 1)
                .replace("dec_blk_nums: [1, 1, 1]", f"dec_blk_nums: {host['dec_blk_nums']}", 1))
    return text


def _parsed(text: str) -> dict:
    import yaml

    from basicsr_plugins.prior_option import apply_prior_option

    opt = yaml.safe_load(text)
    opt.update(is_train=True, dist=False)
    return apply_prior_option(opt)


def time_data(args, set_name: str, train: Path, val: Path, line: str, samples: int) -> list[str]:
    """Median ms per training sample of the plain and the prior dataset, interleaved, same random state."""
    import random

    import numpy as np
    from basicsr.data import build_dataset

    import basicsr_plugins  # noqa: F401  (registers the prior datasets)

    sets = {}
    for v, ln in (("none", None), ("sft+conf", line)):
        d = _parsed(_option_text(args, set_name, train, val, ln, 0))["datasets"]["train"]
        d.update(phase="train", scale=1)
        sets[v] = build_dataset(d)
    times = {v: [] for v in sets}
    n = len(sets["none"].paths)
    for i in range(samples + 4):
        for v, ds in sets.items():
            random.seed(i)
            np.random.seed(i)
            t = time.perf_counter()
            ds[i % n]
            if i >= 4:  # the first reads warm the page cache and the input-hash memo
                times[v].append(time.perf_counter() - t)
    med = {v: statistics.median(t) * 1000 for v, t in times.items()}
    return [f"| {set_name} | data: one training sample | {v} | {m:.1f} ms | {m / med['none']:.2f} | "
            f"+{m - med['none']:.1f} ms |" for v, m in med.items()]


def time_model(args, set_name: str, train: Path, val: Path, line: str, steps: int) -> list[str]:
    """Median ms of forward + backward of the host and of the host with its prior branch, interleaved."""
    import torch
    from basicsr.archs import build_network

    import basicsr_plugins  # noqa: F401  (registers the prior architecture)

    torch.set_num_threads(args.threads or 1)
    nets = {}
    for v, ln in (("none", None), ("sft+conf", line)):
        torch.manual_seed(0)
        nets[v] = build_network(_parsed(_option_text(args, set_name, train, val, ln, 0))["network_g"])
    g = torch.Generator().manual_seed(0)
    shape = (args.batch, 3, args.gt_size, args.gt_size)
    x, p = torch.rand(shape, generator=g), torch.rand(shape, generator=g)
    c = torch.rand((args.batch, 1, args.gt_size, args.gt_size), generator=g)
    times = {v: [] for v in nets}
    for i in range(steps + 2):
        for v, net in nets.items():
            t = time.perf_counter()
            out = net(x) if v == "none" else net(x, prior=p, confidence=c)
            out.abs().mean().backward()
            if i >= 2:
                times[v].append(time.perf_counter() - t)
    med = {v: statistics.median(t) * 1000 for v, t in times.items()}
    return [f"| {set_name} | model: forward + backward, batch {args.batch} | {v} | {m:.0f} ms | "
            f"{m / med['none']:.2f} | +{m - med['none']:.0f} ms |" for v, m in med.items()]


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
    ap.add_argument("--part", nargs="+", default=["train"], choices=["train", "data", "model"],
                    help="train: whole BasicSR iterations (the goal's measure); data / model: each side alone")
    ap.add_argument("--samples", type=int, default=64, help="--part data: samples timed per dataset")
    ap.add_argument("--steps", type=int, default=10, help="--part model: steps timed per network")
    args = ap.parse_args(argv)
    if "train" not in args.part:
        return main_parts(args)
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
                    text = _option_text(args, set_name, train, val, line, workers)
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


def main_parts(args) -> int:
    """``--part data`` / ``--part model``: each side of the iteration alone (see the module docstring)."""
    cache_dir = args.out.resolve() / "priors"
    host = f"NAFNet width {args.width}" if HOSTS[args.host] is None else f"{args.host} {HOSTS[args.host]}"
    lines = [f"{host}, crop {args.gt_size}, one thread; real training sets, simulated priors (preset generative, "
             "dense-aligned), sft with confidence.", "",
             "| set | what | variant | median | ratio to none | added |", "|---|---|---|---|---|---|"]
    for set_name in args.sets:
        train, val = args.data / set_name / "train", args.data / set_name / "val"
        pset = f"{set_name}-generative"
        fill_priors(train, cache_dir, pset)
        fill_priors(val, cache_dir, pset)
        line = f"prior: {{cache: {cache_dir}, set: {pset}, fusion: sft, confidence: true}}"
        if "data" in args.part:
            lines += time_data(args, set_name, train, val, line, args.samples)
        if "model" in args.part:
            lines += time_model(args, set_name, train, val, line, args.steps)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
