"""Benchmark of issue 13: does the prior still help when it is as misaligned and invented as real generative outputs?

Real degraded inputs, simulated priors. Three tasks:

- ``dehaze``: ``<data>/dehaze_sots_indoor/{train,val}/{lq,gt}`` (RESIDE SOTS-indoor, real haze renderings);
- ``derain``: ``<data>/derain_rain100h/{train,val}/{lq,gt}`` (Rain100H);
- ``lowlight``: the clean images (``gt``) of both, darkened with :func:`gpt4o_prior.data.lowlight.darken`
  (synthetic degradation of real photographs; the split of each source set is kept).

``<data>`` is ``--data`` (default ``../shared/realdata`` beside the checkout when it exists). Without it the bundled
images are degraded synthetically for all three tasks (what the smoke test uses): the report then says so.

Priors come from :class:`gpt4o_prior.providers.simulated.SimulatedProvider` with a named preset (``mild``: the old
default; ``generative``: calibrated to real generative outputs by ``bench_diagnose.py``; ``harsh``), made from
each image's clean target and registered to its degraded input by the cache's alignment, as ``generate`` /
``import`` treat real outputs. Variants, each trained through BasicSR (NAFNet, :func:`basicsr_plugins.demo.option_text`)
and scored on the validation split with BasicSR's PSNR / SSIM:

- ``none``: the option file without its ``prior:`` line;
- ``today``: global registration only (``dense=False``), ``sft`` fusion, no confidence (``confidence: false``);
- ``new``: global + dense alignment with its confidence map, the confidence passed to the fusion (``--fusion``,
  default ``sft``, the kind of ``today``);
- ``control``: the ``new`` pipeline, but every input gets the calibrated prior made from *another* image of its
  split (resized to the input's size), registered and scored for confidence like any prior: a wrong prior must
  not hurt.

Parts (``--part``): ``main`` (all four variants at ``--preset``, default ``generative``), ``sweep`` (``today`` and
``new`` at the other presets of ``--sweep-presets``, for the plot of gain against realism), ``grids`` (input,
prior, its confidence, the restorations, ground truth for the first ``--grid-images`` validation images of the
first seed), ``confidence-grid`` (alone: bundled images only, no training: input, simulated prior as made,
registered, dense-aligned, its confidence, the confidence of another image's prior, ground truth). ``results.json`` under ``--out`` keeps every run (resumable; ``--retrain`` ignores it); ``results.md``,
``realism_gain.png`` and ``grids/`` are rebuilt from it.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_realism.py --part main sweep grids --seeds 10 11 12
    .venv/bin/python benchmarks/bench_realism.py --report-only
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_prior import Store, _train_and_score  # noqa: E402  (the same training / scoring as bench_prior)

from gpt4o_prior.data.paired import PairedDataset  # noqa: E402
from basicsr_plugins.demo import DemoConfig  # noqa: E402

__all__ = ["main", "prepare_real", "control_targets"]

TASKS = ("dehaze", "derain", "lowlight")
REAL_DIRS = {"dehaze": ("dehaze_sots_indoor",), "derain": ("derain_rain100h",),
             "lowlight": ("dehaze_sots_indoor", "derain_rain100h")}
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
VARIANTS = ("none", "today", "new", "control")
#: variants run only when named in --variants: ``dense-noconf`` (dense alignment, confidence not passed): which
#: part of the new pipeline's gain (or loss) is the confidence gate's
EXTRA_VARIANTS = ("dense-noconf",)


# --------------------------------------------------------------------------------------------- data
def _stems(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.png"))


def _real_split(root: Path, name: str, split: str) -> PairedDataset:
    base = root / name / split
    lq, gt = base / "lq", base / "gt"
    if not lq.is_dir() or not gt.is_dir():
        raise FileNotFoundError(f"{base}: expected the layout <data>/{name}/{split}/{{lq,gt}}/NAME.png")
    names = sorted(set(_stems(lq)) & set(_stems(gt)))
    if not names:
        raise FileNotFoundError(f"{base}: no NAME.png present in both lq/ and gt/")
    return PairedDataset(root=base, lq_dir=lq, gt_dir=gt, names=names, task=name, split=split)


def prepare_real(task: str, *, data: Path | None, work: Path, seed: int, limit_train: int | None = None,
                 limit_val: int | None = None, crop: int | None = None) -> dict[str, Any]:
    """The train / val :class:`PairedDataset` of ``task``.

    With ``data`` (the real-data folder): dehaze and derain read their folders in place (nothing is copied);
    low light darkens the clean images of both sets into ``work/datasets`` (names prefixed by the source set).
    Without ``data``: the bundled images, degraded for ``task`` (:func:`gpt4o_prior.data.make_paired_dataset`).

    Returns:
        dict with ``train``, ``val`` and ``label`` (what the inputs are, for the tables).
    """
    from gpt4o_prior.data import make_paired_dataset
    from gpt4o_prior.data.io import read_rgb

    if data is None:
        kw = dict(seed=seed, crop=crop)
        return {"train": make_paired_dataset(work / "datasets", task, split="train", limit=limit_train, **kw),
                "val": make_paired_dataset(work / "datasets", task, split="val", limit=limit_val, **kw),
                "label": "bundled images, synthetic degradations"}
    out: dict[str, Any] = {}
    for split, limit in (("train", limit_train), ("val", limit_val)):
        sources = [_real_split(data, name, split) for name in REAL_DIRS[task]]
        if task != "lowlight":
            ds = sources[0]
            if limit:
                ds = PairedDataset(root=ds.root, lq_dir=ds.lq_dir, gt_dir=ds.gt_dir, names=ds.names[:limit],
                                   task=ds.task, split=split)
            out[split] = ds
            continue
        images = {}
        for src in sources:
            short = src.task.split("_")[1] if "_" in src.task else src.task
            for n in src.names[:limit] if limit else src.names:
                images[f"{short}_{n}"] = read_rgb(src.gt_dir / f"{n}.png")
        # one seed for the darkening whatever the training seed: every seed sees the same inputs
        out[split] = make_paired_dataset(work / "datasets", "lowlight", images=images, split=split, seed=0)
    out["label"] = ("real degraded inputs (RESIDE SOTS-indoor / Rain100H)" if task != "lowlight" else
                    "real photographs (clean SOTS-indoor + Rain100H), darkened synthetically")
    return out


def control_targets(ds: PairedDataset, folder: Path) -> Path:
    """Write, for every image of ``ds``, the clean target of *another* image of it (the next name, cyclically),
    resized to this image's size, as ``folder/NAME.png``: the targets of the control prior set."""
    from PIL import Image

    from gpt4o_prior.data.io import read_rgb, write_png

    folder.mkdir(parents=True, exist_ok=True)
    names = ds.names
    if len(names) < 2:
        raise ValueError(f"{ds.root}: the control needs at least two images")
    for i, name in enumerate(names):
        path = folder / f"{name}.png"
        if path.is_file():
            continue
        other = read_rgb(ds.gt_dir / f"{names[(i + 1) % len(names)]}.png")
        h, w = read_rgb(ds.lq_dir / f"{name}.png").shape[:2]
        if other.shape[:2] != (h, w):
            other = np.asarray(Image.fromarray(other).resize((w, h), Image.BICUBIC))
        write_png(path, other)
    return folder


def prior_set(prep: dict, cache: Any, work: Path, *, task: str, preset: str, seed: int, dense: bool,
              control: bool = False, progress: bool = False) -> str:
    """Fill (once) and name the simulated prior set of one task, preset, seed and alignment."""
    from gpt4o_prior.providers.base import fill_cache
    from gpt4o_prior.providers.simulated import SimulatedProvider

    name = f"{task}-{preset}-s{seed}-{'dense' if dense else 'global'}{'-control' if control else ''}"
    provider = SimulatedProvider(seed=seed, preset=preset, register=True, dense=dense)
    for split in ("train", "val"):
        ds = prep[split]
        gt_dir = control_targets(ds, work / "control_targets" / task / split) if control else ds.gt_dir
        res = fill_cache([lq for lq, _ in ds.pairs()], cache=cache, set_name=name, provider=provider,
                         targets=lambda p, _gt=gt_dir: _gt / Path(p).name, progress=progress)
        if res["failed"]:
            raise RuntimeError(f"{name}: priors failed for {sorted(res['failed'])[:5]}")
    return name


def prior_stats(prep: dict, cache: Any, set_name: str) -> dict[str, float]:
    """PSNR / SSIM of the aligned priors alone against the ground truth, and their mean confidence (val split)."""
    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.report import image_metrics

    scores, confs = [], []
    for lq, gt in prep["val"].pairs():
        prior, conf = cache.load_prior(set_name, lq, with_confidence=True)
        scores.append(image_metrics(prior, read_rgb(gt)))
        confs.append(float(conf.mean()))
    return {"psnr": float(np.mean([s["psnr"] for s in scores])), "ssim": float(np.mean([s["ssim"] for s in scores])),
            "confidence_mean": float(np.mean(confs))}


# --------------------------------------------------------------------------------------------- runs
def _prior_line(cache: Path, set_name: str, *, fusion: str, confidence: bool) -> dict[str, Any]:
    return {"cache": str(cache), "set": set_name, "fusion": fusion, "confidence": "true" if confidence else "false"}


def _cfg(args: argparse.Namespace, seed: int, tasks: tuple[str, ...]) -> DemoConfig:
    return DemoConfig(out=(Path(args.out) / "work" / f"seed{seed}").resolve(), tasks=tasks, iters=args.iters,
                      width=args.width, batch=args.batch, gt_size=args.gt_size, lr=args.lr, seed=seed,
                      crop=args.crop, limit_train=args.limit_train, limit_val=args.limit_val,
                      progress=not args.no_progress, threads=args.threads)


def _variant_key(task: str, seed: int, iters: int, variant: str, preset: str) -> str:
    return f"{task}/seed{seed}/iters{iters}/{variant}" + ("" if variant == "none" else f"/{preset}")


def run_all(args: argparse.Namespace) -> Store:
    from gpt4o_prior.cache import PriorCache

    out = Path(args.out)
    store = Store(out / "results.json")
    store.data.setdefault("commands", []).append(" ".join(sys.argv))
    store.data["data"] = str(args.data) if args.data else None
    work = out.resolve() / "work"
    cache_dir = work / "priors"
    cache = PriorCache(cache_dir)
    plan: list[tuple[str, str]] = []  # (variant, preset)
    if "main" in args.part:
        plan += [(v, args.preset) for v in args.variants]
    if "sweep" in args.part:
        plan += [(v, p) for p in args.sweep_presets if p != args.preset for v in ("today", "new")]
    for task in args.tasks:
        prep = prepare_real(task, data=args.data, work=work, seed=0, limit_train=args.limit_train,
                            limit_val=args.limit_val, crop=args.crop)
        store.data.setdefault("labels", {})[task] = prep["label"]
        store.data.setdefault("sizes", {})[task] = {"train": len(prep["train"].names), "val": len(prep["val"].names)}
        for seed in args.seeds:
            cfg = _cfg(args, seed, (task,))
            for variant, preset in plan:
                key = _variant_key(task, seed, args.iters, variant, preset)
                if key in store.data["runs"] and not args.retrain:
                    continue
                entry: dict[str, Any] = {"task": task, "seed": seed, "iters": args.iters, "variant": variant,
                                         "preset": None if variant == "none" else preset}
                prior = None
                if variant != "none":
                    dense = variant != "today"
                    t0 = time.perf_counter()
                    name = prior_set(prep, cache, work, task=task, preset=preset, seed=seed, dense=dense,
                                     control=variant == "control", progress=cfg.progress)
                    entry["prior_fill_s"] = round(time.perf_counter() - t0, 1)
                    entry["prior_set"] = name
                    entry["prior_alone"] = prior_stats(prep, cache, name)
                    fusion = "sft" if variant == "today" else args.fusion
                    entry["fusion"] = fusion
                    prior = _prior_line(cache_dir, name, fusion=fusion, confidence=dense and variant != "dense-noconf")
                run_name = key.replace("/", "_")
                print(f"[bench_realism] {key}", file=sys.stderr, flush=True)
                entry.update(_train_and_score(cfg, task, prep, name=run_name, prior=prior))
                store.data["runs"][key] = entry
                store.save()
                print(f"[bench_realism] {key}: {entry['psnr']:.2f} dB ({entry['train_s']} s)", file=sys.stderr,
                      flush=True)
    if "grids" in args.part:
        store.data["grids"] = make_grids(args, store, cache)
        store.save()
    return store


# --------------------------------------------------------------------------------------------- report
def _runs(store: Store, **match: Any) -> list[dict]:
    return [r for r in store.data["runs"].values() if all(r.get(k) == v for k, v in match.items())]


def _fmt(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def _paired_gains(store: Store, task: str, iters: int, variant: str, preset: str) -> list[float]:
    """PSNR gain of ``variant`` over ``none`` per seed (seeds present in both)."""
    base = {r["seed"]: r["psnr"] for r in _runs(store, task=task, iters=iters, variant="none")}
    return [r["psnr"] - base[r["seed"]] for r in _runs(store, task=task, iters=iters, variant=variant, preset=preset)
            if r["seed"] in base]


def goals(store: Store, iters: int, preset: str) -> list[tuple[str, bool | None, str]]:
    """The goals of issue 13, part 5, each ``(goal, met (None: not measured), measurement)``."""
    tasks = [t for t in TASKS if _runs(store, task=t, iters=iters, variant="none")]
    out: list[tuple[str, bool | None, str]] = []
    med = statistics.median
    gains = {t: {v: _paired_gains(store, t, iters, v, preset) for v in ("today", "new", "control")} for t in tasks}
    for t in tasks:
        g = gains[t]["new"]
        out.append((f"{t}: new pipeline >= +1.5 dB over no prior", med(g) >= 1.5 if g else None,
                    f"median gain {med(g):+.2f} dB over {len(g)} seeds" if g else "not run"))
    have_today = [t for t in tasks if gains[t]["today"] and gains[t]["new"]]
    if have_today:
        worst = min(have_today, key=lambda t: med(gains[t]["today"]))
        diff = med(gains[worst]["new"]) - med(gains[worst]["today"])
        out.append((f"task where today's pipeline gains least ({worst}): new gains >= 1.0 dB more", diff >= 1.0,
                    f"today {med(gains[worst]['today']):+.2f}, new {med(gains[worst]['new']):+.2f} ({diff:+.2f})"))
    for t in tasks:
        news = _runs(store, task=t, iters=iters, variant="new", preset=preset)
        if news:
            net = med([r["psnr"] for r in news])
            alone = med([r["prior_alone"]["psnr"] for r in news])
            out.append((f"{t}: network with prior beats the aligned prior alone", net > alone,
                        f"network {net:.2f} dB, prior alone {alone:.2f} dB"))
    for t in tasks:
        g = gains[t]["control"]
        out.append((f"{t}: control (another image's prior) costs <= 0.3 dB", med(g) >= -0.3 if g else None,
                    f"median {med(g):+.2f} dB" if g else "not run"))
    return out


def write_report(store: Store, out: Path, *, iters: int, preset: str, presets: list[str]) -> str:
    labels = store.data.get("labels", {})
    tasks = [t for t in TASKS if _runs(store, task=t, iters=iters)]
    lines = [f"## Realism benchmark ({iters} iterations; simulated priors, preset `{preset}` unless said)", ""]
    for t in tasks:
        size = store.data.get("sizes", {}).get(t, {})
        lines.append(f"- {t}: {labels.get(t, '?')}; {size.get('train', '?')} train / {size.get('val', '?')} val")
    lines += ["", "Validation PSNR (dB), median [min, max] over seeds; gain = paired with the same seed's no-prior run.",
              "", "| task | variant | fusion | PSNR | SSIM | gain | prior alone PSNR | prior conf. mean | seeds |",
              "|---|---|---|---|---|---|---|---|---|"]
    names = {"none": "no prior", "today": "today (global, sft)", "new": "new (dense + confidence)",
             "control": "control: another image's prior",
             "dense-noconf": "dense, confidence not passed"}
    for t in tasks:
        for v in VARIANTS + EXTRA_VARIANTS:
            rs = _runs(store, task=t, iters=iters, variant=v, **({} if v == "none" else {"preset": preset}))
            if not rs:
                continue
            g = _paired_gains(store, t, iters, v, preset) if v != "none" else []
            pa = [r["prior_alone"]["psnr"] for r in rs if "prior_alone" in r]
            pc = [r["prior_alone"]["confidence_mean"] for r in rs if "prior_alone" in r]
            lines.append(f"| {t} | {names[v]} | {rs[0].get('fusion', '-')} | {_fmt([r['psnr'] for r in rs])} | "
                         f"{_fmt([r['ssim'] for r in rs], 3)} | "
                         f"{'-' if v == 'none' else _fmt(g)} | {_fmt(pa)} | "
                         f"{'-' if not pc else f'{statistics.median(pc):.3f}'} | {len(rs)} |")
    lines += ["", "Goals (issue 13, part 5):", ""]
    for goal, met, what in goals(store, iters, preset):
        flag = "not measured" if met is None else ("met" if met else "**not met**")
        lines.append(f"- {goal}: {flag} ({what})")
    sweep = _sweep_points(store, iters, presets)
    if any(len(v) > 1 for v in sweep.values()):
        lines += ["", "Gain against prior realism (median gain over seeds, dB; mean confidence of the dense-aligned "
                  "priors in brackets):", "", "| task | pipeline | " + " | ".join(presets) + " |",
                  "|---|---|" + "---|" * len(presets)]
        for (t, v), pts in sorted(sweep.items()):
            cells = {p: f"{g:+.2f} ({c:.2f})" if c is not None else f"{g:+.2f}" for p, g, c in pts}
            lines.append(f"| {t} | {names[v]} | " + " | ".join(cells.get(p, "-") for p in presets) + " |")
        _plot_sweep(out / "realism_gain.png", sweep, presets)
        lines += ["", "![gain against realism](realism_gain.png)"]
    if store.data.get("grids"):
        lines += ["", "Grids (input, aligned prior, its confidence (white = 1), restorations, ground truth):", ""]
        lines += [f"![{Path(g).stem}]({g})" for g in store.data["grids"]]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    return text


def _sweep_points(store: Store, iters: int, presets: list[str]) -> dict[tuple[str, str], list]:
    pts: dict[tuple[str, str], list] = {}
    for t in TASKS:
        for v in ("today", "new"):
            row = []
            for p in presets:
                g = _paired_gains(store, t, iters, v, p)
                if not g:
                    continue
                conf = [r["prior_alone"]["confidence_mean"] for r in _runs(store, task=t, iters=iters, variant="new",
                                                                            preset=p)]
                row.append((p, statistics.median(g), statistics.median(conf) if conf else None))
            if row:
                pts[(t, v)] = row
    return pts


def _plot_sweep(path: Path, sweep: dict, presets: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    xs = {p: i for i, p in enumerate(presets)}
    for (t, v), pts in sorted(sweep.items()):
        ax.plot([xs[p] for p, _, _ in pts], [g for _, g, _ in pts], marker="o", ls="-" if v == "new" else "--",
                label=f"{t}, {'new (dense + confidence)' if v == 'new' else 'today (global, sft)'}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(presets)), [f"{p}" + (" (calibrated)" if p == "generative" else "") for p in presets])
    ax.set_xlabel("simulated prior preset: realism, mild default -> calibrated -> harsher")
    ax.set_ylabel("PSNR gain over no prior (dB)")
    ax.set_title("Real degraded inputs, simulated priors", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _grey(conf: np.ndarray) -> np.ndarray:
    """A confidence map as a grey RGB panel (white = 1), quantised as the cache stores it."""
    from gpt4o_prior.dense_align import confidence_to_uint8

    return np.repeat(confidence_to_uint8(conf)[..., None], 3, axis=2)


def make_grids(args: argparse.Namespace, store: Store, cache: Any) -> list[str]:
    """Grids of the first seed's ``main`` runs: input, prior, confidence, no prior, today, new, ground truth."""
    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.report import save_grid

    out = Path(args.out)
    seed, paths = args.seeds[0], []
    for task in args.tasks:
        runs = {v: store.data["runs"].get(_variant_key(task, seed, args.iters, v, args.preset)) for v in VARIANTS}
        if not all(runs[v] for v in ("none", "today", "new")):
            continue
        prep = prepare_real(task, data=args.data, work=out.resolve() / "work", seed=0,
                            limit_train=args.limit_train, limit_val=args.limit_val, crop=args.crop)
        restored = {v: Path(args.out).resolve() / "work" / f"seed{seed}" / "restored" /
                    _variant_key(task, seed, args.iters, v, args.preset).replace("/", "_") for v in runs}
        for lq, gt in prep["val"].pairs()[:args.grid_images]:
            prior, conf = cache.load_prior(runs["new"]["prior_set"], lq, with_confidence=True)
            panels = [("input (real degraded)" if args.data and task != "lowlight" else "input", read_rgb(lq)),
                      ("prior (simulated, aligned)", prior), ("confidence", _grey(conf)),
                      ("no prior", read_rgb(restored["none"] / f"{lq.stem}.png")),
                      ("today: global + sft", read_rgb(restored["today"] / f"{lq.stem}.png")),
                      ("new: dense + conf.", read_rgb(restored["new"] / f"{lq.stem}.png")),
                      ("ground truth", read_rgb(gt))]
            rel = Path("grids") / f"{task}_{lq.stem}.png"
            save_grid(out / rel, panels, scale=1)
            paths.append(str(rel))
    return paths


def merge_stores(out: Path, parts: list[Path]) -> Store:
    """One ``out/results.json`` holding the runs, labels, sizes and grids of every ``parts/results.json`` (grid
    paths made relative to ``out``); a run key found twice keeps the later part's entry."""
    import os

    store = Store(out / "results.json")
    store.data = {"runs": {}, "commands": [], "labels": {}, "sizes": {}, "grids": [], "merged_from": []}
    for part in parts:
        src = Store(part / "results.json")
        if not src.path.is_file():
            raise FileNotFoundError(f"{src.path}: no results to merge")
        store.data["merged_from"].append(str(part))
        store.data["runs"].update(src.data["runs"])
        store.data["commands"] += src.data.get("commands", [])
        for k in ("labels", "sizes"):
            store.data[k].update(src.data.get(k, {}))
        store.data["data"] = src.data.get("data")
        store.data["grids"] += [os.path.relpath(part / g, out) for g in src.data.get("grids", [])]
    store.save()
    return store


def confidence_grid(path: Path, *, images: int = 3, seed: int = 0) -> Path:
    """A grid that the repository may ship (bundled images only), one row per image: the image hazed
    synthetically, its simulated ``generative`` prior as made (shown at the input's size), after global
    registration, after the dense step, its confidence map (white = 1), the confidence of another image's prior
    against the same input (the control), and the ground truth."""
    from PIL import Image

    from gpt4o_prior.align import align_with_confidence
    from gpt4o_prior.data import bundled_images, degrade
    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.providers.simulated import SimulatedProvider
    from gpt4o_prior.report import make_grid

    def at(img: np.ndarray, like: np.ndarray) -> np.ndarray:
        h, w = like.shape[:2]
        return img if img.shape[:2] == (h, w) else np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC))

    provider = SimulatedProvider(seed=seed, preset="generative")
    clean = [read_rgb(p) for p in bundled_images("val")[:images + 1]]
    rows = []
    for i in range(images):
        gt = clean[i]
        hazy = degrade(gt, "dehaze", seed=seed + i)
        prior = provider.make(hazy, target=gt)
        globally, _, _ = align_with_confidence(prior, hazy, dense=False)
        dense, conf, _ = align_with_confidence(prior, hazy)
        other = provider.make(hazy, target=at(clean[i + 1], gt))
        _, other_conf, _ = align_with_confidence(other, hazy)
        rows.append(make_grid([("input (synthetic haze)", hazy), ("prior as made (simulated)", at(prior, gt)),
                               ("global registration", globally), ("+ dense step", dense),
                               (f"confidence, mean {conf.mean():.2f}", _grey(conf)),
                               (f"other image's prior: {other_conf.mean():.2f}", _grey(other_conf)),
                               ("ground truth", gt)]))
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG")
    return path


# --------------------------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    d = DemoConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", nargs="+", default=["main"], choices=["main", "sweep", "grids", "confidence-grid"])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None,
                   help="real-data folder (<data>/dehaze_sots_indoor, <data>/derain_rain100h); default "
                        "../shared/realdata when present, else the bundled images degraded synthetically")
    p.add_argument("--bundled", action="store_true", help="use the bundled images even when --data exists")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[10, 11, 12])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS + EXTRA_VARIANTS))
    p.add_argument("--preset", default="generative")
    p.add_argument("--sweep-presets", nargs="+", default=["mild", "generative", "harsh"])
    p.add_argument("--fusion", default="sft", help="fusion kind of the new pipeline and the control (default sft: "
                   "the kind of today's pipeline, so that new and today differ by the dense step and the confidence)")
    p.add_argument("--iters", type=int, default=d.iters)
    p.add_argument("--out", default="bench_realism_out")
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--gt-size", type=int, default=d.gt_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--crop", type=int, default=None, help="bundled data only: centre crop (smoke runs)")
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--limit-val", type=int, default=None)
    p.add_argument("--grid-images", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--merge", nargs="+", type=Path, default=None, metavar="OUT_DIR",
                   help="combine the results.json of runs made in other --out folders (e.g. one process per task, "
                        "run side by side) into --out, then report")
    args = p.parse_args(argv)
    if args.bundled:
        args.data = None
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.part == ["confidence-grid"]:
        print(confidence_grid(out / "confidence_grid.png"))
        return 0
    if args.merge:
        store = merge_stores(out, args.merge)
    else:
        store = Store(out / "results.json") if args.report_only else run_all(args)
    presets = list(dict.fromkeys(args.sweep_presets + [args.preset]))
    print(write_report(store, out, iters=args.iters, preset=args.preset, presets=presets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
