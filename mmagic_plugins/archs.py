"""Generators for MMagic configs from architectures written by others: ``G4PSpandrel`` in MMagic's ``MODELS``.

Any architecture spandrel ships (``pip install gpt4o-prior[spandrel]``), by class name with its arguments or
detected from an official checkpoint, as the ``generator`` of an MMagic model (wrapped by ``PriorEditModel`` when
the config has a ``prior`` line)::

    model = dict(type='BaseEditModel',
                 generator=dict(type='G4PSpandrel', arch='NAFNet', width=32, enc_blk_nums=[1, 1, 1, 28],
                                middle_blk_num=1, dec_blk_nums=[1, 1, 1, 1]),
                 pixel_loss=dict(type='L1Loss'), data_preprocessor=dict(type='DataPreprocessor'))
    # or: generator=dict(type='G4PSpandrel', checkpoint='pretrained/NAFNet-SIDD-width32.pth')

Example:
    >>> from mmagic.registry import MODELS
    >>> net = MODELS.build(dict(type='G4PSpandrel', arch='DnCNN', in_nc=3, out_nc=3, nc=8, nb=3))
    >>> type(net).__name__
    'DnCNN'
"""
from __future__ import annotations

from mmengine.logging import print_log
from torch import nn

from gpt4o_prior.archs.zoo import network_from_settings

from .registry import MODELS, register

__all__ = ["G4PSpandrel"]


@register(MODELS)
def G4PSpandrel(arch: str | None = None, checkpoint: str | None = None, **params) -> nn.Module:  # noqa: N802
    """An MMagic generator: any spandrel architecture, by class name (``arch``, with its arguments) or detected
    from an official ``checkpoint`` (weights loaded, the detection logged); see
    :func:`gpt4o_prior.archs.zoo.network_from_settings`."""
    net, report = network_from_settings(arch, checkpoint, where="model.generator", **params)
    if report is not None:
        print_log(f"G4PSpandrel detected:\n{report}", logger="current")
    return net
