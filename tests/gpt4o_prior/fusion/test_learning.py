"""A tiny task where the prior carries what the input lacks: training with the prior beats the same training
without it, for every fusion kind.

Task: the input is a grey texture; the target is that texture tinted with a per-image random colour. The colour
is not in the input at all; the prior (the target shifted by one pixel, so not pixel-faithful) carries it.
"""
import pytest
import torch

from gpt4o_prior import attach as attach_mod
from gpt4o_prior.fusion import list_fusions

from tests.helpers.hosts import TinyResNet

STEPS = 80


def _batch(g, n=8, size=16):
    texture = torch.rand(n, 1, size // 4, size // 4, generator=g)
    texture = torch.nn.functional.interpolate(texture, size=(size, size), mode="bilinear", align_corners=False)
    colour = torch.rand(n, 3, 1, 1, generator=g) * 1.5 + 0.1
    target = texture * colour
    x = texture.expand(-1, 3, -1, -1)
    prior = torch.roll(target, shifts=(1, 1), dims=(2, 3))
    return x, prior, target


def _train(net, use_prior, seed=1):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(STEPS):
        x, prior, target = _batch(g)
        loss = (net(x, prior=prior if use_prior else None) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, prior, target = _batch(torch.Generator().manual_seed(999), n=32)
        return (net(x, prior=prior if use_prior else None) - target).pow(2).mean().item()


@pytest.fixture(scope="module")
def baseline():
    torch.manual_seed(0)
    net = attach_mod.attach_prior(TinyResNet(c=16, blocks=1), fusion="sft")
    return _train(net, use_prior=False)


@pytest.mark.parametrize("kind", list_fusions())
def test_training_with_the_prior_beats_training_without(kind, baseline):
    torch.manual_seed(0)  # same host initialisation as the baseline
    net = attach_mod.attach_prior(TinyResNet(c=16, blocks=1), fusion=kind)
    with_prior = _train(net, use_prior=True)
    assert with_prior < 0.6 * baseline, (kind, with_prior, baseline)


# A displaced prior: the target's colour varies pixel by pixel and the prior carries it two pixels off. The
# deformable block learns to read it where it is; it should do at least as well as SFT, which reads it in place.
# (Measured on the CPU, test MSE after 60 steps: no prior 0.0256, sft 0.0113, deformable 0.0075 with this seed;
# with the training stream's seeds 2 and 3, sft 0.0107 / 0.0105 and deformable 0.0078 / 0.0079.)


def _shifted_batch(g, n=8, size=16, shift=2):
    target = torch.nn.functional.interpolate(torch.rand(n, 3, size // 2, size // 2, generator=g), size=(size, size),
                                             mode="bilinear", align_corners=False)
    x = target.mean(1, keepdim=True).expand(-1, 3, -1, -1)  # luminance only: the colour is in the prior alone
    return x, torch.roll(target, shifts=(shift, shift), dims=(2, 3)), target


def _train_shifted(kind, use_prior=True, steps=60):
    torch.manual_seed(0)
    net = attach_mod.attach_prior(TinyResNet(c=16, blocks=1), fusion=kind)
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(steps):
        x, prior, target = _shifted_batch(g)
        loss = (net(x, prior=prior if use_prior else None) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, prior, target = _shifted_batch(torch.Generator().manual_seed(999), n=32)
        return (net(x, prior=prior if use_prior else None) - target).pow(2).mean().item()


def test_deformable_uses_a_displaced_prior_at_least_as_well_as_sft():
    none, sft, deformable = _train_shifted("sft", use_prior=False), _train_shifted("sft"), _train_shifted("deformable")
    assert deformable < 0.5 * none, (deformable, none)
    assert deformable <= sft, (deformable, sft)
