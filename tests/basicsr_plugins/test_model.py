"""PriorSRModel built directly from options: pretrained host loading, EMA, freeze_host, the prior reaching the
network, the flip / rotation ensemble, and its errors."""
from __future__ import annotations

import copy

import pytest
import torch
from tests.helpers.basicsr_toy import HOST, base_opt

from basicsr_plugins.prior_option import apply_prior_option


def _model_opt(toy, tmp_path, *, ema=0.9, pretrain=None, strict=True, **prior):
    opt = base_opt(toy, "unit")
    opt["prior"].update(prior)
    apply_prior_option(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    opt["train"]["ema_decay"] = ema
    opt["path"].update(pretrain_network_g=pretrain, strict_load_g=strict, models=str(tmp_path / "models"),
                       training_states=str(tmp_path / "states"), visualization=str(tmp_path / "vis"))
    return opt


def _build(opt):
    from basicsr.models import build_model

    return build_model(copy.deepcopy(opt))


def _host(**changes):
    from basicsr.archs import build_network

    torch.manual_seed(1)
    return build_network({**copy.deepcopy(HOST), **changes})


def _batch(seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(2, 3, size, size, generator=g) for k in ("lq", "gt", "prior")}


def test_bare_host_checkpoint_loads_exactly_and_ema_starts_from_it(toy, tmp_path, basicsr_log):
    host = _host()
    ckpt = tmp_path / "released.pth"
    torch.save({"params_ema": host.state_dict()}, ckpt)  # a release with only params_ema, as many have
    model = _build(_model_opt(toy, tmp_path, pretrain=str(ckpt)))
    x = _batch()
    with torch.no_grad():
        want = host(x["lq"])
        got = model.net_g(x["lq"], prior=x["prior"])
    assert torch.allclose(got, want, atol=1e-6)  # identity at start: exactly the pretrained model
    ema, net = model.net_g_ema.state_dict(), model.net_g.state_dict()
    assert set(ema) == set(net) and all(torch.equal(ema[k], net[k]) for k in net)  # branch included
    n = len(host.state_dict())
    reports = [m for m in basicsr_log.messages if "host tensors loaded" in m]
    assert len(reports) == 1 and f"loaded {n}/{n}, missing 0" in reports[0]  # one report
    assert any(m.startswith("EMA network: host from") for m in basicsr_log.messages)


@pytest.mark.parametrize("bad", ["other_width", "foreign_keys"])
def test_host_weights_that_do_not_load_stop_with_a_clear_error(toy, tmp_path, bad):
    ckpt = tmp_path / "bad.pth"
    if bad == "other_width":
        torch.save({"params": _host(width=16).state_dict()}, ckpt)
    else:
        torch.save({"params": {"conv.weight": torch.zeros(1)}}, ckpt)
    with pytest.raises(RuntimeError, match="host's own weights did not load"):
        _build(_model_opt(toy, tmp_path, pretrain=str(ckpt)))


def test_freeze_host_trains_the_branch_alone_with_one_summary_line(toy, tmp_path, basicsr_log):
    model = _build(_model_opt(toy, tmp_path, ema=0, freeze_host=True))
    net = model.net_g
    host_params = list(net.host.parameters())
    assert host_params and not any(p.requires_grad for p in host_params)
    optimized = {id(p) for group in model.optimizer_g.param_groups for p in group["params"]}
    assert optimized and not optimized & {id(p) for p in host_params}
    assert sum("Prior branch only" in m for m in basicsr_log.messages) == 1
    assert not any("will not be optimized" in m for m in basicsr_log.messages)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model.feed_data(_batch())
    model.optimize_parameters(1)
    after = net.state_dict()
    host_keys = [k for k in after if k.startswith("host.")]
    assert host_keys and all(torch.equal(before[k], after[k]) for k in host_keys)
    assert any(not torch.equal(before[k], after[k]) for k in after if not k.startswith("host."))


def test_the_network_really_receives_the_prior(toy, tmp_path):
    model = _build(_model_opt(toy, tmp_path, ema=0))
    model.optimizer_g.param_groups[0]["lr"] = 1e-2
    batch, other = _batch(0), _batch(1)["prior"]

    def output(prior):
        model.feed_data({**batch, "prior": prior})
        model.test()
        return model.output.clone()

    assert torch.allclose(output(batch["prior"]), output(other), atol=1e-6)  # identity at init
    for it in range(3):
        model.feed_data(batch)
        model.optimize_parameters(it + 1)
    assert (output(batch["prior"]) - output(other)).abs().max() > 1e-4  # after training, the prior matters


class _EchoPrior(torch.nn.Module):
    """Returns its prior: an ensemble that transforms the prior like the input gives the prior back exactly."""

    def forward(self, x, *, prior):
        assert x.shape == prior.shape
        return prior + 0 * x


def test_self_ensemble_transforms_the_prior_like_the_input(toy, tmp_path):
    opt = _model_opt(toy, tmp_path, ema=0)
    opt["val"]["self_ensemble"] = True
    model = _build(opt)
    model.net_g = _EchoPrior()
    batch = _batch(size=16)
    batch["lq"] = batch["lq"][..., :12]  # non-square: the transposes must swap H and W for both
    batch["prior"] = batch["prior"][..., :12]
    model.feed_data(batch)
    model.test()
    assert torch.allclose(model.output, batch["prior"], atol=1e-6)


def test_model_errors(toy, tmp_path):
    model = _build(_model_opt(toy, tmp_path, ema=0))
    with pytest.raises(KeyError, match="no 'prior'"):
        model.feed_data({"lq": torch.rand(1, 3, 8, 8)})
    assert isinstance(model.get_optimizer("AdamW", model.net_g.parameters(), 1e-3), torch.optim.AdamW)
    with pytest.raises(ValueError, match="train.optim_g.type"):
        model.get_optimizer("Adamm", model.net_g.parameters(), 1e-3)
    model.opt["num_gpu"] = 2  # DataParallel (no launcher) would drop the branch's hooks: refused up front
    with pytest.raises(ValueError, match="--launcher pytorch"):
        model.model_to_device(model.net_g)
    opt = _model_opt(toy, tmp_path, ema=0)
    opt["network_g"] = copy.deepcopy(HOST)  # written-out model, unwrapped network
    with pytest.raises(TypeError, match="G4PPriorNet"):
        _build(opt)


def test_a_prior_checkpoint_with_another_branch_is_refused_clearly(toy, tmp_path):
    model = _build(_model_opt(toy, tmp_path, ema=0, fusion="sft"))
    ckpt = tmp_path / "film.pth"
    sd = model.net_g.state_dict()
    sd["branch.extra.weight"] = torch.zeros(1)  # a branch this network does not have
    torch.save({"params": sd}, ckpt)
    with pytest.raises(RuntimeError, match="prior branch that does not fit network_g"):
        _build(_model_opt(toy, tmp_path, ema=0, pretrain=str(ckpt)))


def test_partial_host_load_needs_strict_load_g_false(toy, tmp_path, basicsr_log):
    sd = _host().state_dict()
    sd.pop(sorted(sd)[0])
    ckpt = tmp_path / "partial.pth"
    torch.save(sd, ckpt)  # a bare state dict, no 'params' level
    with pytest.raises(RuntimeError, match="strict_load_g: false"):
        _build(_model_opt(toy, tmp_path, ema=0, pretrain=str(ckpt)))
    _build(_model_opt(toy, tmp_path, ema=0, pretrain=str(ckpt), strict=False))
    assert any("1 host tensors NOT loaded" in m for m in basicsr_log.messages)


@pytest.mark.parametrize("prior_keys", [
    {"fusion": "input_concat"},
    {"fusion": "film", "at": ["middle_blks"], "encoder": {"levels": 2, "widths": [8, 16]}, "prior_scale": 0.5},
    {"fusion": "cross_attention", "at": ["middle_blks"], "fusion_args": {"window": 4}},
])
def test_prior_mapping_keys_reach_attach_prior(toy, tmp_path, prior_keys):
    model = _build(_model_opt(toy, tmp_path, ema=0, **prior_keys))
    net = model.net_g
    assert net.fusion == prior_keys["fusion"]
    if "at" in prior_keys:
        assert net.attach_points == prior_keys["at"]
    assert net.prior_scale == prior_keys.get("prior_scale", 1.0)
    model.feed_data(_batch(size=16))
    model.optimize_parameters(1)
    assert model.output.shape == (2, 3, 16, 16)


def test_input_channels_reaches_the_dry_run(toy, tmp_path):
    with pytest.raises(ValueError, match=r"could not run G4PNAFNet on an example input \(tried \(1, 5, 64, 64\)"):
        _build(_model_opt(toy, tmp_path, ema=0, input_channels=5))
    assert _build(_model_opt(toy, tmp_path, ema=0, input_channels=3)).net_g.attach_points


def test_dropout_mode_pair_trains_each_sample_with_and_without_its_prior(toy, tmp_path, basicsr_log):
    model = _build(_model_opt(toy, tmp_path, ema=0, dropout_mode="pair"))
    batch = _batch()
    batch["prior_dropped"] = batch["lq"].clone()  # fill 'input'
    model.feed_data(batch)
    assert model.lq.shape[0] == model.gt.shape[0] == model.prior.shape[0] == 4
    assert torch.equal(model.prior[:2], batch["prior"]) and torch.equal(model.prior[2:], batch["lq"])
    assert torch.equal(model.lq[2:], batch["lq"]) and torch.equal(model.gt[2:], batch["gt"])
    seen = []
    model.net_g.register_forward_hook(lambda m, a, kw, out: seen.append(kw["prior"].shape[0]), with_kwargs=True)
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.optimize_parameters(1)
    assert seen == [4]  # one pass over the doubled batch
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    val = {k: v[:1] for k, v in _batch(1).items()}
    model.feed_data(val)  # a batch without prior_dropped (validation) stays as it is
    assert model.lq.shape[0] == model.prior.shape[0] == 1


def test_prior_keep_reaches_the_network_and_dropped_samples_run_on_the_host(toy, tmp_path, basicsr_log):
    model = _build(_model_opt(toy, tmp_path, ema=0, dropout_mode="pair"))
    net = model.net_g
    with torch.no_grad():  # move the zero-initialised branch so that the prior changes the output
        for p in net.branch_parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = _batch()
    batch.update(prior_dropped=batch["prior"].clone(), prior_keep=torch.ones(2), prior_dropped_keep=torch.zeros(2))
    model.feed_data(batch)
    assert model.prior_keep.tolist() == [1.0, 1.0, 0.0, 0.0]
    outs = []
    net.register_forward_hook(lambda m, a, kw, out: outs.append((kw.get("prior_keep"), out.detach())),
                              with_kwargs=True)
    with torch.no_grad():
        host_out = net.host(batch["lq"])
    model.optimize_parameters(1)
    keep, out = outs[0]
    assert keep is model.prior_keep
    torch.testing.assert_close(out[2:], host_out)  # the dropped half: the host alone
    assert not torch.allclose(out[:2], host_out, atol=1e-4)  # the first half used its prior
    model.feed_data({k: v for k, v in batch.items() if k in ("lq", "gt", "prior")})
    assert model.prior_keep is None  # validation batches carry no flags
