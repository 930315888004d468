"""gpt4o_prior.attach_points: the automatic points (one per resolution, or the host's declared ones), their channels,
strides and levels from the dry run, and clear errors for bad points."""
import pytest

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
