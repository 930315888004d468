"""Zero initialisation, the device that makes every fusion block start as the identity."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["zero_module"]


def zero_module(module: nn.Module) -> nn.Module:
    """Set every parameter of ``module`` to zero and return it (as ControlNet's zero convolutions).

    Example:
        >>> conv = zero_module(nn.Conv2d(2, 3, 1))
        >>> int(conv.weight.count_nonzero() + conv.bias.count_nonzero())
        0
    """
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    return module
