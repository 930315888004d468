"""Run BasicSR's own train / test pipelines with the prior option applied and BasicSR 1.4.2's CPU gaps closed.

:func:`patched_basicsr` temporarily replaces three names inside BasicSR's modules (and puts them back after):

* ``basicsr.train.parse_options`` / ``basicsr.test.parse_options``: BasicSR's parser, followed by
  :func:`basicsr_plugins.prior_option.apply_prior_option` (the one-line ``prior:`` option);
* ``basicsr.utils.options.init_dist``: chooses the ``gloo`` backend when CUDA is absent (BasicSR hard-codes
  ``nccl`` and calls ``torch.cuda.set_device``, both of which fail on a CPU machine);
* ``basicsr.train.load_resume_state``: loads the ``.state`` file onto the CPU when CUDA is absent (BasicSR maps it
  to ``torch.cuda.current_device()``);
* ``basicsr.train.init_tb_loggers``: the wandb logger of ``logger.wandb.project`` is optional (published recipes set
  it): when wandb does not start, one warning and training goes on.
"""
from __future__ import annotations

import collections
import os
import sys
from contextlib import contextmanager
from os import path as osp
from typing import Any, Iterator, Sequence

import torch

__all__ = ["init_dist", "load_resume_state", "patched_basicsr", "run_pipeline"]


def init_dist(launcher: str, backend: str | None = None, **kwargs: Any) -> None:
    """BasicSR's ``init_dist``, choosing ``nccl`` with CUDA and ``gloo`` without.

    Args:
        launcher: ``pytorch`` (``torchrun``: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment) or
            ``slurm`` (CUDA only).
        backend: force a backend; default ``nccl`` when CUDA is available, else ``gloo``.
    """
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from basicsr.utils import dist_util

    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        dist_util.init_dist(launcher, backend, **kwargs)
        return
    if launcher != "pytorch":
        raise ValueError(f"--launcher {launcher} needs CUDA; on a CPU machine use --launcher pytorch (torchrun)")
    if mp.get_start_method(allow_none=True) is None:  # as BasicSR does
        mp.set_start_method("spawn")
    dist.init_process_group(backend=backend, **kwargs)


def load_resume_state(opt: dict) -> dict | None:
    """BasicSR's ``load_resume_state``, loading onto the CPU when CUDA is absent.

    Finds the state as BasicSR does (``path.resume_state``, or the newest ``.state`` under the experiment's
    ``training_states`` with ``--auto_resume``), loads it with ``weights_only=True`` and calls BasicSR's
    ``check_resume`` (which points ``pretrain_network_g`` at the matching checkpoint).
    """
    from basicsr.utils import check_resume, scandir

    if torch.cuda.is_available():
        import basicsr.train

        return _ORIGINAL.get("load_resume_state", basicsr.train.load_resume_state)(opt)
    state_path = None
    if opt["auto_resume"]:
        folder = opt["path"].get("training_states") or osp.join("experiments", opt["name"], "training_states")
        if osp.isdir(folder):
            states = [float(v.split(".state")[0]) for v in scandir(folder, suffix="state", recursive=False)]
            if states:
                state_path = osp.join(folder, f"{max(states):.0f}.state")
                opt["path"]["resume_state"] = state_path
    elif opt["path"].get("resume_state"):
        state_path = opt["path"]["resume_state"]
    if state_path is None:
        return None
    # BasicSR's schedulers keep their milestones in a Counter
    with torch.serialization.safe_globals([collections.Counter]):
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    check_resume(opt, state["iter"])
    return state


_ORIGINAL: dict[str, Any] = {}


def _rewriting(parse):
    def parse_options(root_path, is_train=True):
        from .prior_option import apply_prior_option

        opt, args = parse(root_path, is_train=is_train)
        apply_prior_option(opt)
        if not is_train and opt.get("val") is not None:
            opt["val"].setdefault("suffix", None)  # SRModel reads it when saving test images
        return opt, args

    return parse_options


def init_tb_loggers(opt: dict) -> Any:
    """BasicSR's ``init_tb_loggers`` with the wandb logger optional: when ``logger.wandb.project`` is set and wandb
    does not start (not installed, offline, refused), one warning says so and training goes on without it."""
    original = _ORIGINAL["init_tb_loggers"]
    project = (opt["logger"].get("wandb") or {}).get("project")
    try:
        return original(opt)
    except Exception as err:  # wandb's import or its init (the tensorboard logger comes after it)
        if project is None:
            raise
        from basicsr.utils import get_root_logger

        get_root_logger().warning(
            f"logger.wandb.project: {project!r}: the wandb logger did not start ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:160] if str(err) else 'no message'}); training goes on without it "
            f"(pip install wandb and log in, or set logger.wandb.project: ~)")
        opt["logger"]["wandb"]["project"] = None
        return original(opt)


@contextmanager
def patched_basicsr(argv: Sequence[str] | None = None) -> Iterator[None]:
    """Inside: BasicSR's train / test pipelines apply the prior option and run on a CPU machine.

    Args:
        argv: command-line arguments for BasicSR's parser (``-opt file.yml --launcher ...``); default: the
            process's own.
    """
    import basicsr.test as basicsr_test
    import basicsr.train as basicsr_train
    import basicsr.utils.options as basicsr_options

    from . import archs, datasets, model, prior_arch  # noqa: F401  (registration)

    saved = {
        (basicsr_train, "parse_options"): basicsr_train.parse_options,
        (basicsr_test, "parse_options"): basicsr_test.parse_options,
        (basicsr_train, "load_resume_state"): basicsr_train.load_resume_state,
        (basicsr_train, "init_tb_loggers"): basicsr_train.init_tb_loggers,
        (basicsr_options, "init_dist"): basicsr_options.init_dist,
    }
    _ORIGINAL["load_resume_state"] = basicsr_train.load_resume_state
    _ORIGINAL["init_tb_loggers"] = basicsr_train.init_tb_loggers
    old_argv = sys.argv
    try:
        basicsr_train.parse_options = _rewriting(saved[(basicsr_train, "parse_options")])
        basicsr_test.parse_options = _rewriting(saved[(basicsr_test, "parse_options")])
        basicsr_train.load_resume_state = load_resume_state
        basicsr_train.init_tb_loggers = init_tb_loggers
        basicsr_options.init_dist = init_dist
        if argv is not None:
            sys.argv = [old_argv[0] if old_argv else "basicsr_plugins", *argv]
        yield
    finally:
        sys.argv = old_argv
        for (module, name), value in saved.items():
            setattr(module, name, value)


def run_pipeline(kind: str, argv: Sequence[str] | None = None, root_path: str | None = None) -> None:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with :func:`patched_basicsr`.

    Args:
        kind: ``"train"`` or ``"test"``.
        argv: arguments as on BasicSR's command line; default ``sys.argv[1:]``.
        root_path: where ``experiments/`` and ``results/`` go; default the current directory.
    """
    import basicsr.test as basicsr_test
    import basicsr.train as basicsr_train

    root = root_path or os.getcwd()
    with patched_basicsr(argv):
        if kind == "train":
            basicsr_train.train_pipeline(root)
        elif kind == "test":
            basicsr_test.test_pipeline(root)
        else:
            raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
