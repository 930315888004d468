"""How far the dense step's confidence trusts a correct prior through each degradation, and how little it trusts
another image's prior: dense version 1 (the fine confidence alone) against version 2 (with the coarse opinion).

For each task, on the real degraded inputs of ``bench_realism`` (``--data``, default ``../shared/realdata``; the
bundled images degraded synthetically without it): the ``generative`` simulated prior of each pair (made from its
clean target, registered globally as the cache does), then ``dense_align`` against the degraded input with
``coarse_side=None`` (version 1) and with the default (version 2), for the pair's own prior and for the next
pair's prior (resized). Reported per task, median over pairs: mean confidence (own, other), and the share of the
image where the aligned own prior is within 20 grey levels of the ground truth (how much of it deserves trust).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_confidence.py --pairs 16

Simulated priors on real degraded inputs; not a measurement of real generative outputs (see ``bench_diagnose``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_realism import DEFAULT_DATA, TASKS, prepare_real  # noqa: E402


def measure(task: str, *, data: Path | None, work: Path, pairs: int, seed: int) -> dict[str, float]:
    import cv2

    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.dense_align import dense_align
    from gpt4o_prior.providers.simulated import SimulatedProvider

    prep = prepare_real(task, data=data, work=work, seed=seed)
    chosen = (prep["val"].pairs()[:pairs // 2] + prep["train"].pairs())[:pairs]
    provider = SimulatedProvider(seed=seed, preset="generative", register=True, dense=False)
    inputs = [read_rgb(lq) for lq, _ in chosen]
    targets = [read_rgb(gt) for _, gt in chosen]
    priors = [provider.make(x, target=t) for x, t in zip(inputs, targets)]
    rows: dict[str, list[float]] = {k: [] for k in ("v1_own", "v2_own", "v1_other", "v2_other", "trustworthy")}
    for i, (x, gt, prior) in enumerate(zip(inputs, targets, priors)):
        other = cv2.resize(priors[(i + 1) % len(priors)], (x.shape[1], x.shape[0]), interpolation=cv2.INTER_AREA)
        for version, kw in (("v1", {"coarse_side": None}), ("v2", {})):
            aligned, conf, _ = dense_align(prior, x, **kw)
            rows[f"{version}_own"].append(float(conf.mean()))
            rows[f"{version}_other"].append(float(dense_align(other, x, **kw)[1].mean()))
        err = cv2.GaussianBlur(np.abs(aligned.astype(np.float32) - gt).mean(2), (0, 0), 2)
        rows["trustworthy"].append(float((err < 20).mean()))
    return {k: round(statistics.median(v), 3) for k, v in rows.items()} | {"pairs": len(chosen)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None)
    p.add_argument("--bundled", action="store_true", help="use the bundled images even when --data exists")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--out", default="bench_confidence_out")
    args = p.parse_args(argv)
    data = None if args.bundled else args.data
    out = Path(args.out)
    results = {t: measure(t, data=data, work=out / "work", pairs=args.pairs, seed=args.seed) for t in args.tasks}
    label = "real degraded inputs" if data else "bundled images, synthetic degradations"
    lines = [f"Mean confidence, median over pairs ({label}; simulated `generative` priors, seed {args.seed})", "",
             "| task | pairs | own prior v1 | own prior v2 | other image's prior v1 | other v2 | prior within 20 of GT |",
             "|---|---|---|---|---|---|---|"]
    for t, r in results.items():
        lines.append(f"| {t} | {r['pairs']} | {r['v1_own']:.3f} | {r['v2_own']:.3f} | {r['v1_other']:.3f} | "
                     f"{r['v2_other']:.3f} | {r['trustworthy']:.3f} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
