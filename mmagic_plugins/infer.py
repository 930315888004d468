"""Restore a folder of inputs (no ground truth) with a trained model and its priors, writing one image per input.

    python -m mmagic_plugins.infer CONFIG CHECKPOINT --inputs DIR --out DIR

:func:`inference_config` turns a training config into a test-only one: the test set is every image in
``inputs``; its pipeline loads the input as the config's validation pipeline does (same channel order), loads the
prior (``LoadPrior``, from the config's ``prior`` setting or its own ``LoadPrior`` step) with its confidence
(unless that step says ``confidence=False``) and packs them; the
evaluator is :class:`~mmagic_plugins.save_outputs.SaveRestored`; MMagic's visualisation hook, which needs
ground truth, is left out.
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import apply_prior, bare_type, type_name

__all__ = ["inference_config", "run_inference", "main"]


def _steps(cfg: Any, loader: str) -> list:
    loader = cfg.get(loader) or {}
    if isinstance(loader, (list, tuple)):  # several test / val sets: they load images alike
        loader = loader[0] if loader else {}
    ds = loader.get("dataset") or {}
    while isinstance(ds, Mapping) and ds.get("pipeline") is None and isinstance(ds.get("dataset"), Mapping):
        ds = ds["dataset"]
    return [dict(s) for s in (ds.get("pipeline") or [])] if isinstance(ds, Mapping) else []


def inference_config(cfg: Any, *, inputs: str | Path, out_dir: str | Path, checkpoint: str | None = None,
                     work_dir: str | None = None) -> Any:
    """Return a copy of ``cfg`` set up to restore every image in ``inputs`` into ``out_dir``.

    Args:
        cfg: a training config (``mmengine.Config`` or dict) with a ``prior`` setting or pipelines with
            ``LoadPrior``.
        inputs: folder of input images.
        out_dir: folder for the restored images (``<input name>.png``).
        checkpoint: checkpoint to load (``load_from``); None keeps the config's.
        work_dir: the runner's log folder; default ``<out_dir>/.runner``.

    Returns:
        The new config; run it with ``build_runner(cfg).test()``.

    Raises:
        ValueError: the config's validation / test pipeline has no ``LoadImageFromFile(key='img')``.

    Example:
        >>> cfg = dict(prior=dict(cache='priors/', set='s'), model=dict(type='BaseEditModel'),
        ...            val_dataloader=dict(dataset=dict(type='BasicImageDataset', pipeline=[
        ...                dict(type='LoadImageFromFile', key='img', channel_order='rgb'),
        ...                dict(type='LoadImageFromFile', key='gt'), dict(type='PackInputs')])))
        >>> new = inference_config(cfg, inputs='in/', out_dir='out/')
        >>> [s['type'] for s in new['test_dataloader']['dataset']['pipeline']]
        ['LoadImageFromFile', 'LoadPrior', 'PackInputs']
        >>> new['test_dataloader']['dataset']['pipeline'][-1]['keys']
        ['img', 'prior', 'prior_confidence']
    """
    cfg = apply_prior(cfg) if "prior" in cfg else copy.deepcopy(cfg)
    steps = _steps(cfg, "test_dataloader") or _steps(cfg, "val_dataloader")
    load_img = [s for s in steps if bare_type(s.get("type")) == "LoadImageFromFile" and s.get("key") == "img"]
    if not load_img:
        raise ValueError("inference_config: the config's test / val pipeline has no LoadImageFromFile(key='img') "
                         "to copy; add one")
    load_prior = [s for s in steps if bare_type(s.get("type")) == "LoadPrior"][:1]
    pipeline = [load_img[0]] + load_prior
    keys, meta = ["img"], []
    if load_prior:
        step = load_prior[0]
        prior_key = step.get("prior_key", "prior")
        keys.append(prior_key)
        meta = [f"{prior_key}_channel_order", f"{prior_key}_color_type"]
        if step.get("confidence", True):  # LoadPrior's default: the confidence comes with the prior
            keys.append(step.get("confidence_key") or f"{prior_key}_confidence")
    pipeline.append(dict(type="PackInputs", keys=keys, meta_keys=meta))
    cfg["test_dataloader"] = dict(
        batch_size=1, num_workers=0, persistent_workers=False, drop_last=False,
        sampler=dict(type="DefaultSampler", shuffle=False),
        dataset=dict(type="BasicImageDataset", data_root="", data_prefix=dict(img=str(Path(inputs).resolve())),
                     pipeline=pipeline))
    cfg["test_evaluator"] = dict(type="SaveRestored", out_dir=str(out_dir))
    cfg["test_cfg"] = dict(type="TestLoop")
    hooks = cfg.get("custom_hooks") or []
    cfg["custom_hooks"] = [h for h in hooks if "Visualization" not in type_name(dict(h).get("type", ""))]
    if checkpoint is not None:
        cfg["load_from"] = str(checkpoint)
    cfg["work_dir"] = str(work_dir) if work_dir is not None else str(Path(out_dir) / ".runner")
    return cfg


def run_inference(cfg: Any, *, inputs: str | Path, out_dir: str | Path, checkpoint: str | None = None,
                  work_dir: str | None = None) -> dict:
    """Build the runner of :func:`inference_config` and run its test loop.

    Returns:
        The test metrics, ``{'restored/saved': number of images written}``.
    """
    from .train import build_runner

    runner = build_runner(inference_config(cfg, inputs=inputs, out_dir=out_dir, checkpoint=checkpoint,
                                           work_dir=work_dir))
    return runner.test()


def main(argv: Sequence[str] | None = None) -> dict:
    """Command-line entry point (see the module docstring)."""
    from .train import load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    parser.add_argument("--inputs", required=True, help="folder of input images")
    parser.add_argument("--out", required=True, help="folder for the restored images")
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    return run_inference(cfg, inputs=args.inputs, out_dir=args.out, checkpoint=args.checkpoint,
                         work_dir=args.work_dir)


if __name__ == "__main__":
    main()
