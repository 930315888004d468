"""gpt4o_prior.restore: tiled inference and restoring a folder with any network (priors from the cache, the
no-prior mode); the BasicSR option-file path is tests/basicsr_plugins/test_restore.py."""
import numpy as np
import pytest
import torch

from gpt4o_prior import attach_prior
from gpt4o_prior.archs import NAFNet
from gpt4o_prior.cache import PriorCache
from gpt4o_prior.data import make_paired_dataset, read_rgb
from gpt4o_prior.providers.base import fill_cache
from gpt4o_prior.providers.classical import ClassicalProvider
from gpt4o_prior.restore import blend_window, is_prior_net, restore_folder, restore_image, tile_starts, tiled_forward

# ------------------------------------------------------------------------------------------ tiling


@pytest.mark.parametrize("size,tile,overlap", [(100, 40, 10), (64, 32, 8), (33, 32, 8), (32, 32, 8), (7, 32, 8)])
def test_tiles_cover_the_image_with_the_overlap(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    assert starts[0] == 0 and min(starts[-1] + tile, size) == size
    for a, b in zip(starts, starts[1:]):
        assert a < b and a + tile - b >= overlap


def test_bad_tile_settings_are_errors():
    with pytest.raises(ValueError, match="overlap < tile"):
        tile_starts(100, 16, 16)
    with pytest.raises(ValueError, match="prior must have shape"):
        tiled_forward(lambda x, prior: x, torch.zeros(1, 3, 8, 8), prior=torch.zeros(1, 3, 8, 9), tile=4, overlap=1)


def test_blend_window_is_positive_and_ramps():
    w = blend_window(10, ramp_start=3, ramp_end=3)
    assert (w > 0).all() and w[3:7].eq(1).all() and w[0] < w[1] < w[2] < 1


def test_tiled_forward_is_exact_for_pointwise_and_whole_image_functions():
    x, p = torch.rand(2, 3, 45, 70), torch.rand(2, 3, 45, 70)
    out = tiled_forward(lambda t, prior: t * 2 + prior, x, prior=p, tile=16, overlap=5)
    assert torch.allclose(out, x * 2 + p, atol=1e-6)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    with torch.no_grad():
        assert torch.equal(tiled_forward(conv, x, tile=80), conv(x))  # fits in one tile: exactly the same call


def test_tiled_forward_seams_are_small_for_a_local_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    x = torch.rand(1, 3, 50, 50)
    with torch.no_grad():
        full, tiled = net(x), tiled_forward(net, x, tile=20, overlap=8)
    # receptive field 5: tile borders differ from the whole-image run only within 2 px, and the ramps hide most
    assert (full - tiled).abs().max() < 0.05


def test_tiled_forward_handles_an_upscaling_function():
    x = torch.rand(1, 3, 30, 30)
    up = tiled_forward(lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest"), x, tile=16,
                       overlap=4)
    assert torch.allclose(up, torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))


# ------------------------------------------------------------------------------------------ any network
@pytest.fixture(scope="module")
def prior_net_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("restore_core")
    ds = make_paired_dataset(root / "data", "dehaze", split="val", crop=48, limit=2)
    cache = PriorCache(root / "priors")
    fill_cache(ds.pairs()[0][:1], cache=cache, set_name="c", provider=ClassicalProvider(task="dehaze"))
    torch.manual_seed(0)
    net = attach_prior(NAFNet(width=8, enc_blk_nums=[1], dec_blk_nums=[1]), fusion="sft")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return {"root": root, "ds": ds, "cache": cache, "net": net.eval()}


def test_restore_folder_with_a_plain_callable(tmp_path):
    ds = make_paired_dataset(tmp_path / "data", "derain", split="val", crop=32, limit=2)
    res = restore_folder(ds.lq_dir, net=lambda x: 1 - x, out_dir=tmp_path / "out", progress=False)
    assert [p.name for p in res.outputs] == [f"{n}.png" for n in ds.names] and res.filled == 0
    assert np.array_equal(read_rgb(res.outputs[0]), 255 - read_rgb(ds.pairs()[0][0]))


def test_restore_folder_with_an_attached_network_fills_priors_and_uses_them(prior_net_setup, tmp_path):
    ds, cache, net = prior_net_setup["ds"], prior_net_setup["cache"], prior_net_setup["net"]
    assert is_prior_net(net)
    with pytest.raises(ValueError, match="prior cache and set"):
        restore_folder(ds.lq_dir, net=net, out_dir=tmp_path / "x", progress=False)
    res = restore_folder(ds.lq_dir, net=net, out_dir=tmp_path / "out", cache=cache.root, set_name="c",
                         progress=False)
    assert res.filled == 1  # the second input's prior made by the set's offline provider
    lq = ds.pairs()[1][0]
    prior, conf = cache.load_prior("c", lq, with_confidence=True)
    expected = restore_image(net, read_rgb(lq), prior=prior, confidence=conf)
    assert np.array_equal(read_rgb(res.outputs[1]), expected)
    alone = restore_folder(ds.lq_dir, net=net, out_dir=tmp_path / "alone", no_prior=True, progress=False)
    assert np.array_equal(read_rgb(alone.outputs[1]), restore_image(net.host, read_rgb(lq)))


def test_importing_restore_report_and_the_cli_is_light():
    import subprocess
    import sys

    code = ("import sys, gpt4o_prior.restore, gpt4o_prior.report, gpt4o_prior.metrics, gpt4o_prior.cli; "
            "gpt4o_prior.cli.build_parser({}); "
            "print(sorted(m for m in ('basicsr', 'openai', 'mmengine', 'mmagic', 'basicsr_plugins', "
            "'mmagic_plugins') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
