"""Register gpt4o-prior's baselines in BasicSR's ``ARCH_REGISTRY`` under names BasicSR does not use.

==================== =================================================== ==========================
BasicSR ``type``      class                                               official counterpart
==================== =================================================== ==========================
``G4PNAFNet``         :class:`gpt4o_prior.archs.NAFNet`                    NAFNet ``NAFNet``
``G4PNAFNetLocal``    :class:`gpt4o_prior.archs.NAFNetLocal`               NAFNet ``NAFNetLocal``
``G4PRestormer``      :class:`gpt4o_prior.archs.Restormer`                 Restormer ``Restormer``
``G4PRetinexformer``  :class:`gpt4o_prior.archs.Retinexformer`             Retinexformer ``RetinexFormer``
``G4PSpandrel``       any spandrel architecture (:func:`G4PSpandrel`)     the official release
==================== =================================================== ==========================

``G4PSpandrel`` builds any architecture spandrel ships (``pip install gpt4o-prior[spandrel]``), by class name
with its arguments, or detected from an official checkpoint::

    network_g: {type: G4PSpandrel, arch: SwinIR, upscale: 1, embed_dim: 60, depths: [6, 6, 6, 6], ...}
    network_g: {type: G4PSpandrel, checkpoint: experiments/pretrained_models/SCUNet_color_real_psnr.pth}

Its parameter names are the official ones, so ``path.pretrain_network_g`` of the release loads into the host,
inside the prior wrapper too, with the usual report.

The official names resolve too (:data:`OFFICIAL_NAMES`): an option file published with ``type: NAFNet``,
``NAFNetLocal``, ``Restormer`` or ``RetinexFormer`` builds our class of that architecture, as written. They are a
fallback of ``ARCH_REGISTRY.get``, not registrations: a user who registers their own ``NAFNet`` (the fork's
``NAFNet_arch.py``, say) gets theirs, and BasicSR's "already registered" assertion never fires.

BasicSR's ``Registry.register`` keys an object by its ``__name__`` and refuses a name twice. Each entry here is a
one-line subclass named after its ``G4P`` name (so BasicSR logs ``Network [G4PNAFNet] is created``); it adds
nothing, so ``isinstance(net, gpt4o_prior.archs.NAFNet)`` holds and the state dict is the base class's.
:func:`register_archs` runs on import and again at will: a name already bound to our class is left alone, a name
bound to something else is an error.

Import ``basicsr_plugins`` before ``basicsr`` (it makes BasicSR 1.4.2 importable beside current torchvision).

Example:
    >>> import basicsr_plugins.archs
    >>> from basicsr.archs import build_network
    >>> net = build_network({"type": "G4PNAFNet", "width": 8, "enc_blk_nums": [1], "dec_blk_nums": [1]})
    >>> type(net).__name__, isinstance(net, basicsr_plugins.archs.NAFNet)
    ('G4PNAFNet', True)
"""
from __future__ import annotations

import logging

from torch import nn

from gpt4o_prior.archs import NAFNet, NAFNetLocal, Restormer, Retinexformer
from gpt4o_prior.archs.zoo import network_from_settings

from .compat import patch_torchvision
from .registration import add_fallback_names

patch_torchvision()

from basicsr.utils.registry import ARCH_REGISTRY  # noqa: E402  (after the torchvision alias)

__all__ = ["G4PNAFNet", "G4PNAFNetLocal", "G4PRestormer", "G4PRetinexformer", "G4PSpandrel", "G4P_ARCHS",
           "OFFICIAL_NAMES", "register_archs", "resolve_official_names"]


def _alias(name: str, base: type) -> type:
    doc = (f"``{name}``: :class:`gpt4o_prior.archs.{base.__name__}` as registered in BasicSR's ARCH_REGISTRY; "
           f"same arguments, behaviour and state dict (see the base class for both).")
    return type(name, (base,), {"__doc__": doc, "__module__": __name__, "_g4p_base": base})


G4PNAFNet = _alias("G4PNAFNet", NAFNet)
G4PNAFNetLocal = _alias("G4PNAFNetLocal", NAFNetLocal)
G4PRestormer = _alias("G4PRestormer", Restormer)
G4PRetinexformer = _alias("G4PRetinexformer", Retinexformer)



def G4PSpandrel(arch: str | None = None, checkpoint: str | None = None, **params) -> nn.Module:  # noqa: N802
    """BasicSR ``network_g`` type: any spandrel architecture, by class name (``arch``, with its arguments) or
    detected from an official ``checkpoint`` (weights loaded, the detection logged); see
    :func:`gpt4o_prior.archs.zoo.network_from_settings`."""
    net, report = network_from_settings(arch, checkpoint, where="network_g", **params)
    if report is not None:
        logging.getLogger("basicsr").info("G4PSpandrel detected:\n%s", report)
    return net


G4P_ARCHS: dict[str, type] = {c.__name__: c for c in (G4PNAFNet, G4PNAFNetLocal, G4PRestormer, G4PRetinexformer,
                                                      G4PSpandrel)}
"""BasicSR ``type`` name -> class (or builder), for every architecture this module registers."""


def _ours(obj: object, cls: type) -> bool:
    # the same class, or the same alias created by an earlier import of this module (e.g. importlib.reload)
    return obj is cls or (getattr(obj, "__module__", None) == __name__
                          and getattr(obj, "__name__", None) == getattr(cls, "__name__", None)
                          and getattr(obj, "_g4p_base", None) is getattr(cls, "_g4p_base", None))


def register_archs(registry=None) -> list[str]:
    """Register every ``G4P*`` architecture in BasicSR's ``ARCH_REGISTRY`` (or ``registry``); safe to call twice.

    Args:
        registry: a BasicSR ``Registry``; default ``basicsr.utils.registry.ARCH_REGISTRY``.

    Returns:
        The names registered by this call (empty when all were there already).

    Raises:
        RuntimeError: a ``G4P*`` name is already taken by another object.

    Example:
        >>> register_archs()  # already done on import: nothing new
        []
    """
    registry = ARCH_REGISTRY if registry is None else registry
    added = []
    for name, cls in G4P_ARCHS.items():
        if name in registry:
            existing = registry.get(name)
            if not _ours(existing, cls):
                raise RuntimeError(
                    f"BasicSR's ARCH_REGISTRY already holds {name!r} as {existing!r}, not gpt4o-prior's; remove the "
                    f"other registration or rename it"
                )
            continue
        registry.register(cls)
        added.append(name)
    return added


register_archs()


OFFICIAL_NAMES: dict[str, type] = {"NAFNet": G4PNAFNet, "NAFNetLocal": G4PNAFNetLocal, "Restormer": G4PRestormer,
                                   "RetinexFormer": G4PRetinexformer}
"""``network_g.type`` names of the official option files -> our class of that architecture (same arguments)."""


def resolve_official_names(registry=None) -> bool:
    """Make ``registry.get(name)`` (BasicSR's ``ARCH_REGISTRY`` by default) fall back to :data:`OFFICIAL_NAMES` for
    a name nothing registered (:func:`~basicsr_plugins.registration.add_fallback_names`); safe to call twice.
    Returns True when this call installed the fallback.

    Example:
        >>> from basicsr.archs import build_network
        >>> type(build_network({"type": "NAFNet", "width": 8, "enc_blk_nums": [1], "dec_blk_nums": [1]})).__name__
        'G4PNAFNet'
    """
    return add_fallback_names(ARCH_REGISTRY if registry is None else registry, OFFICIAL_NAMES)


resolve_official_names()
