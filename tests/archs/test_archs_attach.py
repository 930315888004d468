"""The baselines as hosts of ``attach_prior(at="auto")``: the declared points are used, the wrapped network starts
as the host, and detaching gives the host back."""
import pytest
import torch

from gpt4o_prior.archs import NAFNet, NAFNetLocal, Restormer, Retinexformer
from gpt4o_prior.attach import attach_prior

HOSTS = {
    NAFNet: dict(width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]),
    NAFNetLocal: dict(width=8, enc_blk_nums=[1], dec_blk_nums=[1], train_size=(1, 3, 8, 8)),
    Restormer: dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 2, 2, 4]),
    Retinexformer: dict(n_feat=8, num_blocks=[1, 1, 1]),
}


@pytest.mark.parametrize("cls", list(HOSTS), ids=lambda c: c.__name__)
def test_attach_auto_uses_declared_points(cls):
    host = cls(**HOSTS[cls])
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
