"""basicsr_plugins.schedulers: the recipes' learning-rate schedules against their formulas (eta_mins above the base
rate included), any torch.optim optimizer, and both reaching a BasicSR model from its options."""
import math

import pytest
import torch

import basicsr_plugins  # noqa: F401  (before basicsr: torchvision alias)
from basicsr_plugins.schedulers import CosineAnnealingRestartCyclicLR, TrueCosineAnnealingLR, build_optimizer


def _run(make, n, lr=2e-4):
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(opt)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def _cyclic(t, base, periods, weights, etas):
    ends = [sum(periods[:i + 1]) for i in range(len(periods))]
    i = next(i for i, e in enumerate(ends) if t <= e)
    start = 0 if i == 0 else ends[i - 1]
    return etas[i] + weights[i] * 0.5 * (base - etas[i]) * (1 + math.cos(math.pi * (t - start) / periods[i]))


@pytest.mark.parametrize("periods, weights, etas", [
    ([92000, 208000], [1, 1], [3e-4, 1e-6]),      # Retinexformer / MIRNet-v2: eta_mins[0] above the base rate
    ([46, 104], [1, 1], [3e-4, 1e-6]),            # the same, scaled down
    ([30, 50, 20], [1, 0.5, 0.25], [1e-5, 1e-6, 0.0]),
])
def test_cyclic_schedule_follows_its_formula(periods, weights, etas):
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=2e-4)
    sched = CosineAnnealingRestartCyclicLR(opt, periods=periods, restart_weights=weights, eta_mins=etas)
    total = sum(periods)
    for t in (0, 1, periods[0] // 2, periods[0] - 1, periods[0], periods[0] + 1, total // 2, total - 1, total):
        sched.last_epoch = t
        assert sched.get_lr()[0] == pytest.approx(_cyclic(t, 2e-4, periods, weights, etas), rel=1e-9, abs=1e-15), t
    if total <= 400:  # stepped as BasicSR steps it: the same numbers
        lrs = _run(lambda o: CosineAnnealingRestartCyclicLR(o, periods=periods, restart_weights=weights,
                                                            eta_mins=etas), total)
        assert all(lr == pytest.approx(_cyclic(t, 2e-4, periods, weights, etas), rel=1e-9, abs=1e-15)
                   for t, lr in enumerate(lrs))
    if etas[0] > 2e-4:  # rises in the first period
        sched.last_epoch = periods[0] // 2
        assert sched.get_lr()[0] > 2e-4


def test_true_cosine_is_the_closed_form():
    lrs = _run(lambda o: TrueCosineAnnealingLR(o, T_max=50, eta_min=1e-7), 60, lr=1e-3)
    for t in (0, 10, 25, 49, 50, 55):
        want = 1e-7 + (1e-3 - 1e-7) * (1 + math.cos(math.pi * t / 50)) / 2
        assert lrs[t] == pytest.approx(want, rel=1e-9), t


def test_schedule_errors_are_clear():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="must be non-empty lists of one length"):
        CosineAnnealingRestartCyclicLR(opt, periods=[10, 10], restart_weights=[1], eta_mins=[0, 0])
    s = CosineAnnealingRestartCyclicLR(opt, periods=[2], restart_weights=[1], eta_mins=[0])
    s.step(); s.step()
    with pytest.raises(ValueError, match="past the last period.*add up to train.total_iter"):
        s.step()
    with pytest.raises(ValueError, match="'Adamm' is not an optimizer in torch.optim"):
        build_optimizer("Adamm", [torch.zeros(1, requires_grad=True)], 1e-3)


def test_a_recipe_optimizer_and_schedule_reach_the_model(toy, tmp_path):
    from basicsr.models import build_model

    from basicsr_plugins.prior_option import apply_prior_option
    from tests.helpers.basicsr_toy import base_opt

    opt = base_opt(toy, "recipe")
    opt["train"]["optim_g"] = {"type": "AdamW", "lr": 3e-4, "weight_decay": 1e-4, "betas": [0.9, 0.999]}
    opt["train"]["scheduler"] = {"type": "CosineAnnealingRestartCyclicLR", "periods": [4, 6],
                                 "restart_weights": [1, 1], "eta_mins": [4e-4, 1e-6]}
    apply_prior_option(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    opt["path"].update(models=str(tmp_path / "m"), training_states=str(tmp_path / "s"),
                       visualization=str(tmp_path / "v"))
    model = build_model(opt)
    assert type(model.optimizer_g) is torch.optim.AdamW and model.optimizer_g.defaults["weight_decay"] == 1e-4
    assert isinstance(model.schedulers[0], CosineAnnealingRestartCyclicLR)
    seen = []
    for it in range(1, 8):
        model.update_learning_rate(it, warmup_iter=-1)
        seen.append(model.get_current_learning_rate()[0])
    steps = model.schedulers[0].last_epoch  # BasicSR steps from the second iteration on
    assert steps == 6 and seen[-1] == pytest.approx(_cyclic(steps, 3e-4, [4, 6], [1, 1], [4e-4, 1e-6]))
    assert max(seen[:4]) > 3e-4  # the first period rises towards eta_mins[0]
