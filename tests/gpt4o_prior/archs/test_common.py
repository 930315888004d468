"""Checks every baseline shares: bfloat16, eval-mode determinism, padding helpers, attach points resolve."""
import pytest
import torch

from gpt4o_prior.archs import crop_to, pad_amount, pad_to_multiple

from tests.helpers.archs import TINY


@pytest.mark.parametrize("cls", list(TINY), ids=lambda c: c.__name__)
def test_bfloat16(cls):
    net = cls(**TINY[cls]).to(torch.bfloat16)
    out = net(torch.rand(1, 3, 10, 9, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (1, 3, 10, 9) and torch.isfinite(out).all()


@pytest.mark.parametrize("cls", list(TINY), ids=lambda c: c.__name__)
def test_attach_points_resolve_and_batch_is_independent(cls):
    net = cls(**TINY[cls]).eval()
    modules = dict(net.named_modules())
    assert net.prior_attach_points and all(p in modules for p in net.prior_attach_points)
    assert all(p in modules for p in type(net).prior_attach_points)
    x = torch.rand(3, 3, 12, 7)
    with torch.no_grad():
        torch.testing.assert_close(net(x)[1:2], net(x[1:2]), rtol=1e-4, atol=1e-5)


def test_padding_helpers():
    assert [pad_amount(s, 8) for s in (1, 7, 8, 9)] == [7, 1, 0, 7]
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert pad_to_multiple(x, 4) is not x and pad_to_multiple(x, 4).shape == (1, 1, 4, 4)
    assert pad_to_multiple(x, 4)[0, 0, 3].abs().sum() == 0  # zeros
    assert torch.equal(pad_to_multiple(x, 4, mode="reflect")[0, 0, 3], x[0, 0, 1])
    assert pad_to_multiple(x, 8, mode="reflect").shape == (1, 1, 8, 8)  # too small to reflect: replicate
    assert torch.equal(crop_to(pad_to_multiple(x, 8, mode="reflect"), 3, 4), x)
    with pytest.raises(ValueError, match="mode"):
        pad_to_multiple(x, 4, mode="wrap")


@pytest.mark.parametrize("cls", list(TINY), ids=lambda c: c.__name__)
def test_first_conv_takes_the_image(cls):
    # attach_prior infers a host's input channels from its first nn.Conv2d (for its dry run)
    net = cls(**TINY[cls])
    assert next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d)).in_channels == 3
