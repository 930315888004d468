"""Published restoration baselines in plain PyTorch, with parameter names matching the official checkpoints.

* :class:`NAFNet`, :class:`NAFNetLocal` (megvii-research/NAFNet)
* :class:`Restormer` (swz30/Restormer)
* :class:`Retinexformer` (caiyuanhao1998/Retinexformer, official class name ``RetinexFormer``)

Each takes the official keyword arguments, works at any input size (padding inside ``forward``), loads the
official ``torch.load(path, weights_only=True)["params"]`` with ``strict=True``, and declares
``prior_attach_points`` for :func:`gpt4o_prior.attach.attach_prior`. BasicSR users get them as ``G4PNAFNet``,
``G4PNAFNetLocal``, ``G4PRestormer``, ``G4PRetinexformer`` through :mod:`basicsr_plugins.archs`.

Every other published architecture comes through spandrel (:mod:`gpt4o_prior.archs.zoo`, the optional extra
``gpt4o-prior[spandrel]``): :func:`load_network` detects one from an official checkpoint and returns it with a
:class:`NetworkReport`, :func:`build_network` builds one by class name, :func:`list_architectures` names them
(BasicSR: ``type: G4PSpandrel``; MMagic: ``type='G4PSpandrel'``).
"""
from .layer_norm import LayerNorm2d, layer_norm_2d
from .local_pool import LocalAvgPool2d, local_avg_pool2d
from .nafnet import NAFBlock, NAFNet, SimpleGate, simple_gate
from .nafnet_local import NAFNetLocal
from .padding import crop_to, pad_amount, pad_to_multiple
from .restormer import Restormer
from .restormer_blocks import GDFN, MDTA, RestormerBlock, RestormerLayerNorm
from .retinexformer import Retinexformer
from .zoo import NetworkReport, build_network, list_architectures, load_network, load_state_dict_file

__all__ = [
    "NAFNet", "NAFNetLocal", "Restormer", "Retinexformer",
    "NAFBlock", "SimpleGate", "simple_gate", "LayerNorm2d", "layer_norm_2d", "LocalAvgPool2d", "local_avg_pool2d",
    "RestormerBlock", "MDTA", "GDFN", "RestormerLayerNorm",
    "pad_amount", "pad_to_multiple", "crop_to",
    "NetworkReport", "load_network", "build_network", "list_architectures", "load_state_dict_file",
]
