"""Realism of priors: the diagnostic of :func:`gpt4o_prior.realism.diagnose_prior` over real and simulated pairs.

Real pairs: every ``<source>/<case>/{input.png, output_<model>.png}`` under ``--pairs`` (default
``../shared/generative_outputs``: real degraded photos and the outputs of real generative models, no ground
truth). Each input is also diagnosed against the output of another case (``--other``), which measures how well the
confidence separates a displaced but correct prior from the prior of another image.

Simulated pairs: for each preset named in ``--presets`` (``mild``, ``generative``, ``harsh``), the simulated
provider makes a prior from the clean image of each pair under ``--realdata`` (default ``../shared/realdata``:
``<task>/<split>/{lq,gt}``) and the diagnostic compares it with the degraded input (``--against lq``, as the real
pairs are measured) or with the clean image (``--against gt``).

Prints Markdown tables (per real case; medians and 10th-90th percentile spreads side by side) and writes every
diagnosis as JSON to ``--out``.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_diagnose.py [--presets mild,generative,harsh]
     [--max-sim 24] [--out /tmp/bench_diagnose.json]

Cost of the dense step (issue 13, part 6): ``--time-dense N`` times :func:`gpt4o_prior.dense_align.dense_align` on
a 1024 x 1024 pair (a bundled image, its ``generative`` simulated prior) N times on one core (OpenCV and numpy
single-threaded) and prints the median and spread, then exits.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gpt4o_prior.data.io import list_images, read_rgb
from gpt4o_prior.realism import FIGURES, diagnose_prior, summarize_diagnoses

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"

SHORT = {"size_ratio_h": "size h", "size_ratio_w": "size w", "scale": "scale", "aspect": "aspect",
         "rotation_deg": "rot deg", "shift_frac": "shift/diag", "motion_median_px": "motion med px",
         "motion_p90_px": "motion p90 px", "agree_fraction": "agree", "confidence_mean": "conf mean",
         "brightness_shift": "bright", "contrast_ratio": "contrast", "colour_shift": "colour",
         "saturation_ratio": "sat"}


def real_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """(name, input, output) for every case folder under ``root``."""
    out = []
    for inp in sorted(root.glob("*/*/input.png")):
        outs = sorted(inp.parent.glob("output_*.png"))
        if outs:
            out.append((f"{inp.parent.parent.name}/{inp.parent.name}", inp, outs[0]))
    return out


def sim_pairs(root: Path, limit: int) -> list[tuple[str, Path, Path]]:
    """(name, lq, gt) pairs of every ``<task>/<split>`` under ``root``, at most ``limit`` per task, val first."""
    pairs = []
    for task in sorted(p for p in root.iterdir() if p.is_dir()):
        got = []
        for split in ("val", "train"):
            lq_dir, gt_dir = task / split / "lq", task / split / "gt"
            if not lq_dir.is_dir():
                continue
            gts = {p.stem: p for p in list_images(gt_dir)}
            for lq in list_images(lq_dir):
                if lq.stem in gts and len(got) < limit:
                    got.append((f"{task.name}/{split}/{lq.stem}", lq, gts[lq.stem]))
        pairs += got
    return pairs


def fmt(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def table_cases(rows: list[dict]) -> str:
    cols = ["size_ratio_w", "scale", "aspect", "rotation_deg", "shift_frac", "motion_median_px", "motion_p90_px",
            "agree_fraction", "confidence_mean", "brightness_shift", "colour_shift"]
    head = "| case | registered | " + " | ".join(SHORT[c] for c in cols) + " | conf vs other |"
    lines = [head, "|" + "---|" * (len(cols) + 3)]
    for r in rows:
        reg = "yes" if r["registered"] else "no" + (" (est.)" if r["global_from"] == "rejected estimate" else "")
        lines.append(f"| {r['name']} | {reg} | " + " | ".join(fmt(r[c]) for c in cols)
                     + f" | {fmt(r.get('other_confidence_mean', float('nan')))} |")
    return "\n".join(lines)


def table_summary(groups: dict[str, list[dict]]) -> str:
    sums = {g: summarize_diagnoses(rows) for g, rows in groups.items() if rows}
    head = "| figure | " + " | ".join(f"{g} (n={s['registered']['n']})" for g, s in sums.items()) + " |"
    lines = [head, "|" + "---|" * (len(sums) + 1)]
    lines.append("| registered | " + " | ".join(f"{s['registered']['share']:.2f}" for s in sums.values()) + " |")
    for k in FIGURES:
        lines.append(f"| {SHORT[k]} | " + " | ".join(
            f"{fmt(s[k]['median'])} [{fmt(s[k]['p10'])}, {fmt(s[k]['p90'])}]" for s in sums.values()) + " |")
    return "\n".join(lines)


def time_dense(runs: int) -> int:
    """Print the median [min, max] wall time of ``dense_align`` on a 1024 x 1024 pair (one core)."""
    import time

    import cv2

    from gpt4o_prior.data.bundled import bundled_images
    from gpt4o_prior.dense_align import dense_align
    from gpt4o_prior.providers.simulated import simulate_prior

    clean = cv2.resize(read_rgb(bundled_images("val")[0]), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    prior, _ = simulate_prior(clean, seed=1, preset="generative", output_scales=())
    dense_align(prior, clean)  # warm-up (imports, first allocations)
    # the current version and version 1 (no coarse opinion) interleaved, so that load hits both alike
    variants = {"current": {}, "version 1 (coarse_side=None)": {"coarse_side": None}}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(runs):
        for name, kw in variants.items():
            t0 = time.perf_counter()
            dense_align(prior, clean, **kw)
            times[name].append(time.perf_counter() - t0)
    for name, values in times.items():
        ms = np.array(values) * 1000
        print(f"dense_align 1024 x 1024, one core, {runs} runs, {name}: median {np.median(ms):.0f} ms "
              f"[{ms.min():.0f}, {ms.max():.0f}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=Path, default=SHARED / "generative_outputs")
    ap.add_argument("--realdata", type=Path, default=SHARED / "realdata")
    ap.add_argument("--presets", default="mild,generative,harsh", help="simulated presets, comma-separated ('' none)")
    ap.add_argument("--against", choices=("lq", "gt"), default="lq")
    ap.add_argument("--max-sim", type=int, default=24, help="simulated pairs per task")
    ap.add_argument("--other", type=int, default=7, help="offset of the 'other case' a real input is paired with")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_diagnose.json"))
    ap.add_argument("--time-dense", type=int, default=0, metavar="N",
                    help="only time the dense step on a 1024 x 1024 pair, N runs")
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    if args.time_dense:
        return time_dense(args.time_dense)
    result: dict[str, list[dict]] = {}
    if args.pairs.is_dir():
        cases = real_pairs(args.pairs)
        imgs = [(n, read_rgb(i), read_rgb(o)) for n, i, o in cases]
        rows = []
        for k, (name, inp, out) in enumerate(imgs):
            d = diagnose_prior(out, inp)
            other = imgs[(k + args.other) % len(imgs)][2]
            d["other_confidence_mean"] = diagnose_prior(other, inp)["confidence_mean"]
            rows.append({"name": name, **d})
            print(f"real {name}: registered={d['registered']} conf={d['confidence_mean']:.3f} "
                  f"other={d['other_confidence_mean']:.3f}", file=sys.stderr)
        result["real"] = rows
    else:
        print(f"no real pairs at {args.pairs}: skipped", file=sys.stderr)
    presets = [p for p in args.presets.split(",") if p]
    if presets and args.realdata.is_dir():
        from gpt4o_prior.providers.simulated import SimulatedProvider

        pairs = sim_pairs(args.realdata, args.max_sim)
        loaded = [(n, read_rgb(lq), read_rgb(gt)) for n, lq, gt in pairs]
        for preset in presets:
            provider = SimulatedProvider(seed=args.seed, preset=preset)
            rows = []
            for name, lq, gt in loaded:
                prior = provider.make(lq, target=gt)
                rows.append({"name": name, **diagnose_prior(prior, lq if args.against == "lq" else gt)})
            result[f"simulated {preset}"] = rows
            print(f"simulated {preset}: {len(rows)} pairs", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    if "real" in result:
        print("### Real pairs, one row each\n")
        print(table_cases(result["real"]))
        conf = np.array([r["confidence_mean"] for r in result["real"]])
        other = np.array([r["other_confidence_mean"] for r in result["real"]])
        print(f"\nConfidence separation: own output median {np.median(conf):.3f} "
              f"[{np.percentile(conf, 10):.3f}, {np.percentile(conf, 90):.3f}], another case's output median "
              f"{np.median(other):.3f} [{np.percentile(other, 10):.3f}, {np.percentile(other, 90):.3f}]; "
              f"own > other in {int((conf > other).sum())} of {len(conf)}; "
              f"lowest own {conf.min():.3f}, highest other {other.max():.3f}\n")
    print("### Medians [10th, 90th percentile]\n")
    print(table_summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
