"""NAFNet and NAFNetLocal: any input size, gradients, a tiny overfit, local pooling, attach points, errors."""
import pytest
import torch

from gpt4o_prior.archs import LocalAvgPool2d, NAFBlock, NAFNet, NAFNetLocal, local_avg_pool2d

from tests.helpers.archs import hooked_shapes, overfit

TINY = dict(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])


@pytest.mark.parametrize("cls", [NAFNet, NAFNetLocal])
@pytest.mark.parametrize("hw", [(16, 16), (13, 7), (1, 5), (31, 22)])
def test_any_size(cls, hw):
    net = cls(**TINY)
    x = torch.rand(2, 3, *hw)
    assert net(x).shape == x.shape


def test_odd_sizes_match_the_official_zero_padding():
    net = NAFNet(**TINY).eval()
    x = torch.rand(1, 3, 13, 7)
    with torch.no_grad():
        ref = net(torch.nn.functional.pad(x, (0, 1, 0, 3)))[..., :13, :7]
        torch.testing.assert_close(net(x), ref)


def test_grey_images():
    net = NAFNet(img_channel=1, **TINY)
    assert net(torch.rand(1, 1, 9, 9)).shape == (1, 1, 9, 9)


def test_backward_reaches_every_parameter():
    net = NAFNet(**TINY)
    # beta and gamma start at zero, which blocks gradients to the branch convs: open them first
    for blk in net.modules():
        if isinstance(blk, NAFBlock):
            torch.nn.init.constant_(blk.beta, 0.1)
            torch.nn.init.constant_(blk.gamma, 0.1)
    net(torch.rand(1, 3, 11, 10)).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_overfit_one_image(pair):
    x, gt = pair
    first, last = overfit(NAFNet(**TINY), x, gt)
    assert last < 0.5 * first


def test_block_is_identity_at_init():
    x = torch.randn(1, 8, 6, 5)
    assert torch.equal(NAFBlock(8)(x), x)


def test_local_equals_global_within_training_size():
    torch.manual_seed(0)
    ref = NAFNet(**TINY)
    for p in ref.parameters():  # beta = gamma = 0 at init would hide the pooling: randomise everything
        torch.nn.init.normal_(p, 0.0, 0.2)
    loc = NAFNetLocal(**TINY, train_size=(1, 3, 24, 24))
    loc.load_state_dict(ref.state_dict(), strict=True)
    x = torch.rand(1, 3, 24, 24)
    torch.testing.assert_close(loc(x), ref(x))
    big = torch.rand(1, 3, 64, 48)
    assert not torch.allclose(loc(big), ref(big))


def test_local_windows_follow_the_official_rule():
    # train 256: stage s sees 256 / 2**s pixels; window = that * 384 // 256
    loc = NAFNetLocal(width=8, enc_blk_nums=[1, 1, 1], dec_blk_nums=[1, 1, 1])
    windows = [stage[0].sca[0].kernel_size for stage in [*loc.encoders, loc.middle_blks, *loc.decoders]]
    assert windows == [(384, 384), (192, 192), (96, 96), (48, 48), (96, 96), (192, 192), (384, 384)]
    # odd training sizes are padded first, as the official dry run does
    loc = NAFNetLocal(width=8, enc_blk_nums=[1], dec_blk_nums=[1], train_size=(1, 3, 15, 20))
    assert loc.encoders[0][0].sca[0].kernel_size == (16 * 22 // 15, 20 * 30 // 20)


def test_local_avg_pool_matches_avg_pool_in_the_interior():
    x = torch.rand(1, 2, 9, 11)
    out = local_avg_pool2d(x, (3, 5))
    ref = torch.nn.functional.avg_pool2d(x, (3, 5), stride=1)  # (7, 7) valid windows
    torch.testing.assert_close(out[..., 1:8, 2:9], ref)
    torch.testing.assert_close(out[..., 0, 2:9], ref[..., 0, :])  # replicated border
    assert LocalAvgPool2d((9, 11))(x).shape == (1, 2, 1, 1)


def test_local_rejects_fast_imp_and_bad_train_size():
    with pytest.raises(ValueError, match="fast_imp"):
        NAFNetLocal(**TINY, fast_imp=True)
    with pytest.raises(ValueError, match="train_size"):
        NAFNetLocal(**TINY, train_size=(256,))


def test_attach_points_one_per_resolution():
    net = NAFNet(**TINY)
    assert net.prior_attach_points == ["encoders.0", "encoders.1", "middle_blks", "decoders.0", "decoders.1"]
    shapes = hooked_shapes(net, net.prior_attach_points, torch.rand(1, 3, 16, 16))
    assert [s[-1] for s in shapes.values()] == [16, 8, 4, 8, 16]
    assert [s[1] for s in shapes.values()] == [8, 16, 32, 16, 8]
    assert NAFNetLocal(**TINY).prior_attach_points == net.prior_attach_points
    assert "middle_blks" in NAFNet.prior_attach_points  # the class default: valid for every configuration


def test_errors_name_the_input():
    net = NAFNet(**TINY)
    with pytest.raises(ValueError, match=r"inp must have shape \(B, 3, H, W\)"):
        net(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match="decoder stages"):
        NAFNet(enc_blk_nums=[1, 1], dec_blk_nums=[1])
