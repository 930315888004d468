"""``G4PPriorNet``: any registered BasicSR network with a prior branch attached, as one registered architecture.

In an option file::

    network_g:
      type: G4PPriorNet
      host: {type: G4PNAFNet, width: 32, ...}   # the network you had, unchanged
      fusion: sft                               # optional: fusion, at, encoder, prior_scale, fusion_args
      freeze_host: false                        # optional: train the prior branch alone

The one-line ``prior:`` option writes this for you (:mod:`basicsr_plugins.prior_option`).
"""
from __future__ import annotations

from typing import Any, Mapping

from basicsr.utils.registry import ARCH_REGISTRY

from .registration import register

__all__ = ["G4PPriorNet"]


def G4PPriorNet(*, host: Mapping[str, Any] | None = None, fusion: Any = "sft", at: Any = "auto",
                encoder: str | Mapping[str, Any] | None = None, prior_scale: float = 1.0,
                fusion_args: Mapping[str, Any] | None = None, freeze_host: bool = False,
                confidence_power: float | None = 0.5, input_channels: int | None = None):  # noqa: N802
    """Build the host network from its BasicSR options and attach a prior branch to it.

    Args:
        host: the host network's BasicSR options (a mapping with ``type`` and its arguments).
        fusion: fusion block name (see ``gpt4o_prior.fusion``).
        at: attach points: ``"auto"`` or a list of module paths in the host.
        encoder: None (the default ``PriorEncoder``, as deep as the attach points need), a timm model name (a
            timm backbone, not pretrained), or keyword arguments of ``gpt4o_prior.encoder.PriorEncoder``
            (e.g. ``{levels: 4, widths: [16, 32, 64, 128]}``).
        prior_scale: fidelity scale of the prior branch.
        fusion_args: extra keyword arguments for the fusion blocks.
        freeze_host: turn gradients off for the host's parameters (adapter-style training).
        confidence_power: initial exponent of the learnt confidence gate of each fusion point (``~``: the plain
            gate; see :func:`gpt4o_prior.attach_prior`).
        input_channels: the host's input channels for the dry run (``~``: from the host, or 3 first).

    Returns:
        The wrapped network (``net(x, prior=...)``); at initialisation it computes exactly what the host does.

    Raises:
        ValueError: ``host`` is missing or has no ``type``.

    Example:
        >>> import torch, basicsr_plugins.archs  # registers G4PNAFNet
        >>> net = G4PPriorNet(host={"type": "G4PNAFNet", "width": 8, "enc_blk_nums": [1], "dec_blk_nums": [1]})
        >>> x, prior = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
        >>> torch.allclose(net(x, prior=prior), net.host(x), atol=1e-6)  # the host, until trained
        True
    """
    from basicsr.archs import build_network

    from gpt4o_prior.attach import attach_prior
    from gpt4o_prior.encoder import PriorEncoder

    if not isinstance(host, Mapping) or "type" not in host:
        raise ValueError(f"network_g.host must be the host network's options, a mapping with 'type' "
                         f"(e.g. host: {{type: G4PNAFNet, width: 32}}), got {host!r}")
    if fusion_args is not None and not isinstance(fusion_args, Mapping):
        raise ValueError(f"network_g.fusion_args must be a mapping of keyword arguments, got {fusion_args!r}")
    host_net = build_network(dict(host))
    if isinstance(encoder, Mapping):
        encoder = PriorEncoder(**dict(encoder))
    elif encoder is not None and not isinstance(encoder, str):
        raise ValueError(f"network_g.encoder must be ~, a timm model name or a mapping of PriorEncoder "
                         f"arguments, got {encoder!r}")
    net = attach_prior(host_net, at=at, fusion=fusion, encoder=encoder, prior_scale=prior_scale,
                       confidence_power=confidence_power, input_channels=input_channels,
                       **dict(fusion_args or {}))
    if freeze_host:
        net.freeze_host()
    return net


register(ARCH_REGISTRY)(G4PPriorNet)
