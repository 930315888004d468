"""The baselines as hosts of ``attach_prior(at="auto")``: the declared points are used, the wrapped network starts
as the host, and detaching gives the host back."""
import pytest
import torch

from gpt4o_prior.attach import attach_prior

from tests.helpers.archs import TINY


@pytest.mark.parametrize("cls", list(TINY), ids=lambda c: c.__name__)
def test_attach_auto_uses_declared_points(cls):
    host = cls(**TINY[cls])
    for p in host.parameters():  # a "trained" host: NAFNet's zero-initialised beta/gamma would hide differences
        torch.nn.init.normal_(p, 0.0, 0.05)
    x, prior = torch.rand(1, 3, 19, 13), torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        ref = host(x)
    net = attach_prior(host, at="auto", fusion="sft")
    assert list(net.attach_points) == host.prior_attach_points
    with torch.no_grad():
        torch.testing.assert_close(net(x, prior=prior), ref, rtol=1e-5, atol=1e-5)
    back = net.detach()
    with torch.no_grad():
        assert torch.equal(back(x), ref)
