"""Fixtures for the architecture tests."""
import pytest
import torch


@pytest.fixture
def pair():
    """One 3 x 20 x 20 image and a target that differs from it smoothly (a colour shift and a contrast change)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 20, 20, generator=g)
    gt = (0.6 * x + torch.tensor([0.2, 0.1, 0.0]).view(1, 3, 1, 1)).clamp(0, 1)
    return x, gt
