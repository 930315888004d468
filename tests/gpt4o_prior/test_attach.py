"""attach_prior / PriorNet: identity at init on several hosts, detach, prior_scale, checkpoints, errors, copies,
dtypes and torch.compile."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gpt4o_prior.attach import HostLoadReport, PriorNet, attach_prior
from gpt4o_prior.encoder import PriorEncoder
from gpt4o_prior.fusion import list_fusions

from tests.helpers.hosts import HOSTS, TinyResNet, TinyUNet, make_host, randomise

KINDS = list_fusions()


def _train_branch(net, steps=2):
    """A couple of steps on the branch so the zero-initialised projections move."""
    opt = torch.optim.Adam(net.branch_parameters(), lr=1e-2)
    x, p = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    for _ in range(steps):
        loss = (net(x, prior=p) - x.flip(-1)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


@pytest.mark.parametrize("host_name", list(HOSTS))
@pytest.mark.parametrize("kind", KINDS)
def test_identity_at_init_and_detach(host_name, kind):
    host = make_host(host_name)
    x, prior = torch.rand(2, 3, 19, 13), torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        before = host(x)
        net = attach_prior(host, fusion=kind)
        assert isinstance(net, PriorNet) and net.host is host and net.attach_points
        torch.testing.assert_close(net(x, prior=prior), before, rtol=1e-5, atol=1e-5)
        assert torch.equal(net(x), before)  # prior=None runs the host alone
        assert net.detach() is host
        assert torch.equal(host(x), before)  # bit-identical once detached
    assert all(not m._forward_hooks for m in host.modules())


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_the_prior_encoder(kind):
    net = _train_branch(attach_prior(make_host("unet"), fusion=kind), steps=1)
    net.zero_grad()
    (net(torch.rand(2, 3, 16, 16), prior=torch.rand(2, 3, 16, 16)) ** 2).mean().backward()
    params = list(net.branch.encoder.parameters()) if net.branch.encoder is not None else \
        list(net.branch.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert all(p.grad is not None for p in net.branch_parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_net(kind):
    net = attach_prior(make_host("unet"), fusion=kind).to(torch.bfloat16)
    out = net(torch.rand(1, 3, 12, 12, dtype=torch.bfloat16), prior=torch.rand(1, 3, 12, 12))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_prior_scale_blends_and_zero_is_the_host():
    net = _train_branch(attach_prior(make_host("unet"), fusion="sft"))
    x, p = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        host_only, full = net.host(x), net(x, prior=p)
        assert not torch.allclose(host_only, full)
        net.prior_scale = 0.0
        assert torch.equal(net(x, prior=p), host_only)
        net.prior_scale = 0.5
        half = net(x, prior=p)
    assert not torch.allclose(half, host_only) and not torch.allclose(half, full)


@pytest.mark.parametrize("kind", ["sft", "cross_attention"])
def test_prior_keep_switches_the_branch_off_per_sample(kind):
    net = _train_branch(attach_prior(make_host("unet"), fusion=kind))
    x, p = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        full, host_only = net(x, prior=p), net.host(x)
        mixed = net(x, prior=p, prior_keep=torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(mixed[1], host_only[1])  # sample 1 ran without its prior
    torch.testing.assert_close(mixed[[0, 2]], full[[0, 2]])
    keep = torch.tensor([1.0, 0.0, 1.0], requires_grad=False)
    net(x, prior=p, prior_keep=keep).sum().backward()  # trains: the dropped sample gives the branch no gradient
    with pytest.raises(ValueError, match="prior_keep"):
        net(x, prior=p, prior_keep=torch.ones(2))


def test_state_dict_round_trips():
    net = _train_branch(attach_prior(make_host("unet"), fusion="cross_attention", window=4, halo=2))
    sd = net.state_dict()
    assert {k.split(".")[0] for k in sd} == {"host", "branch"}
    assert {k[len("host."):] for k in sd if k.startswith("host.")} == set(net.host.state_dict())
    x, p = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        want = net(x, prior=p)
        other = attach_prior(TinyUNet(), fusion="cross_attention", window=4, halo=2)
        other.load_state_dict(sd)
        torch.testing.assert_close(other(x, prior=p), want, rtol=0, atol=0)
        # the branch alone, onto a host that already has its weights
        third = attach_prior(copy.deepcopy(net.host), fusion="cross_attention", window=4, halo=2)
        third.load_prior_state_dict(net.prior_state_dict())
        torch.testing.assert_close(third(x, prior=p), want, rtol=0, atol=0)
        third.load_prior_state_dict(sd)  # a whole PriorNet state works too


def test_prior_state_dict_from_elsewhere_is_a_clear_error():
    sft = attach_prior(TinyUNet(), fusion="sft")
    film = attach_prior(TinyUNet(), fusion="film")
    with pytest.raises(RuntimeError, match="does not fit this PriorNet"):
        film.load_prior_state_dict(sft.prior_state_dict())


def test_checkpoint_loads_with_weights_only(tmp_path):
    net = _train_branch(attach_prior(make_host("resnet"), fusion="sft"))
    torch.save(net.prior_state_dict(), tmp_path / "branch.pth")
    other = attach_prior(copy.deepcopy(net.host), fusion="sft")
    other.load_prior_state_dict(torch.load(tmp_path / "branch.pth", weights_only=True))
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(other(x, prior=x), net(x, prior=x))


def test_load_host_state_dict_reports():
    src = make_host("unet")
    net = attach_prior(TinyUNet(), fusion="sft")
    report = net.load_host_state_dict(src.state_dict())
    assert isinstance(report, HostLoadReport) and report.ok
    assert not report.missing and not report.unexpected
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(net(x), src(x))
    # prefixed keys, a stray key, a wrong shape, a missing key
    sd = {f"module.{k}": v for k, v in src.state_dict().items()}
    sd["module.extra.weight"] = torch.zeros(1)
    sd["module.ending.weight"] = torch.zeros(1, 1, 1, 1)
    del sd["module.intro.bias"]
    report = net.load_host_state_dict(sd)
    assert not report.ok
    assert report.unexpected == ["extra.weight"] and report.mismatched == ["ending.weight"]
    assert report.missing == ["intro.bias"]
    assert "missing: intro.bias" in str(report)


def test_wrong_prior_is_a_clear_error():
    net = attach_prior(TinyUNet())
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"prior must have shape \(B, 3, H, W\), got \(2, 4, 8, 8\)"):
        net(x, prior=torch.rand(2, 4, 8, 8))
    with pytest.raises(ValueError, match="x and prior must have the same batch size, got 2 and 1"):
        net(x, prior=torch.rand(1, 3, 8, 8))
    with pytest.raises(TypeError, match="prior must be a torch.Tensor"):
        net(x, prior=[1, 2])


def test_detached_net_refuses_to_run():
    net = attach_prior(TinyResNet())
    net.detach()
    with pytest.raises(RuntimeError, match="detached"):
        net(torch.rand(1, 3, 8, 8))


def _hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def test_attach_detach_attach_again_leaves_no_hook_behind():
    host = make_host("unet")
    before = _hook_count(host)
    for kind in ("sft", "zero_add"):
        net = attach_prior(host, fusion=kind)
        assert _hook_count(host) == before + len(net.attach_points)
        assert net.detach() is host and _hook_count(host) == before
        net.detach()  # twice: nothing more to remove
    assert _hook_count(host) == before


def test_detaching_a_copy_leaves_the_original_attached():
    net = _train_branch(attach_prior(make_host("unet"), fusion="sft"))
    twin = copy.deepcopy(net)
    x, p = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        fused = net(x, prior=p)
    twin_host = twin.detach()
    assert _hook_count(twin_host) == 0 and _hook_count(net.host) == len(net.attach_points)
    with torch.no_grad():
        assert torch.equal(net(x, prior=p), fused)


def test_deepcopy_is_independent():
    net = _train_branch(attach_prior(make_host("unet"), fusion="zero_add"))
    twin = copy.deepcopy(net)
    x, p = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(twin(x, prior=p), net(x, prior=p), rtol=0, atol=0)
        for q in twin.branch_parameters():
            q.zero_()
        assert not torch.allclose(twin(x, prior=p), net(x, prior=p))
        torch.testing.assert_close(twin(x, prior=p), twin.host(x), rtol=1e-6, atol=1e-6)
    twin.detach()  # removes the copy's hooks only
    assert any(m._forward_hooks for m in net.host.modules())


def test_branch_and_host_parameters_split():
    net = attach_prior(make_host("resnet"))
    n_branch = sum(p.numel() for p in net.branch_parameters())
    n_host = sum(p.numel() for p in net.host_parameters())
    assert n_branch + n_host == sum(p.numel() for p in net.parameters())
    net.freeze_host()
    assert all(not p.requires_grad for p in net.host_parameters())
    assert all(p.requires_grad for p in net.branch_parameters())


def test_timm_encoder_and_custom_encoder():
    net = attach_prior(make_host("unet"), encoder="resnet10t").eval()
    assert net.branch.encoder.backbone_name == "resnet10t"
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x, prior=x), net.host(x))
    net = attach_prior(make_host("unet"), encoder=PriorEncoder(widths=[4, 4, 4]))
    assert [p.level for p in net.points] == [2, 1, 0]


def test_prior_for_a_padded_host_is_padded_not_stretched():
    # TinyUNet pads 13 -> 16; the prior must be placed at the top-left 13 px, not stretched over 16.
    net = attach_prior(TinyUNet(), at=["encoders.0"], fusion="sft")
    seen = {}
    block = net.branch.points["encoders__0"].block
    block.register_forward_pre_hook(lambda m, args, kwargs: seen.update(prior=kwargs["prior"]), with_kwargs=True)
    net(torch.rand(1, 3, 13, 13), prior=torch.rand(1, 3, 13, 13))
    enc = net.branch.encoder(torch.rand(1, 3, 13, 13))
    assert seen["prior"].shape[-2:] == (16, 16)
    assert torch.equal(seen["prior"][..., 13:, :13], seen["prior"][..., 12:13, :13].expand(-1, -1, 3, -1))


def test_torch_compile():
    # fullgraph=True: the hooks and the per-forward prior context trace without graph breaks (forward and backward)
    net = _train_branch(attach_prior(make_host("resnet"), fusion="cross_attention", window=4))
    x, p = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    want = net(x, prior=p)
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    got = compiled(x, prior=p)
    torch.testing.assert_close(got, want)
    got.mean().backward()
    assert all(q.grad is not None for q in net.branch_parameters())
    torch.testing.assert_close(compiled(x), net.host(x))  # prior=None: the host alone


def test_replicas_without_hooks_are_refused():
    # nn.DataParallel builds replicas that share the original's hooks; they must not run silently.
    net = attach_prior(TinyResNet())
    replica = net._replicate_for_data_parallel()
    with pytest.raises(RuntimeError, match="DataParallel"):
        replica(torch.rand(1, 3, 8, 8), prior=torch.rand(1, 3, 8, 8))


class _TinySR(nn.Module):
    """x2 super-resolution host: features at the input's size, output twice as large."""

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.up = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x):
        return self.up(self.body(self.head(x)))


def test_upsampling_host_takes_a_high_resolution_prior():
    host = randomise(_TinySR())
    net = attach_prior(host, example_input=torch.rand(1, 3, 16, 16))
    assert net.attach_points == ["body"]
    x, prior = torch.rand(2, 3, 10, 12), torch.rand(2, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(net(x, prior=prior), host(x))
    assert net(x, prior=prior).shape == (2, 3, 20, 24)


# -- confidence -------------------------------------------------------------------------------------------------


def _perturb_branch(net, std=0.1):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for q in net.branch_parameters():
            q.add_(torch.randn(q.shape, generator=g) * std)
    return net


@pytest.mark.parametrize("kind", KINDS)
def test_zero_confidence_is_the_host_even_trained(kind):
    net = _perturb_branch(_train_branch(attach_prior(make_host("unet"), fusion=kind)))
    x, p = torch.rand(2, 3, 13, 15), torch.rand(2, 3, 26, 30)
    with torch.no_grad():
        host_only = net.host(x)
        assert not torch.allclose(net(x, prior=p), host_only)
        assert torch.equal(net(x, prior=p, confidence=torch.zeros(2, 1, 26, 30)), host_only)
        assert torch.equal(net(x, prior=p, confidence=torch.zeros(2, 7, 9)), host_only)  # (B, h, w), another size
        torch.testing.assert_close(net(x, prior=p, confidence=torch.ones(2, 1, 26, 30)), net(x, prior=p),
                                   rtol=1e-5, atol=1e-5)


def test_confidence_reaches_each_point_in_its_geometry():
    # TinyUNet pads 13 -> 16: the confidence is placed like the prior features (top-left 13 px, border replicated)
    net = attach_prior(TinyUNet(), at=["encoders.0", "encoders.1"], fusion="sft", confidence_power=None)
    seen = {}
    for key in ("encoders__0", "encoders__1"):
        net.branch.points[key].block.register_forward_pre_hook(
            lambda m, args, kwargs, key=key: seen.update({key: kwargs["confidence"]}), with_kwargs=True)
    conf = torch.rand(1, 1, 26, 26)
    net(torch.rand(1, 3, 13, 13), prior=torch.rand(1, 3, 26, 26), confidence=conf)
    full, half = seen["encoders__0"], seen["encoders__1"]
    assert full.shape == (1, 1, 16, 16) and half.shape == (1, 1, 8, 8)
    torch.testing.assert_close(full[..., :13, :13], F.interpolate(conf, size=(13, 13), mode="bilinear"))
    assert torch.equal(full[..., 13:, :13], full[..., 12:13, :13].expand(-1, -1, 3, -1))
    # the stride-2 level: averaged to the encoder level (13 x 13), then resized to ceil(13 / 2) = 7 and padded
    level = F.adaptive_avg_pool2d(conf, (13, 13))
    torch.testing.assert_close(half[..., :7, :7], F.interpolate(level, size=(7, 7), mode="bilinear"))


def test_confidence_prior_keep_and_prior_scale_multiply():
    net = _perturb_branch(_train_branch(attach_prior(make_host("resnet"), fusion="sft", confidence_power=None)))
    x, p = torch.rand(3, 3, 12, 12), torch.rand(3, 3, 12, 12)
    conf = torch.stack([torch.ones(1, 12, 12), torch.zeros(1, 12, 12), torch.rand(1, 12, 12)])
    with torch.no_grad():
        full, host_only = net(x, prior=p), net.host(x)
        out = net(x, prior=p, confidence=conf, prior_keep=torch.tensor([1.0, 1.0, 0.0]))
        torch.testing.assert_close(out[0], full[0], rtol=1e-6, atol=1e-6)
        assert torch.equal(out[1], host_only[1])  # no confidence
        assert torch.equal(out[2], host_only[2])  # dropped
        # one attach point: feat + s * k * c * (fused - feat), so halving any of the three is the same
        half_conf = net(x, prior=p, confidence=torch.full((3, 1, 12, 12), 0.5))
        half_keep = net(x, prior=p, prior_keep=torch.full((3,), 0.5))
        net.prior_scale = 0.5
        half_scale = net(x, prior=p)
        quarter = net(x, prior=p, confidence=torch.full((3, 1, 12, 12), 0.5))
        net.prior_scale = 1.0
        quarter_keep = net(x, prior=p, confidence=torch.full((3, 1, 12, 12), 0.5), prior_keep=torch.full((3,), 0.5))
    torch.testing.assert_close(half_conf, half_keep, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(half_conf, half_scale, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(quarter, quarter_keep, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(quarter, half_conf)


def test_the_learnt_confidence_power_sharpens_the_gate_keeps_its_ends_and_loads_old_branches():
    from gpt4o_prior.fusion import sharpen_confidence

    c = torch.tensor([0.0, 1e-6, 0.0625, 0.3, 1.0])
    out = sharpen_confidence(c, torch.tensor(0.25).log())
    assert out[0] == 0 and out[-1] == 1 and abs(float(out[2]) - 0.5) < 1e-6 and out[3] > 0.7
    net = attach_prior(make_host("unet"), fusion="sft")  # the default, 0.5
    powers = {k: float(pf.confidence_log_power.exp()) for k, pf in net.branch.points.items()}
    assert powers and all(abs(v - 0.5) < 1e-6 for v in powers.values())
    net = _perturb_branch(_train_branch(net))
    plain = _perturb_branch(_train_branch(attach_prior(make_host("unet"), fusion="sft", confidence_power=None)))
    assert not any("confidence_log_power" in k for k in plain.prior_state_dict())
    x, p = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    conf = torch.rand(2, 1, 16, 16).clamp_min(1e-3)
    with torch.no_grad():
        assert torch.equal(net(x, prior=p, confidence=torch.zeros(2, 1, 16, 16)), net.host(x))
        # the sharpened gate c ** p is what the hook hands the block
        seen = {}
        key = next(iter(net.branch.points))
        h = net.branch.points[key].block.register_forward_pre_hook(
            lambda m, args, kwargs: seen.update(c=kwargs["confidence"]), with_kwargs=True)
        net(x, prior=p, confidence=torch.full((2, 1, 16, 16), 0.0625))
        h.remove()
        power = float(net.branch.points[key].confidence_log_power.exp())
        torch.testing.assert_close(seen["c"], torch.full_like(seen["c"], 0.0625 ** power))
        expected = plain(x, prior=p, confidence=conf)
    # a branch saved with the plain gate loads into a default net as power 1 and computes what it computed
    net.host.load_state_dict(plain.host.state_dict())
    net.load_prior_state_dict(plain.prior_state_dict())
    assert all(float(pf.confidence_log_power) == 0.0 for pf in net.branch.points.values())
    with torch.no_grad():
        torch.testing.assert_close(net(x, prior=p, confidence=conf), expected, rtol=1e-6, atol=1e-6)
    # the power is learnt where the confidence is neither 0 nor 1
    net.zero_grad()
    net(x, prior=p, confidence=conf).square().mean().backward()
    assert all(pf.confidence_log_power.grad is not None and pf.confidence_log_power.grad != 0
               for pf in net.branch.points.values())
    for bad in (0, -1.0, "0.5", True):
        with pytest.raises(ValueError, match="confidence_power must be a number > 0"):
            attach_prior(make_host("unet"), confidence_power=bad)


class _NoConfidence(nn.Module):
    """A user's block, written before confidence existed: ``forward(feat, *, prior)``, not the identity."""

    def __init__(self, channels, prior_channels):
        super().__init__()
        self.proj = nn.Conv2d(prior_channels, channels, 1)

    def forward(self, feat, *, prior):
        return feat + self.proj(F.interpolate(prior, size=feat.shape[-2:], mode="bilinear"))


class _TakesKwargs(_NoConfidence):
    def forward(self, feat, *, prior, **kwargs):
        self.got = sorted(kwargs)
        return super().forward(feat, prior=prior) * kwargs.get("confidence", 1.0)


def test_user_block_without_confidence_is_gated_by_the_hook():
    net = attach_prior(make_host("unet"), fusion=_NoConfidence)
    assert not any(pf.takes_confidence for pf in net.branch.points.values())
    x, p = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        host_only, full = net.host(x), net(x, prior=p)
        assert not torch.allclose(full, host_only)
        assert torch.equal(net(x, prior=p, confidence=torch.zeros(2, 1, 16, 16)), host_only)
        torch.testing.assert_close(net(x, prior=p, confidence=torch.ones(2, 1, 16, 16)), full, rtol=0, atol=1e-6)
        assert not torch.allclose(net(x, prior=p, confidence=torch.rand(2, 1, 16, 16)), full)
    # a forward with **kwargs receives the confidence itself
    net = attach_prior(make_host("resnet"), fusion=_TakesKwargs)
    assert all(pf.takes_confidence for pf in net.branch.points.values())
    net(x, prior=p, confidence=torch.rand(2, 1, 16, 16))
    assert net.branch.points["body"].block.got == ["confidence"]


def test_wrong_confidence_is_a_clear_error_and_leaves_no_state():
    net = _train_branch(attach_prior(make_host("resnet"), fusion="sft"))
    x, p = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"confidence must have shape \(B, 1, h, w\) or \(B, h, w\), got \(2, 3, 8, "):
        net(x, prior=p, confidence=torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="prior and confidence must have the same batch size, got 2 and 1"):
        net(x, prior=p, confidence=torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="prior_keep"):
        net(x, prior=p, prior_keep=torch.ones(3))
    assert torch.equal(net(x), net.host(x))  # nothing of the failed calls is left in the hooks' context
    assert torch.equal(net(x, confidence=torch.rand(2, 1, 8, 8)), net.host(x))  # no prior: the confidence is unused


def test_torch_compile_with_confidence():
    net = _train_branch(attach_prior(make_host("resnet"), fusion="sft"))
    x, p, c = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16)
    want = net(x, prior=p, confidence=c)
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    got = compiled(x, prior=p, confidence=c)
    torch.testing.assert_close(got, want)
    got.mean().backward()
    assert all(q.grad is not None for q in net.branch_parameters())
