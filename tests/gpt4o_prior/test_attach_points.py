"""gpt4o_prior.attach_points: the automatic points (one per resolution, or the host's declared ones), their channels,
strides and levels from the dry run, and clear errors for bad points."""
import pytest
import torch
from torch import nn

from gpt4o_prior.attach import attach_prior
from gpt4o_prior.attach_points import auto_attach_points
from gpt4o_prior.fusion import list_fusions

from tests.helpers.hosts import HOSTS, TinyResNet, TinyUNet

KINDS = list_fusions()


def test_auto_points_per_host():
    # one per resolution (the last stage at each), or the host's declared points
    assert auto_attach_points(TinyUNet()) == ["middle", "decoders.0", "decoders.1"]
    assert auto_attach_points(TinyResNet()) == ["body"]
    assert auto_attach_points(HOSTS["transformer"]()) == ["blocks"]
    nafnet = HOSTS["nafnet"]()
    assert attach_prior(nafnet).attach_points == nafnet.prior_attach_points
    # reproducible
    assert attach_prior(TinyUNet()).attach_points == attach_prior(TinyUNet()).attach_points


def test_points_and_levels_follow_the_resolution():
    net = attach_prior(TinyUNet(), at=["encoders.0", "encoders.1", "middle", "decoders.1"])
    assert [(p.path, p.channels, p.stride, p.level) for p in net.points] == [
        ("encoders.0", 8, 1.0, 0), ("encoders.1", 16, 2.0, 1), ("middle", 32, 4.0, 2), ("decoders.1", 8, 1.0, 0)]
    assert net.branch.encoder.strides == [1, 2, 4]


def test_bad_attach_points_are_clear_errors():
    with pytest.raises(KeyError, match="has no module 'decoder.0'; did you mean 'decoders.0'"):
        attach_prior(TinyUNet(), at=["decoder.0"])
    with pytest.raises(ValueError, match="at must be 'auto' or a list"):
        attach_prior(TinyUNet(), at="middle")
    with pytest.raises(ValueError, match="does not output a \\(B, C, H, W\\) tensor"):
        attach_prior(HOSTS["transformer"](), at=["blocks.0.attn"])
    with pytest.raises(TypeError, match="attaches to an nn.Conv2d"):
        attach_prior(TinyUNet(), at=["middle"], fusion="input_concat")
    with pytest.raises(TypeError, match="already has a prior branch"):
        attach_prior(attach_prior(TinyUNet()))


# ------------------------------------------------------------------ hosts of other shapes (issue 15)
class _NoiseMapHost(nn.Module):
    """Takes the image plus a noise-level map (4 channels) and declares it, as KAIR's networks do."""

    in_nc = 4

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(4, 8, 3, padding=1)
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.tail = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        return self.tail(self.body(self.head(x))) + x[:, :3]


class _IlluminationHost(nn.Module):
    """Its first registered convolution reads the image and its channel mean (4 channels): not the stem."""

    def __init__(self):
        super().__init__()
        self.estimator = nn.Conv2d(4, 3, 1)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        lit = x * torch.sigmoid(self.estimator(torch.cat([x, x.mean(1, keepdim=True)], 1)))
        return self.head(self.body(self.stem(lit)))


class _DictChannelsLastHost(nn.Module):
    """Returns a dict, pads to a multiple of 8, runs a channels-last (B, H, W, C) stage and a pooled attention."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.mlp = nn.Sequential(nn.Linear(8, 8), nn.GELU())  # on (B, H, W, C)
        self.pool = nn.AdaptiveAvgPool2d(1)                   # (B, C, 1, 1): not a feature
        self.head = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        h, w = x.shape[-2:]
        x = torch.nn.functional.pad(x, (0, (-w) % 8, 0, (-h) % 8), mode="replicate")
        f = self.stem(x)
        f = f + self.mlp(f.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        f = f * torch.sigmoid(self.pool(f))
        return {"image": self.head(f)[..., :h, :w], "features": f}


class _SharedBlockHost(nn.Module):
    """Runs one block on each half of the image (weights shared over patches), then a body once."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.patch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        f = self.stem(x)
        left, right = f.chunk(2, dim=-1)
        return self.head(self.body(torch.cat([self.patch(left), self.patch(right)], -1)))


def _same(a, b):
    return torch.allclose(a, b, atol=1e-6)


def test_a_host_taking_extra_input_channels_gets_an_rgb_prior():
    host = _NoiseMapHost().eval()
    net = attach_prior(host)
    assert net.prior_channels == 3 and net.attach_points == ["body"]
    x = torch.rand(2, 4, 20, 20)
    assert _same(net(x, prior=torch.rand(2, 3, 40, 40)), host(x))
    with pytest.raises(ValueError, match="prior"):
        net(x, prior=torch.rand(2, 4, 40, 40))
    concat = attach_prior(_NoiseMapHost(), fusion="input_concat")
    assert concat.attach_points == ["head"] and concat.prior_channels == 3


def test_the_example_is_the_declared_input_not_the_first_convolution():
    from gpt4o_prior.attach_points import declared_input_channels, find_example

    assert declared_input_channels(_NoiseMapHost()) == 4
    x, _, _ = find_example(_IlluminationHost())      # 3 tried first: it runs
    assert x.shape == (1, 3, 64, 64)
    x, _, _ = find_example(nn.Conv2d(5, 2, 1))       # refuses 3, takes its first convolution's 5
    assert x.shape[1] == 5
    x, _, _ = find_example(_IlluminationHost(), input_channels=3)
    assert x.shape[1] == 3
    host = _IlluminationHost().eval()
    net = attach_prior(host)
    assert net.attach_points == ["body"]
    y = torch.rand(1, 3, 24, 24)
    assert _same(net(y, prior=torch.rand(1, 3, 24, 24)), host(y))
    assert attach_prior(_IlluminationHost(), fusion="input_concat").attach_points == ["stem"]


def test_a_host_that_runs_on_no_example_says_what_to_pass():
    class Picky(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            if x.shape[-1] != 100:
                raise RuntimeError("needs 100 px")
            return self.conv(x)

    with pytest.raises(ValueError, match=r"tried \(1, 3, 64, 64\).*needs 100 px.*example_input=torch.rand"):
        attach_prior(Picky())
    net = attach_prior(Picky(), at=["conv"], example_input=torch.rand(1, 3, 100, 100))
    assert net.attach_points == ["conv"]


def test_dict_outputs_channels_last_stages_padding_and_pooled_maps():
    host = _DictChannelsLastHost().eval()
    auto = attach_prior(host)
    assert "pool" not in auto.attach_points and auto.attach_points  # (B, C, 1, 1) is not a feature
    auto.detach()
    net = attach_prior(host, at=["stem", "mlp"])
    layouts = {p.path: p.layout for p in net.points}
    assert layouts == {"stem": "BCHW", "mlp": "BHWC"} and net.points[1].channels == 8
    x, prior = torch.rand(1, 3, 21, 19), torch.rand(1, 3, 30, 30)  # padded to 24 x 24 inside the host
    got, want = net(x, prior=prior), host(x)
    assert set(got) == {"image", "features"} and all(_same(got[k], want[k]) for k in want)
    with torch.no_grad():
        for p in net.branch_parameters():
            p.add_(0.1)
    assert not torch.equal(net(x, prior=prior)["image"], want["image"])  # the channels-last point does fuse
    assert net.detach() is host and not any(m._forward_hooks for m in host.modules())


def test_tokens_are_fused_on_their_grid_and_handed_back_as_tokens():
    from gpt4o_prior.attach_points import token_grid

    assert token_grid(12 * 16, (12, 16), 1) == (12, 16)
    assert token_grid(16 * 16, (13, 15), 1) == (16, 16)   # padded to a window of 8
    assert token_grid(7, (12, 16), 1) is None
    host = HOSTS["transformer"]().eval()

    class Tokens(nn.Module):  # a (B, N, C) body between convolutions, as Swin-style networks have
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.blocks = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8))
            self.head = nn.Conv2d(8, 3, 3, padding=1)

        def forward(self, x):
            f = self.stem(x)
            b, c, h, w = f.shape
            t = self.blocks(f.flatten(2).transpose(1, 2))
            return self.head(t.transpose(1, 2).reshape(b, c, h, w))

    host = Tokens().eval()
    net = attach_prior(host)
    assert [(p.path, p.layout) for p in net.points] == [("blocks", "BNC")]
    x = torch.rand(2, 3, 10, 14)
    assert _same(net(x, prior=torch.rand(2, 3, 10, 14)), host(x))


def test_modules_run_more_than_once_are_not_points():
    host = _SharedBlockHost().eval()
    assert auto_attach_points(host) == ["body"]
    with pytest.raises(ValueError, match="'patch' runs 2 times.*choose a module that runs once"):
        attach_prior(host, at=["patch"])


def test_the_dry_run_changes_nothing_in_the_host():
    calls = []

    class Reparam(nn.Conv2d):  # a host whose train() / eval() have side effects
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    host = nn.Sequential(Reparam(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Conv2d(8, 3, 3, padding=1)).train()
    stats = host[1].running_mean.clone()
    calls.clear()  # the .train() above
    net = attach_prior(host)
    assert calls == [] and host.training and all(m.training for m in host.modules())
    assert torch.equal(host[1].running_mean, stats) and int(host[1].num_batches_tracked) == 0
    assert net.attach_points


def test_prior_channels_is_the_priors_and_is_checked():
    net = attach_prior(TinyUNet(), prior_channels=1)
    assert net.prior_channels == 1
    net(torch.rand(1, 3, 16, 16), prior=torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="prior_channels must be a positive int"):
        attach_prior(TinyUNet(), prior_channels=0)
