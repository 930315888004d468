"""``gpt4o-prior restore`` for BasicSR: a network built from its option file and checkpoint, run on a folder.

``gpt4o-prior restore INPUT_DIR --opt OPTION_FILE --checkpoint NET_G.pth --cache CACHE_DIR --set NAME --out OUT_DIR``

The network is built from its BasicSR option file exactly as training built it (the one-line ``prior:`` option is
expanded by :func:`basicsr_plugins.prior_option.apply_prior_option`, the architecture by BasicSR's
``build_network``), and its weights come from a BasicSR checkpoint (``params_ema`` when present, else ``params``),
loaded with ``torch.load(..., weights_only=True)``. An option file without ``prior:`` gives a plain network, run
without a prior. The folder is then restored by the core, :func:`gpt4o_prior.restore.restore_folder` (priors from
the cache, missing offline priors made first, tiles), which any other network can use directly.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gpt4o_prior.restore import MissingPriorsError, RestoreResult, is_prior_net
from gpt4o_prior.restore import restore_folder as restore_with_network

from . import archs, prior_arch  # noqa: F401  (registration of the architectures the option files name)
from .model import pick_state_dict
from .prior_option import apply_prior_option

if TYPE_CHECKING:
    import torch

__all__ = ["load_options", "build_network", "restore_folder", "add_restore_arguments", "run_restore"]


def load_options(opt_path: str | os.PathLike) -> dict:
    """Read a BasicSR option file with BasicSR's own YAML loader and expand the one-line ``prior:`` option.

    Args:
        opt_path: the option file a network was trained with.

    Returns:
        the options, with ``network_g`` written out (``G4PPriorNet`` around the host when ``prior:`` is set).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a mapping or has no ``network_g``.
    """
    import yaml
    from basicsr.utils.options import ordered_yaml

    path = Path(opt_path)
    if not path.is_file():
        raise FileNotFoundError(f"option file {path} does not exist")
    with open(path) as f:
        opt = yaml.load(f, Loader=ordered_yaml()[0])
    if not isinstance(opt, dict) or not isinstance(opt.get("network_g"), dict):
        raise ValueError(f"option file {path} has no 'network_g' mapping: pass the option file the network was "
                         "trained with")
    for phase, dataset in (opt.get("datasets") or {}).items():
        if isinstance(dataset, dict) and (dataset.get("color") == "y" or dataset.get("mean") is not None
                                          or dataset.get("std") is not None):
            raise ValueError(f"option file {path}: datasets.{phase} uses color: y or mean / std normalisation, "
                             "which restore does not reproduce; restore supports RGB networks fed [0, 1] values")
    # only the network matters here: expand the prior line on the network part alone, so that datasets this
    # command never reads (their types, paths) cannot stop it
    part = {"model_type": "SRModel", "prior": opt.get("prior"), "network_g": opt["network_g"], "datasets": {}}
    opt["network_g"] = apply_prior_option(part)["network_g"]
    return opt


def build_network(opt: dict, checkpoint: str | os.PathLike, *, param_key: str | None = None,
                  device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build ``opt['network_g']`` as training did and load a BasicSR checkpoint into it (``eval`` mode).

    Args:
        opt: options from :func:`load_options`.
        checkpoint: ``net_g_*.pth`` written by BasicSR.
        param_key: the checkpoint key to load; default ``params_ema`` when present (what BasicSR validates
            with), else ``params``.
        device: where to put the network.

    Returns:
        the network; a prior network is called as ``net(x, prior=p)``.

    Raises:
        FileNotFoundError: no checkpoint file.
        RuntimeError: the weights do not fit the network built from the option file.
    """
    import torch
    from basicsr.archs import build_network as basicsr_build

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (BasicSR writes experiments/<name>/models/"
                                "net_g_latest.pth)")
    net = basicsr_build(dict(opt["network_g"]))
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    key = param_key
    if key is None:
        key = "params_ema" if isinstance(ckpt, dict) and isinstance(ckpt.get("params_ema"), dict) else "params"
    sd, _ = pick_state_dict(ckpt, key)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f"checkpoint {path} does not fit the network of the option file (network_g "
                           f"{opt['network_g'].get('type')}): use the option file it was trained with.\n{err}"
                           ) from None
    return net.to(device).eval()


def restore_folder(input_dir: str | os.PathLike, *, opt: str | os.PathLike | dict, checkpoint: str | os.PathLike,
                   out_dir: str | os.PathLike, cache: str | os.PathLike | None = None, set_name: str | None = None,
                   tile: int = 256, tile_overlap: int = 32, targets: str | os.PathLike | None = None,
                   param_key: str | None = None, device: str = "cpu", progress: bool = True,
                   no_prior: bool = False) -> RestoreResult:
    """Restore every image of ``input_dir`` with a network trained by BasicSR and write ``out_dir/<stem>.png``.

    Args:
        input_dir: folder of degraded images.
        opt: the BasicSR option file the network was trained with (or options from :func:`load_options`).
        checkpoint: the BasicSR checkpoint (``net_g_latest.pth``).
        out_dir: output folder (created).
        cache: prior cache folder; default the option file's ``prior.cache``. Unused without a prior branch.
        set_name: prior set; default the option file's ``prior.set``.
        tile: tile size for images larger than it; tile_overlap: overlap of neighbouring tiles.
        targets: clean images, only to make missing ``simulated`` priors.
        param_key: checkpoint key (default ``params_ema`` if present, else ``params``).
        device: ``cpu`` or ``cuda``.
        progress: progress bars.
        no_prior: run a prior network without priors (its host alone; no cache needed): the no-prior mode of a
            model trained with ``dropout_mode: pair`` / ``dropout_fill: none``.

    Returns:
        :class:`gpt4o_prior.restore.RestoreResult`.

    Raises:
        MissingPriorsError: inputs without a prior that the set's provider cannot make here (nothing is written).
    """
    options = load_options(opt) if not isinstance(opt, dict) else opt
    net = build_network(options, checkpoint, param_key=param_key, device=device)
    prior_cfg = options.get("prior") or {}
    use_conf = bool(prior_cfg.get("confidence", True)) if isinstance(prior_cfg, dict) else True
    if is_prior_net(net) and not no_prior:
        cache = cache or prior_cfg.get("cache")
        set_name = set_name or prior_cfg.get("set")
        if not cache or not set_name:
            raise ValueError("this network has a prior branch: pass --cache and --set (the option file names none)")
    # as BasicSR's validation feeds it: the confidence unless the option file says prior: {confidence: false}
    return restore_with_network(input_dir, net=net, out_dir=out_dir, cache=cache, set_name=set_name,
                                confidence=use_conf, tile=tile, tile_overlap=tile_overlap, targets=targets,
                                device=device, progress=progress, no_prior=no_prior)


def add_restore_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``gpt4o-prior restore`` to ``parser``.

    Example:
        >>> p = add_restore_arguments(argparse.ArgumentParser())
        >>> a = p.parse_args(["in", "--opt", "o.yml", "--checkpoint", "n.pth", "--out", "out"])
        >>> a.tile, a.tile_overlap, a.set_name
        (256, 32, None)
    """
    parser.add_argument("input_dir", help="folder of degraded images")
    parser.add_argument("--opt", required=True, help="the BasicSR option file the network was trained with")
    parser.add_argument("--checkpoint", required=True, help="BasicSR checkpoint, e.g. experiments/NAME/models/"
                        "net_g_latest.pth")
    parser.add_argument("--cache", default=None, help="prior cache folder (default: prior.cache of the option file)")
    parser.add_argument("--set", dest="set_name", default=None, help="prior set (default: prior.set of the option "
                        "file)")
    parser.add_argument("--out", required=True, help="output folder (NAME.png per input)")
    parser.add_argument("--tile", type=int, default=256, help="tile size for large images (default 256)")
    parser.add_argument("--tile-overlap", type=int, default=32, help="overlap of neighbouring tiles (default 32)")
    parser.add_argument("--targets", default=None, help="clean images (same names), only to make missing "
                        "simulated priors")
    parser.add_argument("--param-key", default=None, help="checkpoint key (default params_ema if present, else "
                        "params)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--no-prior", action="store_true", help="run without priors (the host alone; no cache "
                        "needed): the no-prior mode of a model trained with dropout_mode: pair")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def run_restore(args: argparse.Namespace) -> int:
    """Run ``gpt4o-prior restore`` from parsed arguments; returns the exit code (1: inputs without a prior)."""
    try:
        res = restore_folder(args.input_dir, opt=args.opt, checkpoint=args.checkpoint, out_dir=args.out,
                             cache=args.cache, set_name=args.set_name, tile=args.tile,
                             tile_overlap=args.tile_overlap, targets=args.targets, param_key=args.param_key,
                             device=args.device, progress=not args.no_progress, no_prior=args.no_prior)
    except MissingPriorsError as e:
        print(f"gpt4o-prior restore: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"gpt4o-prior restore: error: {msg}", file=sys.stderr)
        return 2
    extra = f"; {res.filled} priors made first" if res.filled else ""
    tiled = f"; {len(res.tiles)} in tiles of {args.tile}" if res.tiles else ""
    print(f"restored {len(res.outputs)} images into {res.out_dir} in {res.seconds:.1f} s{extra}{tiled}")
    return 0
