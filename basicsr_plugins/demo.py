"""``gpt4o-prior demo``: the whole loop on bundled images, offline, on a CPU, in a few minutes.

For each task (default ``dehaze``):

1. degrade the bundled images (:func:`gpt4o_prior.data.make_paired_dataset`: 32 training, 8 validation pairs);
2. fill a prior cache with two offline priors through the same code path ``gpt4o-prior generate --provider ...``
   uses (:func:`gpt4o_prior.providers.fill_cache`): ``classical`` (a textbook method on the degraded input) and
   ``simulated`` (the clean image with GPT-like errors: shifts, warps, colour drift, invented texture; then
   registered to its input by :func:`gpt4o_prior.align.align_prior`, as ``generate`` and ``import`` register
   GPT-image outputs by default). **They stand in for GPT-image priors**, which need the paid API; the demo prints the command that fetches real ones;
3. write three BasicSR option files that differ by one line (``prior: {cache: ..., set: ...}``) and train the same
   small NAFNet three times through BasicSR's own pipeline (``python -m basicsr_plugins.train``, ``num_gpu: 0``),
   same seed and iterations: without a prior, with the classical prior, with the simulated prior;
4. restore the validation folder with each trained network (:func:`basicsr_plugins.restore.restore_folder`, what
   ``gpt4o-prior restore`` runs), score it with PSNR / SSIM as BasicSR computes them (:mod:`gpt4o_prior.metrics`), and write ``report/report.md`` (one table
   per task, with the priors alone and the degraded input as reference rows), ``report/results.json`` and one PNG
   grid per validation image (input, priors, outputs, ground truth).

Everything goes under ``--out`` (default ``demo_out/``): ``datasets/``, ``priors/`` (the cache), ``options/``,
``experiments/`` (BasicSR's run folders), ``restored/`` and ``report/``. Re-running reuses the datasets and the
cache and retrains.

Example:
    >>> import argparse
    >>> args = add_demo_arguments(argparse.ArgumentParser()).parse_args(["--task", "derain", "--iters", "10"])
    >>> config_from_args(args).tasks, config_from_args(args).iters
    (('derain',), 10)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["TASKS", "RUNS", "DemoConfig", "DemoResult", "option_text", "prepare_task", "train_run",
           "run_demo_config", "config_from_args", "add_demo_arguments", "run_demo"]

TASKS = ("dehaze", "derain", "lowlight")
"""Tasks the demo can run (``--task all`` runs the three)."""

RUNS = (("baseline", None, "NAFNet, no prior"),
        ("classical", "classical", "NAFNet + classical prior"),
        ("simulated", "simulated", "NAFNet + simulated GPT-like prior"))
"""The three training runs: (run name, prior provider or None, label in the table)."""

STAND_IN = ("The priors here are OFFLINE STAND-INS for GPT-image priors: `classical` is a textbook method applied "
            "to the degraded input, `simulated` is the clean image with GPT-like errors added, then aligned to "
            "the input by the cache's registration as real GPT outputs are (it uses the ground truth, so it is an "
            "ablation, never a result).")


def real_prior_command(lq_dir: str | Path, cache: str | Path, task: str) -> str:
    """The command that would fetch real GPT-image priors for the same inputs (paid API).

    Example:
        >>> real_prior_command("d/lq", "p", "dehaze")
        'gpt4o-prior generate d/lq --cache p --set demo-dehaze-gpt --task dehaze --model <image model>'
    """
    return f"gpt4o-prior generate {lq_dir} --cache {cache} --set demo-{task}-gpt --task {task} --model <image model>"


@dataclass
class DemoConfig:
    """Settings of one demo run (the command-line flags of ``gpt4o-prior demo``).

    Attributes:
        out: work and report folder.
        tasks: tasks to run.
        iters: training iterations of every run.
        width: NAFNet width; enc / dec blocks ``[1, 1, 1]``, one middle block.
        batch: batch size; gt_size: training crop size.
        lr: Adam learning rate (cosine annealed to 1e-6 over ``iters``).
        seed: BasicSR ``manual_seed`` and dataset seed (the same for all runs).
        crop, limit_train, limit_val: smaller datasets (tests): centre crop, number of images.
        progress: progress bars.
        threads: torch threads of each training process (None: torch's default).
    """

    out: Path = Path("demo_out")
    tasks: tuple[str, ...] = ("dehaze",)
    iters: int = 500
    width: int = 16
    batch: int = 4
    gt_size: int = 64
    lr: float = 2e-3
    seed: int = 10
    crop: int | None = None
    limit_train: int | None = None
    limit_val: int | None = None
    progress: bool = True
    threads: int | None = None


@dataclass
class DemoResult:
    """What the demo produced.

    Attributes:
        report: path of ``report.md``.
        table: the Markdown text of the report's tables.
        rows: task -> list of table rows (dicts).
        seconds: total wall time.
    """

    report: Path
    table: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------- option files
def option_text(*, task: str, train_lq: Path, train_gt: Path, val_lq: Path, val_gt: Path, iters: int, width: int,
                batch: int, gt_size: int, lr: float, seed: int, prior_line: str | None = None) -> str:
    """The demo's BasicSR option file; ``prior_line`` (``prior: {cache: ..., set: ...}``) is the one extra line.

    Example:
        >>> kw = dict(task="dehaze", train_lq=Path("a"), train_gt=Path("b"), val_lq=Path("c"), val_gt=Path("d"),
        ...           iters=5, width=8, batch=2, gt_size=32, lr=1e-3, seed=1)
        >>> base, prior = option_text(**kw), option_text(**kw, prior_line="prior: {cache: p, set: s}")
        >>> [line for line in prior.splitlines() if line not in base.splitlines()]
        ['prior: {cache: p, set: s}']
    """
    prior = f"{prior_line}\n" if prior_line else ""
    return f"""# gpt4o-prior demo ({task}): a small NAFNet trained through BasicSR's own pipeline on the CPU.
# The baseline and the prior runs' files differ by exactly one line, 'prior:'.
# Train: python -m basicsr_plugins.train -opt <this file> --force_yml name=<run name>
name: demo_{task}
model_type: SRModel
scale: 1
num_gpu: 0
manual_seed: {seed}
{prior}
datasets:
  train:
    name: demo_{task}_train
    type: PairedImageDataset
    dataroot_gt: {train_gt}
    dataroot_lq: {train_lq}
    filename_tmpl: '{{}}'
    io_backend:
      type: disk
    gt_size: {gt_size}
    use_hflip: true
    use_rot: true
    num_worker_per_gpu: 0
    batch_size_per_gpu: {batch}
    dataset_enlarge_ratio: 100
    prefetch_mode: ~
  val:
    name: demo_{task}_val
    type: PairedImageDataset
    dataroot_gt: {val_gt}
    dataroot_lq: {val_lq}
    io_backend:
      type: disk

network_g:
  type: G4PNAFNet
  img_channel: 3
  width: {width}
  middle_blk_num: 1
  enc_blk_nums: [1, 1, 1]
  dec_blk_nums: [1, 1, 1]

path:
  pretrain_network_g: ~
  strict_load_g: true
  resume_state: ~

train:
  ema_decay: 0
  optim_g:
    type: Adam
    lr: !!float {lr:g}
    weight_decay: 0
    betas: [0.9, 0.99]
  scheduler:
    type: CosineAnnealingRestartLR
    periods: [{iters}]
    restart_weights: [1]
    eta_min: !!float 1e-6
  total_iter: {iters}
  warmup_iter: -1
  pixel_opt:
    type: L1Loss
    loss_weight: 1.0
    reduction: mean

val:
  val_freq: !!float 1e9  # BasicSR validates once more at the end of training: that is the one we use
  save_img: false
  metrics:
    psnr:
      type: calculate_psnr
      crop_border: 0
      test_y_channel: false
    ssim:
      type: calculate_ssim
      crop_border: 0
      test_y_channel: false

logger:
  print_freq: 1
  save_checkpoint_freq: !!float 1e9
  use_tb_logger: false
  wandb:
    project: ~
    resume_id: ~
"""


# --------------------------------------------------------------------------------------------- steps
def _bar(iterable=None, **kwargs):
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kwargs)


def prepare_task(cfg: DemoConfig, task: str) -> dict[str, Any]:
    """Degrade the bundled images for ``task`` and fill the cache with its two offline prior sets.

    Returns:
        dict with ``train`` / ``val`` (``PairedDataset``), ``cache`` (``PriorCache``) and ``sets``
        (provider -> set name).
    """
    from gpt4o_prior.cache import PriorCache
    from gpt4o_prior.data import make_paired_dataset
    from gpt4o_prior.providers.base import fill_cache, get_provider

    out = cfg.out
    data_root = out / "datasets"
    train = make_paired_dataset(data_root, task, split="train", seed=cfg.seed, crop=cfg.crop, limit=cfg.limit_train)
    val = make_paired_dataset(data_root, task, split="val", seed=cfg.seed, crop=cfg.crop, limit=cfg.limit_val)
    cache = PriorCache(out / "priors")
    sets = {}
    for provider_name in ("classical", "simulated"):
        # the registered simulation gets its own name: a cache from before registration keeps its raw set
        set_name = f"demo-{task}-{provider_name}" + ("-aligned" if provider_name == "simulated" else "")
        sets[provider_name] = set_name
        if provider_name == "classical":
            provider, targets = get_provider("classical", task=task), None
        else:
            provider = get_provider("simulated", seed=cfg.seed, register=True)
        for split in (train, val):
            if provider_name == "simulated":
                def targets(path, _gt=split.gt_dir):
                    return _gt / Path(path).name
            res = fill_cache([lq for lq, _ in split.pairs()], cache=cache, set_name=set_name, provider=provider,
                             targets=targets, progress=cfg.progress)
            if res["failed"]:
                raise RuntimeError(f"{provider_name} priors failed for {sorted(res['failed'])[:5]}: "
                                   f"{next(iter(res['failed'].values()))}")
    return {"train": train, "val": val, "cache": cache, "sets": sets}


_ITER = re.compile(r"\biter:\s*([\d,]+)")  # not "total_iter: N" of the printed options
_METRIC = re.compile(r"#\s*(psnr|ssim):\s*([-\d.]+)")


def train_run(cfg: DemoConfig, *, opt_path: Path, run_name: str, label: str) -> dict[str, Any]:
    """Train one option file with ``python -m basicsr_plugins.train`` in a subprocess, showing a progress bar.

    BasicSR's log goes to ``<out>/logs/<run_name>.log``. Returns the checkpoint path, the wall time and the
    validation PSNR / SSIM BasicSR logged at the end.

    Raises:
        RuntimeError: training failed (the message holds the end of the log).
    """
    root = cfg.out.resolve()
    exp = root / "experiments" / run_name
    if exp.exists():  # BasicSR would archive it under a new name; the demo retrains from scratch instead
        shutil.rmtree(exp)
    log_path = root / "logs" / f"{run_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if cfg.threads:
        env["OMP_NUM_THREADS"] = str(cfg.threads)
    cmd = [sys.executable, "-m", "basicsr_plugins.train", "-opt", str(opt_path.resolve()),
           "--force_yml", f"name={run_name}"]
    metrics: dict[str, float] = {}
    tail: list[str] = []
    t0 = time.perf_counter()
    bar = _bar(total=cfg.iters, desc=f"train {label}", unit="it", disable=not cfg.progress)
    done = 0
    with open(log_path, "w", buffering=1) as log, subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                                                      stderr=subprocess.STDOUT, text=True) as proc:
        log.write("$ " + " ".join(cmd) + "\n")
        for line in proc.stdout:
            log.write(line)
            tail = (tail + [line.rstrip()])[-30:]
            m = _ITER.search(line)
            if m:
                it = int(m.group(1).replace(",", ""))
                if it > done:
                    bar.update(it - done)
                    done = it
            m = _METRIC.search(line)
            if m:
                metrics[m.group(1)] = float(m.group(2))
        rc = proc.wait()
    bar.close()
    seconds = time.perf_counter() - t0
    ckpt = exp / "models" / "net_g_latest.pth"
    if rc != 0 or not ckpt.is_file():
        raise RuntimeError(f"training {run_name} failed (exit code {rc}); full log: {log_path}\n" + "\n".join(tail))
    return {"checkpoint": ckpt, "seconds": seconds, "basicsr_val": metrics, "log": log_path}


def _rows_for_task(cfg: DemoConfig, task: str, prep: dict, runs: dict) -> list[dict[str, Any]]:
    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.report import folder_metrics, image_metrics

    val, cache = prep["val"], prep["cache"]
    rows = []
    ref = [image_metrics(read_rgb(lq), read_rgb(gt)) for lq, gt in val.pairs()]
    rows.append({"what": "degraded input (no restoration)", "psnr": _mean(ref, "psnr"), "ssim": _mean(ref, "ssim")})
    for provider, set_name in prep["sets"].items():
        vals = [image_metrics(cache.load_prior(set_name, lq), read_rgb(gt)) for lq, gt in val.pairs()]
        rows.append({"what": f"{provider} prior alone", "psnr": _mean(vals, "psnr"), "ssim": _mean(vals, "ssim")})
    for run, _, label in RUNS:
        r = runs[run]
        m = folder_metrics(r["restored"], val.gt_dir, val.names)
        rows.append({"what": label, "psnr": m["psnr"], "ssim": m["ssim"], "train_s": r["seconds"],
                     "basicsr_psnr": r["basicsr_val"].get("psnr"), "per_image": m["per_image"]})
    return rows


def _mean(values: list[dict], key: str) -> float:
    return float(sum(v[key] for v in values) / len(values))


def _grids(cfg: DemoConfig, task: str, prep: dict, runs: dict, report_dir: Path) -> list[Path]:
    from gpt4o_prior.data.io import read_rgb
    from gpt4o_prior.report import save_grid

    val, cache = prep["val"], prep["cache"]
    paths = []
    pairs = val.pairs()
    for lq, gt in _bar(pairs, desc=f"grids {task}", unit="img", disable=not cfg.progress):
        img = read_rgb(lq)
        scale = 2 if max(img.shape[:2]) <= 64 else 1
        panels = [("input", img),
                  ("classical prior", cache.load_prior(prep["sets"]["classical"], lq)),
                  ("simulated prior", cache.load_prior(prep["sets"]["simulated"], lq)),
                  ("no prior", read_rgb(runs["baseline"]["restored"] / f"{lq.stem}.png")),
                  ("+ classical", read_rgb(runs["classical"]["restored"] / f"{lq.stem}.png")),
                  ("+ simulated", read_rgb(runs["simulated"]["restored"] / f"{lq.stem}.png")),
                  ("ground truth", read_rgb(gt))]
        paths.append(save_grid(report_dir / "grids" / task / f"{lq.stem}.png", panels, scale=scale))
    return paths


def _task_markdown(cfg: DemoConfig, task: str, prep: dict, runs: dict, rows: list[dict]) -> str:
    from gpt4o_prior.report import markdown_table

    val = prep["val"]
    table = markdown_table(rows, columns=[("", "what"), ("PSNR (dB)", "psnr"), ("SSIM", "ssim"),
                                          ("train time (s)", "train_s"), ("BasicSR val PSNR", "basicsr_psnr")],
                           digits={"ssim": 4, "train_s": 0})
    opt_dir = cfg.out / "options"
    sim = runs["simulated"]
    restore_cmd = (f"gpt4o-prior restore {val.lq_dir} --opt {opt_dir / f'demo_{task}_simulated.yml'} "
                   f"--checkpoint {sim['checkpoint']} --cache {prep['cache'].root} --set {prep['sets']['simulated']} "
                   f"--out {cfg.out / 'restored' / task / 'simulated'}")
    return (f"### {task}: {len(val.names)} validation images, {len(prep['train'].names)} training images, "
            f"{cfg.iters} iterations per run\n\n{table}\n\n"
            f"PSNR / SSIM: BasicSR's `calculate_psnr` / `calculate_ssim` (RGB, no border crop) on the outputs of "
            f"`gpt4o-prior restore`; the last column is what BasicSR's own validation logged for the same network "
            f"(they agree). Grids: `grids/{task}/` (input, classical prior, simulated prior, output without prior, "
            f"with the classical prior, with the simulated prior, ground truth).\n\n"
            f"Option files: `{opt_dir / f'demo_{task}_baseline.yml'}` and the same plus one line, "
            f"`demo_{task}_classical.yml` / `demo_{task}_simulated.yml`. Restore a folder with a trained network:\n\n"
            f"```\n{restore_cmd}\n```\n\nReal GPT-image priors for these inputs (paid API; then point `prior: set:` "
            f"at `demo-{task}-gpt`):\n\n```\n{real_prior_command(prep['train'].lq_dir, prep['cache'].root, task)}\n"
            f"{real_prior_command(val.lq_dir, prep['cache'].root, task)}\n```\n")


def run_demo_config(cfg: DemoConfig) -> DemoResult:
    """Run the demo (see the module docstring) and return where the report is.

    Raises:
        ValueError: an unknown task or a bad setting.
        RuntimeError: a training run failed (with the end of its log).
    """
    from .restore import restore_folder

    for task in cfg.tasks:
        if task not in TASKS:
            raise ValueError(f"unknown demo task {task!r}: choose dehaze, derain, lowlight or all")
    if cfg.iters < 1 or cfg.width < 1 or cfg.batch < 1:
        raise ValueError("iters, width and batch must be at least 1")
    t0 = time.perf_counter()
    cfg.out = Path(cfg.out).resolve()
    cfg.out.mkdir(parents=True, exist_ok=True)
    report_dir = cfg.out / "report"
    print(STAND_IN, file=sys.stderr)
    sections, all_rows, record = [], {}, {"config": {**asdict(cfg), "out": str(cfg.out)}, "tasks": {}}
    for task in cfg.tasks:
        prep = prepare_task(cfg, task)
        train, val = prep["train"], prep["val"]
        opt_dir = cfg.out / "options"
        opt_dir.mkdir(parents=True, exist_ok=True)
        common = dict(task=task, train_lq=train.lq_dir, train_gt=train.gt_dir, val_lq=val.lq_dir,
                      val_gt=val.gt_dir, iters=cfg.iters, width=cfg.width, batch=cfg.batch,
                      gt_size=min(cfg.gt_size, cfg.crop or cfg.gt_size), lr=cfg.lr, seed=cfg.seed)
        runs: dict[str, dict[str, Any]] = {}
        for run, provider, label in RUNS:
            line = None
            if provider is not None:  # the one line that turns the baseline into a prior run
                line = f"prior: {{cache: {prep['cache'].root}, set: {prep['sets'][provider]}}}"
            opt_path = opt_dir / f"demo_{task}_{run}.yml"
            opt_path.write_text(option_text(**common, prior_line=line))
            res = train_run(cfg, opt_path=opt_path, run_name=f"demo_{task}_{run}", label=f"{task} / {label}")
            restored = cfg.out / "restored" / task / run
            restore_folder(val.lq_dir, opt=opt_path, checkpoint=res["checkpoint"], out_dir=restored,
                           cache=prep["cache"].root if provider else None,
                           set_name=prep["sets"][provider] if provider else None, progress=cfg.progress)
            runs[run] = {**res, "restored": restored, "option_file": opt_path}
        rows = _rows_for_task(cfg, task, prep, runs)
        grids = _grids(cfg, task, prep, runs, report_dir)
        all_rows[task] = rows
        sections.append(_task_markdown(cfg, task, prep, runs, rows))
        record["tasks"][task] = {
            "rows": rows, "grids": [str(g) for g in grids],
            "runs": {k: {"checkpoint": str(v["checkpoint"]), "seconds": v["seconds"], "log": str(v["log"]),
                         "option_file": str(v["option_file"]), "basicsr_val": v["basicsr_val"]}
                     for k, v in runs.items()}}
    seconds = time.perf_counter() - t0
    record["seconds"] = seconds
    body = "\n".join(sections)
    text = (f"# gpt4o-prior demo report\n\n{STAND_IN}\n\nNAFNet width {cfg.width} (blocks [1, 1, 1], one middle "
            f"block), batch {cfg.batch}, crops {cfg.gt_size}, Adam lr {cfg.lr:g} (cosine), seed {cfg.seed}; the "
            f"three runs of a task share all of it. Total time {seconds:.0f} s.\n\n{body}")
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / "report.md"
    report.write_text(text)
    (report_dir / "results.json").write_text(json.dumps(record, indent=1, default=str))
    return DemoResult(report=report, table=body, rows=all_rows, seconds=seconds)


# --------------------------------------------------------------------------------------------- command line
def add_demo_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``gpt4o-prior demo`` to ``parser`` (returned)."""
    d = DemoConfig()
    parser.add_argument("--task", default="dehaze", choices=[*TASKS, "all"],
                        help="which degradation (default dehaze; all runs the three one after the other)")
    parser.add_argument("--iters", type=int, default=d.iters, help=f"training iterations per run (default {d.iters})")
    parser.add_argument("--out", default=str(d.out), help=f"work and report folder (default {d.out}/)")
    parser.add_argument("--width", type=int, default=d.width, help=f"NAFNet width (default {d.width})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"batch size (default {d.batch})")
    parser.add_argument("--gt-size", type=int, default=d.gt_size, help=f"training crop (default {d.gt_size})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr:g})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of data and training (default {d.seed})")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per training run")
    parser.add_argument("--crop", type=int, default=None, help=argparse.SUPPRESS)        # tests: tiny images
    parser.add_argument("--limit-train", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limit-val", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """The :class:`DemoConfig` of parsed ``gpt4o-prior demo`` arguments."""
    tasks = TASKS if args.task == "all" else (args.task,)
    return DemoConfig(out=Path(args.out), tasks=tuple(tasks), iters=args.iters, width=args.width, batch=args.batch,
                      gt_size=args.gt_size, lr=args.lr, seed=args.seed, crop=args.crop,
                      limit_train=args.limit_train, limit_val=args.limit_val, progress=not args.no_progress,
                      threads=args.threads)


def run_demo(args: argparse.Namespace) -> int:
    """Run ``gpt4o-prior demo`` from parsed arguments: prints the table and the report's path; returns 0."""
    try:
        result = run_demo_config(config_from_args(args))
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"gpt4o-prior demo: error: {e}", file=sys.stderr)
        return 1
    print(f"\n{STAND_IN}\n\n{result.table}")
    print(f"report: {result.report}  (grids: {result.report.parent / 'grids'}; total {result.seconds:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m basicsr_plugins.demo``: the same as ``gpt4o-prior demo``."""
    parser = add_demo_arguments(argparse.ArgumentParser(prog="gpt4o-prior demo", description=__doc__.split("\n")[0]))
    return run_demo(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
