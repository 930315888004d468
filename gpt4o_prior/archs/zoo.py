"""Architectures written by others, through spandrel: build one by name, or load an official checkpoint.

`spandrel <https://github.com/chaiNNer-org/spandrel>`_ (MIT) keeps checkpoint-compatible copies of about 50
published restoration and super-resolution architectures (NAFNet, Restormer, Retinexformer, SCUNet, KBNet,
FFTformer, MixDehazeNet, HVI-CIDNet, SwinIR, Uformer, DRUNet, ...; ``spandrel-extra-arches`` adds MPRNet,
MIRNet-v2, Restormer and others) and detects an architecture and its hyper-parameters from a state dict. This
module makes those networks hosts for :func:`gpt4o_prior.attach_prior`:

* :func:`load_network` reads a checkpoint (``torch.load(..., weights_only=True)``, or safetensors), lets spandrel
  detect what it is, and returns the network with its weights and a :class:`NetworkReport` of what was detected;
* :func:`build_network` builds any spandrel architecture by its class name and keyword arguments, untrained;
* :func:`list_architectures` names them.

spandrel is an optional dependency: ``pip install gpt4o-prior[spandrel]`` (``make test`` installs it). Nothing
here imports it before it is used, and a missing install is a clear :class:`ImportError`.

Example (needs spandrel):
    >>> net = build_network("NAFNet", width=8, enc_blk_nums=[1], dec_blk_nums=[1])
    >>> type(net).__name__
    'NAFNet'
    >>> report = load_network(net.state_dict())   # what an official .pth holds, detected
    >>> report.architecture, report.hyperparameters["width"], report.scale
    ('NAFNet', 8, 1)
"""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

__all__ = ["NetworkReport", "load_network", "build_network", "list_architectures", "load_state_dict_file",
           "network_from_settings", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'gpt4o-prior[spandrel]' (spandrel, and spandrel-extra-arches for MPRNet, MIRNet-v2, ...)"
_PACKAGES = ("spandrel.architectures", "spandrel_extra_arches.architectures")


def _spandrel():
    try:
        import spandrel
    except ImportError as err:
        raise ImportError(f"architectures written outside gpt4o-prior need spandrel: {INSTALL_HINT}") from err
    try:  # the extra architectures register themselves in spandrel's main registry once
        import spandrel_extra_arches
    except ImportError:
        pass
    else:
        if not getattr(_spandrel, "_extra_installed", False):
            spandrel_extra_arches.install(ignore_duplicates=True)
            _spandrel._extra_installed = True
    return spandrel


@functools.lru_cache(maxsize=1)
def _classes() -> dict[str, tuple[str, str]]:
    """Class name -> (module, spandrel architecture id) for every network class spandrel (and its extras) ship."""
    _spandrel()
    found: dict[str, tuple[str, str]] = {}
    for package in _PACKAGES:
        try:
            base = importlib.import_module(package)
        except ImportError:
            continue
        for info in sorted(pkgutil.iter_modules(base.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            module_name = f"{package}.{info.name}"
            module = importlib.import_module(module_name)
            for name in getattr(module, "__all__", []):
                obj = getattr(module, name, None)
                if isinstance(obj, type) and issubclass(obj, nn.Module):
                    found.setdefault(name, (module_name, info.name))
    return found


def list_architectures() -> list[str]:
    """The network class names :func:`build_network` accepts (spandrel's, plus spandrel-extra-arches' when
    installed), sorted."""
    return sorted(_classes())


def build_network(name: str, **params: Any) -> nn.Module:
    """A spandrel architecture by class name (``"SwinIR"``, ``"KBNet_s"``, ``"MPRNet"``, ...; the spandrel
    architecture id works too), built with ``params`` and randomly initialised.

    Raises:
        ImportError: spandrel is not installed (the message says what to install).
        KeyError: an unknown name; the message lists near matches.
        TypeError: ``params`` the class does not take; the message lists the ones it does.
    """
    classes = _classes()
    if name not in classes:
        by_id = {arch: cls for cls, (_, arch) in classes.items() if cls == arch or arch not in classes}
        name = by_id.get(name, name)
    if name not in classes:
        import difflib

        close = difflib.get_close_matches(name, list(classes), n=4, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(classes))}"
        raise KeyError(f"spandrel has no architecture {name!r}{hint}")
    module_name, _ = classes[name]
    cls = getattr(importlib.import_module(module_name), name)
    try:
        signature = inspect.signature(cls.__init__)
        signature.bind(None, **params)
    except TypeError as err:
        accepted = [p for p in signature.parameters if p != "self"]
        raise TypeError(f"{name} does not take {sorted(params)} ({err}); its arguments: {', '.join(accepted)}") \
            from None
    return cls(**params)


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors: ``.safetensors`` through safetensors, anything else through
    ``torch.load(path, map_location="cpu", weights_only=True)`` (never arbitrary pickles).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a weights-only checkpoint; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickles of arbitrary objects are refused by weights_only
        raise ValueError(f"{path} is not a weights-only checkpoint ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:200]}); re-save its state dict with torch.save") from None


@dataclass
class NetworkReport:
    """What :func:`load_network` detected in a checkpoint, and the network it built.

    Attributes:
        model: the network, weights loaded, in eval mode: ready for :func:`gpt4o_prior.attach_prior`.
        architecture: spandrel's architecture id (``"NAFNet"``, ``"RetinexFormer"``, ...).
        class_name: the network's class name.
        hyperparameters: the keyword arguments spandrel built it with (read from the state dict's shapes;
            the network's own ``hyperparameters`` record).
        purpose: ``"Restoration"``, ``"SR"``, ``"FaceSR"``, ``"Inpainting"`` or ``"Colorization"``.
        scale: output size / input size (1 for restoration networks).
        input_channels / output_channels: image channels in and out.
        size_requirements: ``minimum``, ``multiple_of`` and ``square`` of the input (pad to these, or tile).
        tags: spandrel's short description of the size (``"32w"``, ``"64nf"``, ...).
        parameters: the number of parameters.
        source: the file it came from, or ``"state dict"``.
        state_key: the key the weights sat under in the file (``"params"``, ``"params_ema"``, ...), or ``None``.
    """

    model: nn.Module
    architecture: str
    class_name: str
    hyperparameters: dict[str, Any] | None
    purpose: str
    scale: int
    input_channels: int
    output_channels: int
    size_requirements: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    parameters: int = 0
    source: str = "state dict"
    state_key: str | None = None

    def __str__(self) -> str:
        hp = "" if not self.hyperparameters else ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters.items())
        req = self.size_requirements
        lines = [
            f"{self.class_name} (spandrel architecture {self.architecture}) from {self.source}"
            + (f" [{self.state_key}]" if self.state_key else ""),
            f"  purpose {self.purpose}, scale {self.scale}, channels {self.input_channels} -> "
            f"{self.output_channels}, {self.parameters / 1e6:.2f} M parameters" + (
                f", tags {', '.join(self.tags)}" if self.tags else ""),
            f"  input: multiple of {req['multiple_of']}, at least {req['minimum']} px"
            + (", square" if req["square"] else ""),
        ]
        if hp:
            lines.append(f"  hyper-parameters: {hp}")
        return "\n".join(lines)



def _unwrap_key(state: Mapping[str, Any]) -> str | None:
    # the key spandrel's canonicalisation takes the weights from (its order), for the report
    for key in ("model_state_dict", "state_dict", "params_ema", "params-ema", "params", "model", "net"):
        if isinstance(state.get(key), Mapping):
            return key
    return None


def load_network(checkpoint: str | Path | Mapping[str, Any], *, device: str | torch.device = "cpu") -> NetworkReport:
    """Detect the architecture of an official checkpoint and build it with its weights.

    Args:
        checkpoint: a ``.pth`` / ``.pt`` / ``.ckpt`` / ``.safetensors`` path, or a state dict (possibly wrapped
            under ``params``, ``params_ema``, ``state_dict``, ... and prefixed ``module.``, as releases are).
        device: where the network goes.

    Returns:
        A :class:`NetworkReport` whose ``model`` is the network in eval mode; ``str(report)`` describes it.

    Raises:
        ImportError: spandrel is not installed.
        FileNotFoundError / ValueError: the file is missing or not a weights-only checkpoint.
        ValueError: spandrel recognises no architecture in it; the message says what to do instead.
    """
    spandrel = _spandrel()
    source = "state dict"
    if isinstance(checkpoint, (str, Path)):
        source = str(checkpoint)
        checkpoint = load_state_dict_file(checkpoint)
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"load_network takes a path or a state dict, got {type(checkpoint).__name__}")
    state_key = _unwrap_key(checkpoint)
    try:
        descriptor = spandrel.MAIN_REGISTRY.load(dict(checkpoint))
    except spandrel.UnsupportedModelError:
        raise ValueError(
            f"spandrel recognises no architecture in {source} ({len(checkpoint)} top-level keys, e.g. "
            f"{sorted(checkpoint)[:3]}); build the network yourself (gpt4o_prior.archs.build_network(name, ...) or "
            "your own class), load the weights with load_state_dict, and attach to it"
        ) from None
    model = descriptor.model.to(device).eval()
    hyper = getattr(model, "hyperparameters", None)  # spandrel's networks record their arguments
    req = descriptor.size_requirements
    return NetworkReport(
        model=model, architecture=str(descriptor.architecture.id), class_name=type(model).__name__,
        hyperparameters=dict(hyper) if hyper else None, purpose=str(descriptor.purpose), scale=int(descriptor.scale),
        input_channels=int(descriptor.input_channels), output_channels=int(descriptor.output_channels),
        size_requirements=dict(minimum=int(req.minimum), multiple_of=int(req.multiple_of), square=bool(req.square)),
        tags=list(descriptor.tags), parameters=sum(p.numel() for p in model.parameters()), source=source,
        state_key=state_key,
    )


def network_from_settings(arch: str | None = None, checkpoint: str | Path | None = None, *, where: str = "network",
                          **params: Any) -> tuple[nn.Module, NetworkReport | None]:
    """The network an adapter's settings name: ``arch`` (a class name, with its keyword arguments ``params``) or
    ``checkpoint`` (an official release, detected, its weights loaded); exactly one of the two.

    ``where`` names the settings in error messages (``"network_g"``, ``"model.generator"``). Returns the network
    and, for a checkpoint, its :class:`NetworkReport` (``None`` for ``arch``).

    Example (needs spandrel):
        >>> net, report = network_from_settings(arch="DnCNN", in_nc=3, out_nc=3, nc=8, nb=3)
        >>> type(net).__name__, report
        ('DnCNN', None)
    """
    if (arch is None) == (checkpoint is None):
        raise ValueError(
            f"{where} of type G4PSpandrel needs either arch: NAME (a spandrel class, with its arguments) or "
            f"checkpoint: PATH (an official release, whose architecture is detected), not "
            f"{'both' if arch is not None else 'neither'}"
        )
    if checkpoint is not None:
        if params:
            raise ValueError(f"{where}: with checkpoint: the architecture and its settings come from the file; "
                             f"remove {sorted(params)} (or give arch: instead of checkpoint:)")
        report = load_network(checkpoint)
        return report.model, report
    return build_network(arch, **params), None
