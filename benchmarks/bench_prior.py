"""Benchmark of issue 9: the demo's prior comparison, longer, on the three tasks, with seeds, and two ablations.

Parts (``--part``, several allowed):

- ``main``: for each task and seed, the demo's three runs (no prior, classical prior, simulated GPT-like prior:
  misaligned by up to 4 px, then registered to its input by the cache's alignment as the demo makes it, as
  ``generate`` / ``import`` treat GPT outputs), plus the same simulated prior stored raw (unregistered), trained through BasicSR with :func:`basicsr_plugins.demo.train_run`
  on option files from :func:`basicsr_plugins.demo.option_text`, restored with
  :func:`basicsr_plugins.restore.restore_folder` and scored with BasicSR's PSNR / SSIM. Goal: the simulated prior lifts
  validation PSNR by >= 1.5 dB over no prior at equal iterations on every task.
- ``shift``: PSNR with the simulated prior as its translation grows (``--shifts``, ``max_shift_px`` of
  :class:`gpt4o_prior.providers.simulated.SimulatedProvider`: a shift of ``s/2`` to ``s`` px in a random
  direction), for each fusion block (``--fusions``), with the prior stored ``raw`` (misaligned) and ``aligned``
  (passed through :func:`gpt4o_prior.align.align_prior` against the degraded input before it is stored).
- ``dropout``: the model trained with prior dropout (``--dropouts``: a rate = the ``dropout`` key of ``prior:``
  with fill ``input``; ``pair`` = ``dropout_mode: pair`` with its default fill ``none``; either with ``-<fill>``,
  e.g. ``0.3-none``, ``pair-input``) evaluated with its prior, with ``prior_scale = 0`` (the host alone: the
  no-prior mode of fill ``none``) and with the input as prior (what ``fallback: input`` gives at test time: the
  no-prior mode of fill ``input``), against the baseline. Goal: run without its prior it loses <= 0.3 dB to the
  baseline.

Everything goes under ``--out`` (default ``bench_prior_out/``): ``work/seed<N>/`` (the demo's datasets, prior
cache, options, BasicSR experiments and logs for that seed), ``results.json`` (one entry per run, keyed by task,
seed, iterations and variant; a run whose entry exists is skipped, so the command is resumable), ``results.md``
(the tables), ``shift_<task>_<iters>.png`` (the shift curves) and ``dropout_<iters>.png`` (gain with the prior
against the loss without it, per dropout setting). ``--retrain`` ignores stored entries.

Usage:
    .venv/bin/python benchmarks/bench_prior.py --part main --tasks dehaze derain lowlight --seeds 10 --iters 500
    .venv/bin/python benchmarks/bench_prior.py --part shift --tasks dehaze --fusions sft --iters 300
    .venv/bin/python benchmarks/bench_prior.py --part dropout --dropouts 0.1 pair --tasks dehaze --iters 500
    .venv/bin/python benchmarks/bench_prior.py --report-only     # rebuild results.md / PNGs from results.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpt4o_prior.augment import default_dropout_fill
from basicsr_plugins.demo import TASKS, DemoConfig, option_text, prepare_task, train_run
from gpt4o_prior.providers.simulated import SimulatedProvider

__all__ = ["main"]

DEMO_SHIFT = 4.0  # the demo's simulated prior: SimulatedProvider's default max_shift_px


# --------------------------------------------------------------------------------------------- runs
def _cfg(args: argparse.Namespace, seed: int) -> DemoConfig:
    return DemoConfig(out=(Path(args.out) / "work" / f"seed{seed}").resolve(), tasks=tuple(args.tasks),
                      iters=args.iters, width=args.width, batch=args.batch, gt_size=args.gt_size, lr=args.lr,
                      seed=seed, crop=args.crop, limit_train=args.limit_train, limit_val=args.limit_val,
                      progress=not args.no_progress, threads=args.threads)


def _sim_set(cfg: DemoConfig, task: str, prep: dict, *, shift: float, aligned: bool) -> str:
    """Name of the simulated prior set with translation bound ``shift`` (filled on first use)."""
    from gpt4o_prior.providers.base import fill_cache

    if shift == DEMO_SHIFT and aligned:
        return prep["sets"]["simulated"]  # the demo's own set (registered): the main comparison's run is shared
    name = f"bench-{task}-sim{shift:g}-{'aligned' if aligned else 'raw'}"
    provider = SimulatedProvider(seed=cfg.seed, max_shift_px=shift, register=aligned)
    for split in (prep["train"], prep["val"]):
        res = fill_cache([lq for lq, _ in split.pairs()], cache=prep["cache"], set_name=name, provider=provider,
                         targets=lambda p, _gt=split.gt_dir: _gt / Path(p).name, progress=cfg.progress)
        if res["failed"]:
            raise RuntimeError(f"{name}: priors failed for {sorted(res['failed'])[:5]}")
    return name


def _prior_mean_psnr(prep: dict, set_name: str) -> float:
    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.report import image_metrics

    vals = [image_metrics(prep["cache"].load_prior(set_name, lq), read_rgb(gt))["psnr"]
            for lq, gt in prep["val"].pairs()]
    return float(np.mean(vals))


def _train_and_score(cfg: DemoConfig, task: str, prep: dict, *, name: str, prior: dict | None) -> dict[str, Any]:
    """Write the option file (``prior``: the ``prior:`` mapping, or None), train, restore the val set, score."""
    from gpt4o_prior.report import folder_metrics
    from basicsr_plugins.restore import restore_folder

    train, val = prep["train"], prep["val"]
    line = None
    if prior is not None:
        line = "prior: {" + ", ".join(f"{k}: {v}" for k, v in prior.items()) + "}"
    opt_dir = cfg.out / "options"
    opt_dir.mkdir(parents=True, exist_ok=True)
    opt_path = opt_dir / f"{name}.yml"
    opt_path.write_text(option_text(task=task, train_lq=train.lq_dir, train_gt=train.gt_dir, val_lq=val.lq_dir,
                                    val_gt=val.gt_dir, iters=cfg.iters, width=cfg.width, batch=cfg.batch,
                                    gt_size=min(cfg.gt_size, cfg.crop or cfg.gt_size), lr=cfg.lr, seed=cfg.seed,
                                    prior_line=line))
    res = train_run(cfg, opt_path=opt_path, run_name=name, label=name)
    restored = cfg.out / "restored" / name
    restore_folder(val.lq_dir, opt=opt_path, checkpoint=res["checkpoint"], out_dir=restored, progress=False)
    m = folder_metrics(restored, val.gt_dir, val.names)
    return {"psnr": m["psnr"], "ssim": m["ssim"], "basicsr_psnr": res["basicsr_val"].get("psnr"),
            "train_s": round(res["seconds"], 1), "option_file": str(opt_path), "checkpoint": str(res["checkpoint"]),
            "prior_line": line}


def _eval_without_prior(entry: dict, prep: dict) -> dict[str, Any]:
    """Score a prior-trained checkpoint with ``prior_scale = 0`` and with the input as its prior."""
    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.report import image_metrics
    from basicsr_plugins.restore import build_network, load_options
    from gpt4o_prior.restore import restore_image

    net = build_network(load_options(entry["option_file"]), entry["checkpoint"])
    holders = [m for m in net.modules() if hasattr(m, "prior_scale")]
    if not holders:
        raise RuntimeError(f"{entry['checkpoint']}: no prior branch (prior_scale) found")
    out: dict[str, Any] = {}
    for mode in ("scale0", "fill_input"):
        for m in holders:
            m.prior_scale = 0.0 if mode == "scale0" else 1.0
        scores = []
        for lq, gt in prep["val"].pairs():
            img = read_rgb(lq)
            y = restore_image(net, img, prior=img)  # prior_scale 0 ignores the prior
            scores.append(image_metrics(y, read_rgb(gt)))
        out[mode] = {"psnr": float(np.mean([s["psnr"] for s in scores])),
                     "ssim": float(np.mean([s["ssim"] for s in scores]))}
    return out


class Store:
    """``results.json``: run key -> entry; written after every run (resumable)."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"runs": {}, "commands": []}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        tmp.replace(self.path)


def _key(task: str, seed: int, iters: int, variant: str) -> str:
    return f"{task}/seed{seed}/iters{iters}/{variant}"


def _drop_str(dropout: float | str) -> str:
    """A dropout setting as the tables show it: ``0.1``, ``0.3-none``, ``pair``, ``pair-input``, ..."""
    return dropout if isinstance(dropout, str) else f"{dropout:g}"


def _drop_arg(text: str) -> float | str:
    """``--dropouts`` values: a rate (fill ``input``), ``pair`` (fill ``none``), or either with ``-<fill>``."""
    _drop_parts(text)  # a bad value fails here, while the arguments are parsed
    return text if "-" in text or text == "pair" else float(text)


def _drop_parts(dropout: float | str) -> tuple[str, float | None, str | None]:
    """``(dropout_mode, rate or None, dropout_fill as written or None)`` of a ``--dropouts`` value."""
    if not isinstance(dropout, str):
        return "sample", float(dropout), None
    head, _, fill = dropout.partition("-")
    return ("pair", None, fill or None) if head == "pair" else ("sample", float(head), fill or None)


def _drop_keys(dropout: float | str) -> dict[str, Any]:
    """The ``prior:`` keys of a ``--dropouts`` value."""
    mode, rate, fill = _drop_parts(dropout)
    keys: dict[str, Any] = {"dropout_mode": mode} if mode == "pair" else {"dropout": rate}
    if fill:
        keys["dropout_fill"] = fill
    return keys


def _drop_fill(dropout: float | str) -> str:
    """The fill a ``--dropouts`` value trains with (written, or its mode's default)."""
    mode, _, fill = _drop_parts(dropout)
    return fill or default_dropout_fill(mode)


def _variant_sim(shift: float, fusion: str, aligned: bool, dropout: float | str) -> str:
    return f"sim{shift:g}-{fusion}-{'aligned' if aligned else 'raw'}-drop{_drop_str(dropout)}"


def run_parts(args: argparse.Namespace) -> Store:
    store = Store(Path(args.out) / "results.json")
    store.data["commands"].append({"argv": sys.argv, "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())})
    store.save()
    runs = store.data["runs"]
    for seed in args.seeds:
        cfg = _cfg(args, seed)
        cfg.out.mkdir(parents=True, exist_ok=True)
        for task in args.tasks:
            prep = prepare_task(cfg, task)
            jobs: list[tuple[str, dict | None, dict]] = []  # (variant, prior mapping, fields)
            base_prior = {"cache": prep["cache"].root}
            main = set(args.main_variants) if "main" in args.part else set()
            jobs.append(("baseline", None, {"kind": "baseline"}))
            if "classical" in main:
                jobs.append(("classical", {**base_prior, "set": prep["sets"]["classical"]}, {"kind": "classical"}))
            sim_specs = [(DEMO_SHIFT, "sft", aligned, 0.1) for aligned, v in ((True, "aligned"), (False, "raw"))
                         if v in main]
            if "shift" in args.part:
                sim_specs += [(s, f, a == "aligned", 0.1) for f in args.fusions for a in args.align
                              for s in args.shifts]
            if "dropout" in args.part:
                sim_specs += [(DEMO_SHIFT, "sft", True, d) for d in args.dropouts]
            for shift, fusion, aligned, drop in dict.fromkeys(sim_specs):
                set_name = _sim_set(cfg, task, prep, shift=shift, aligned=aligned)
                prior = {**base_prior, "set": set_name, "fusion": fusion, **_drop_keys(drop)}
                jobs.append((_variant_sim(shift, fusion, aligned, drop), prior,
                             {"kind": "simulated", "shift": shift, "fusion": fusion, "aligned": aligned,
                              "dropout": drop, "prior_alone_psnr": _prior_mean_psnr(prep, set_name)}))
            for variant, prior, fields in jobs:
                key = _key(task, seed, args.iters, variant)
                if key in runs and not args.retrain:
                    print(f"[skip] {key}: {runs[key]['psnr']:.2f} dB", file=sys.stderr)
                else:
                    name = f"bench_{task}_s{seed}_i{args.iters}_{variant}".replace(".", "p")
                    t0 = time.strftime("%H:%M:%S", time.gmtime())
                    entry = _train_and_score(cfg, task, prep, name=name, prior=prior)
                    runs[key] = {"task": task, "seed": seed, "iters": args.iters, "variant": variant, **fields,
                                 **entry, "started_utc": t0, "n_val": len(prep["val"].names)}
                    store.save()
                    print(f"[done] {key}: {entry['psnr']:.2f} dB ({entry['train_s']:.0f} s)", file=sys.stderr)
                if "dropout" in args.part and fields.get("kind") == "simulated" and fields["fusion"] == "sft" \
                        and fields["shift"] == DEMO_SHIFT and fields["aligned"] \
                        and fields["dropout"] in args.dropouts and "no_prior_eval" not in runs[key]:
                    runs[key]["no_prior_eval"] = _eval_without_prior(runs[key], prep)
                    store.save()
    return store


# --------------------------------------------------------------------------------------------- report
def _agg(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def _mean(values: list[float]) -> float | None:
    return statistics.mean(values) if values else None


def write_report(store: Store, out: Path) -> str:
    """Markdown tables of everything in ``results.json`` (grouped by iterations); shift curves as PNGs."""
    runs = list(store.data["runs"].values())
    parts: list[str] = []
    for iters in sorted({r["iters"] for r in runs}):
        rs = [r for r in runs if r["iters"] == iters]
        tasks = [t for t in TASKS if any(r["task"] == t for r in rs)]

        def pick(task, **kw):
            return [r for r in rs if r["task"] == task and all(r.get(k) == v for k, v in kw.items())]

        # main comparison
        rows = []
        for task in tasks:
            b = pick(task, kind="baseline")
            c = pick(task, kind="classical")
            sa = pick(task, kind="simulated", shift=DEMO_SHIFT, fusion="sft", aligned=True, dropout=0.1)
            sr = pick(task, kind="simulated", shift=DEMO_SHIFT, fusion="sft", aligned=False, dropout=0.1)
            if not (b and (c or sa or sr)):
                continue

            def gains(sim):
                by_seed = {r["seed"]: r["psnr"] for r in b}
                return [r["psnr"] - by_seed[r["seed"]] for r in sorted(sim, key=lambda r: r["seed"])
                        if r["seed"] in by_seed]

            ga, gr = gains(sa), gains(sr)
            g = _mean(ga)
            rows.append(f"| {task} | {', '.join(str(r['seed']) for r in sorted(b, key=lambda r: r['seed']))} | "
                        f"{_agg([r['psnr'] for r in b])} | {_agg([r['psnr'] for r in c])} | "
                        f"{_agg([r['psnr'] for r in sr])} ({_agg(gr)}) | {_agg([r['psnr'] for r in sa])} | "
                        f"**{_agg(ga)}** | {'-' if g is None else ('met' if min(ga) >= 1.5 else 'not met')} |")
        if rows:
            parts.append(f"#### Main comparison, {iters} iterations: validation PSNR (dB), mean ± sd over seeds\n\n"
                         "| task | seeds | no prior | classical prior | simulated prior stored raw (gain) | "
                         "simulated prior aligned by the cache | gain of the aligned simulated prior | "
                         "goal >= 1.5 dB on every seed |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n"
                         + "\n".join(rows) + "\n")
        # shift ablation
        for task in tasks:
            sim = pick(task, kind="simulated", dropout=0.1)
            # the seeds the ablation ran with (the main comparison may have more at the demo's shift)
            seeds = {r["seed"] for r in sim if r["shift"] != DEMO_SHIFT}
            sim = [r for r in sim if r["seed"] in seeds]
            shifts = sorted({r["shift"] for r in sim})
            combos = sorted({(r["fusion"], r["aligned"]) for r in sim})
            if len(shifts) < 2:
                continue
            b = [r for r in pick(task, kind="baseline") if r["seed"] in seeds]
            head = "| fusion | prior stored | " + " | ".join(f"shift <= {s:g} px" for s in shifts) + " |"
            lines = [head, "| --- | --- |" + " ---: |" * len(shifts)]
            for fusion, aligned in combos:
                cells = [_agg([r["psnr"] for r in sim if r["fusion"] == fusion and r["aligned"] == aligned
                               and r["shift"] == s]) for s in shifts]
                lines.append(f"| {fusion} | {'aligned' if aligned else 'raw'} | " + " | ".join(cells) + " |")
            for aligned in sorted({a for _, a in combos}):
                cells = [_agg([r["prior_alone_psnr"] for r in sim if r["aligned"] == aligned and r["shift"] == s
                               and r["fusion"] == combos[0][0]]) for s in shifts]
                lines.append(f"| (prior alone) | {'aligned' if aligned else 'raw'} | " + " | ".join(cells) + " |")
            lines.append("| no prior | - | " + " | ".join([_agg([r["psnr"] for r in b])] * len(shifts)) + " |")
            png = out / f"shift_{task}_{iters}.png"
            _plot_shift(png, task, iters, sim, b, shifts, combos)
            parts.append(f"#### Shift ablation, {task}, {iters} iterations, seed {', '.join(map(str, sorted(seeds)))}: "
                         "validation PSNR (dB)\n\n"
                         + "\n".join(lines) + f"\n\nPlot: `{png.name}`\n")
        # dropout
        rows = []
        points: dict[str, dict[str, list[tuple[float, float]]]] = {}  # task -> setting -> (loss, gain) per seed
        for task in tasks:
            b = pick(task, kind="baseline")
            evaluated = [r for r in rs if r["task"] == task and "no_prior_eval" in r]
            for r in sorted(evaluated, key=lambda r: (not r["aligned"], isinstance(r["dropout"], str),
                                                      str(r["dropout"]), r["seed"])):
                base = [x["psnr"] for x in b if x["seed"] == r["seed"]]
                if not base:
                    continue
                ev = r["no_prior_eval"]
                loss0 = base[0] - ev["scale0"]["psnr"]
                loss1 = base[0] - ev["fill_input"]["psnr"]
                fill = _drop_fill(r["dropout"])
                own = loss0 if fill == "none" else loss1  # the no-prior mode the model was trained for
                if r["aligned"]:
                    points.setdefault(task, {}).setdefault(_drop_str(r["dropout"]), []).append(
                        (own, r["psnr"] - base[0]))
                rows.append(f"| {task} | {'aligned' if r['aligned'] else 'raw'} | {r['seed']} | "
                            f"{_drop_str(r['dropout'])} | {fill} | {base[0]:.2f} | {r['psnr']:.2f} "
                            f"({r['psnr'] - base[0]:+.2f}) | {ev['scale0']['psnr']:.2f} ({loss0:+.2f}) | "
                            f"{ev['fill_input']['psnr']:.2f} ({loss1:+.2f}) | "
                            f"{'met' if own <= 0.3 else 'not met'} ({own:+.2f}) |")
        if rows:
            parts.append(f"#### Prior dropout, {iters} iterations: validation PSNR (dB)\n\n"
                         "The no-prior mode a model is trained for: fill `input` -> the input given as its prior "
                         "(`fallback: input`); fill `none` -> the host alone (`prior_scale` 0, `prior=None`, "
                         "`restore --no-prior`). Losses are to the no-prior baseline of the same seed.\n\n"
                         "| task | prior stored | seed | dropout | fill | no-prior baseline | prior model, with its "
                         "prior (gain) | same, host alone (loss) | same, input as prior (loss) | goal: loss <= 0.3 "
                         "dB in its own no-prior mode |\n"
                         "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n"
                         + "\n".join(rows) + "\n")
            png = out / f"dropout_{iters}.png"
            _plot_dropout(png, iters, points)
            parts.append(f"Plot: `{png.name}` (each setting's mean over its seeds, aligned priors)\n")
    text = "\n".join(parts)
    (out / "results.md").write_text(text)
    return text


def _plot_dropout(path: Path, iters: int, points: dict[str, dict[str, list[tuple[float, float]]]]) -> None:
    """Gain with the prior against the loss without it, one panel per task, one point per dropout setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in TASKS if t in points]
    settings = sorted({k for per_task in points.values() for k in per_task}, key=lambda k: (k.startswith("pair"), k))
    colours = {k: f"C{n % 10}" for n, k in enumerate(settings)}

    def label(setting: str) -> str:
        mode, rate, _ = _drop_parts(setting)
        return f"{'pair' if mode == 'pair' else f'dropout {rate:g}'}, fill {_drop_fill(setting)}"

    fig, axes = plt.subplots(1, len(tasks), figsize=(4.0 * len(tasks) + 2.2, 3.6), dpi=120, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for setting, vals in points[task].items():
            x, y = statistics.mean(v[0] for v in vals), statistics.mean(v[1] for v in vals)
            ax.scatter([x], [y], s=36, color=colours[setting], marker="s" if setting.startswith("pair") else "o",
                       label=f"{label(setting)}")
            ax.annotate(f"n={len(vals)}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6)
        ax.axvspan(ax.get_xlim()[0], 0.3, color="green", alpha=0.07)
        ax.axvline(0.3, color="k", ls=":", lw=1)
        ax.set_xlabel("dB lost without the prior (own no-prior mode)")
        ax.set_ylabel("dB gained with the prior")
        ax.set_title(f"{task}, {iters} iterations")
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=7,
               title="shaded: goal (loss <= 0.3 dB)", title_fontsize=7)
    fig.tight_layout(rect=(0, 0, 1 - 2.2 / (4.0 * len(tasks) + 2.2), 1))
    fig.savefig(path)
    plt.close(fig)


def _plot_shift(path: Path, task: str, iters: int, sim: list, base: list, shifts: list, combos: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for fusion, aligned in combos:
        xs, ys = [], []
        for s in shifts:
            v = [r["psnr"] for r in sim if r["fusion"] == fusion and r["aligned"] == aligned and r["shift"] == s]
            if v:
                xs.append(s)
                ys.append(statistics.mean(v))
        ax.plot(xs, ys, marker="o", ls="-" if aligned else "--", label=f"{fusion}, {'aligned' if aligned else 'raw'}")
    if base:
        ax.axhline(statistics.mean(r["psnr"] for r in base), color="k", ls=":", label="no prior")
    ax.set_xlabel("simulated prior: max shift (px; drawn in [s/2, s])")
    ax.set_ylabel("validation PSNR (dB)")
    ax.set_title(f"{task}, {iters} iterations")
    ax.set_xticks(shifts)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    d = DemoConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", nargs="+", default=["main"], choices=["main", "shift", "dropout"])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[d.seed])
    p.add_argument("--iters", type=int, default=d.iters)
    p.add_argument("--out", default="bench_prior_out")
    p.add_argument("--main-variants", nargs="+", default=["classical", "aligned", "raw"],
                   choices=["classical", "aligned", "raw"],
                   help="runs of --part main beside the baseline: classical prior, simulated prior aligned / raw")
    p.add_argument("--shifts", nargs="+", type=float, default=[0, 4, 16, 32])
    p.add_argument("--fusions", nargs="+", default=["sft", "cross_attention"])
    p.add_argument("--align", nargs="+", default=["raw", "aligned"], choices=["raw", "aligned"])
    p.add_argument("--dropouts", nargs="+", type=_drop_arg, default=[0.1],
                   help="prior dropout rates of the dropout part (0.1 = the demo's / prior:'s default), or "
                        "'pair' (dropout_mode: pair: every sample trained with and without its prior, fill none); "
                        "either with '-<fill>' for another dropout_fill (e.g. 0.3-none, pair-input)")
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--gt-size", type=int, default=d.gt_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--crop", type=int, default=None, help="tiny settings (tests): centre crop of the images")
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--limit-val", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--retrain", action="store_true", help="ignore stored results and train again")
    p.add_argument("--report-only", action="store_true", help="only rebuild results.md and the PNGs")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    store = Store(out / "results.json") if args.report_only else run_parts(args)
    print(write_report(store, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
