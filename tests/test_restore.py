"""gpt4o_prior.restore: tiled inference, building the trained network, priors for every input, the command."""
import argparse

import numpy as np
import pytest
import torch

from gpt4o_prior.cache import PriorCache, PriorSet
from gpt4o_prior.data import make_paired_dataset, read_rgb
from gpt4o_prior.providers.base import fill_cache
from gpt4o_prior.providers.classical import ClassicalProvider
from gpt4o_prior.restore import (MissingPriorsError, add_restore_arguments, blend_window, build_network,
                                 load_options, restore_folder, restore_image, run_restore, tile_starts,
                                 tiled_forward)

OPTION = """name: t
model_type: SRModel
scale: 1
num_gpu: 0
{prior}
network_g:
  type: G4PNAFNet
  img_channel: 3
  width: 8
  middle_blk_num: 1
  enc_blk_nums: [1, 1]
  dec_blk_nums: [1, 1]
datasets:
  val:
    name: v
    type: PairedImageDataset
"""


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


# ------------------------------------------------------------------------------------------ network and folder
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("restore")
    ds = make_paired_dataset(root / "data", "dehaze", split="val", crop=48, limit=3)
    cache = PriorCache(root / "priors")
    # only the first input has a prior: restore must make the others with the set's (offline) provider
    fill_cache(ds.pairs()[0][:1], cache=cache, set_name="c", provider=ClassicalProvider(task="dehaze"))
    cache.register_set(PriorSet(name="gpt", provider="openai-images", model="some-image-model", prompt_id="dehaze"))
    prior_opt = root / "prior.yml"
    prior_opt.write_text(OPTION.format(prior=f"prior: {{cache: {root / 'priors'}, set: c}}"))
    base_opt = root / "base.yml"
    base_opt.write_text(OPTION.format(prior=""))
    ckpts = {}
    for name, path in (("prior", prior_opt), ("base", base_opt)):
        torch.manual_seed(1)
        net = build_network_fresh(path)
        with torch.no_grad():  # leave the identity start so that the prior branch matters
            for p in net.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        ckpts[name] = root / f"{name}.pth"
        torch.save({"params": net.state_dict()}, ckpts[name])
    return {"root": root, "ds": ds, "cache": cache, "prior_opt": prior_opt, "base_opt": base_opt, "ckpts": ckpts}


def build_network_fresh(opt_path):
    import basicsr_plugins  # noqa: F401
    from basicsr.archs import build_network as bb

    from basicsr_plugins import archs, prior_arch  # noqa: F401

    return bb(dict(load_options(opt_path)["network_g"]))


def test_load_options_expands_the_prior_line(setup):
    assert load_options(setup["prior_opt"])["network_g"]["type"] == "G4PPriorNet"
    assert load_options(setup["base_opt"])["network_g"]["type"] == "G4PNAFNet"
    with pytest.raises(FileNotFoundError, match="nope.yml"):
        load_options(setup["root"] / "nope.yml")


def test_build_network_loads_the_checkpoint_and_refuses_a_mismatch(setup):
    net = build_network(load_options(setup["prior_opt"]), setup["ckpts"]["prior"])
    assert not net.training and hasattr(net, "host")
    with pytest.raises(RuntimeError, match="does not fit the network of the option file"):
        build_network(load_options(setup["base_opt"]), setup["ckpts"]["prior"])


def test_restore_folder_fills_missing_priors_and_matches_the_network(setup, tmp_path):
    ds, cache = setup["ds"], setup["cache"]
    res = restore_folder(ds.lq_dir, opt=setup["prior_opt"], checkpoint=setup["ckpts"]["prior"], out_dir=tmp_path,
                         progress=False)
    assert [p.name for p in res.outputs] == [f"{n}.png" for n in ds.names]
    assert res.filled == 2 and res.tiles == []
    net = build_network(load_options(setup["prior_opt"]), setup["ckpts"]["prior"])
    lq = ds.pairs()[1][0]
    prior = cache.load_prior("c", lq)
    expected = restore_image(net, read_rgb(lq), prior=prior)
    assert np.array_equal(read_rgb(res.outputs[1]), expected)
    # the prior is used: another prior gives another output
    assert not np.array_equal(restore_image(net, read_rgb(lq), prior=255 - prior), expected)


def test_restore_folder_in_tiles(setup, tmp_path):
    ds = setup["ds"]
    whole = restore_folder(ds.lq_dir, opt=setup["prior_opt"], checkpoint=setup["ckpts"]["prior"],
                           out_dir=tmp_path / "whole", progress=False)
    tiled = restore_folder(ds.lq_dir, opt=setup["prior_opt"], checkpoint=setup["ckpts"]["prior"],
                           out_dir=tmp_path / "tiled", tile=32, tile_overlap=8, progress=False)
    assert len(tiled.tiles) == 3
    a, b = read_rgb(whole.outputs[0]).astype(int), read_rgb(tiled.outputs[0]).astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() < 8


def test_restore_folder_without_prior_branch(setup, tmp_path):
    res = restore_folder(setup["ds"].lq_dir, opt=setup["base_opt"], checkpoint=setup["ckpts"]["base"],
                         out_dir=tmp_path, progress=False)
    assert len(res.outputs) == 3 and res.filled == 0


def test_no_prior_runs_the_host_alone_without_a_cache(setup, tmp_path):
    ds = setup["ds"]
    parser = add_restore_arguments(argparse.ArgumentParser())
    args = parser.parse_args([str(ds.lq_dir), "--opt", str(setup["prior_opt"]), "--checkpoint",
                              str(setup["ckpts"]["prior"]), "--out", str(tmp_path), "--set", "gpt", "--no-prior",
                              "--no-progress"])  # 'gpt' has no priors at all: not needed here
    assert run_restore(args) == 0
    net = build_network(load_options(setup["prior_opt"]), setup["ckpts"]["prior"])
    lq = ds.pairs()[0][0]
    expected = restore_image(net.host, read_rgb(lq))
    assert np.array_equal(read_rgb(tmp_path / f"{ds.names[0]}.png"), expected)


def test_remote_set_without_priors_fails_listing_inputs_and_the_command(setup, tmp_path):
    with pytest.raises(MissingPriorsError) as err:
        restore_folder(setup["ds"].lq_dir, opt=setup["prior_opt"], checkpoint=setup["ckpts"]["prior"],
                       out_dir=tmp_path / "out", set_name="gpt", progress=False)
    msg = str(err.value)
    assert "3 of 3 inputs have no prior of set 'gpt'" in msg and setup["ds"].names[0] in msg
    assert "gpt4o-prior generate" in msg and "--model some-image-model" in msg and "--task dehaze" in msg
    assert len(err.value.missing) == 3 and not (tmp_path / "out").exists()


def test_simulated_set_needs_targets(setup, tmp_path):
    from gpt4o_prior.providers.simulated import SimulatedProvider

    ds, cache = setup["ds"], setup["cache"]
    cache.register_set(PriorSet(name="sim", **SimulatedProvider(seed=3).set_fields()))
    kw = dict(opt=setup["prior_opt"], checkpoint=setup["ckpts"]["prior"], out_dir=tmp_path, set_name="sim",
              progress=False)
    with pytest.raises(MissingPriorsError, match="--targets"):
        restore_folder(ds.lq_dir, **kw)
    res = restore_folder(ds.lq_dir, targets=ds.gt_dir, **kw)
    assert res.filled == 3


def test_cli_exit_codes(setup, tmp_path, capsys):
    parser = add_restore_arguments(argparse.ArgumentParser())
    base = [str(setup["ds"].lq_dir), "--opt", str(setup["prior_opt"]), "--checkpoint", str(setup["ckpts"]["prior"]),
            "--out", str(tmp_path), "--no-progress"]
    assert run_restore(parser.parse_args(base)) == 0
    assert "restored 3 images" in capsys.readouterr().out
    assert run_restore(parser.parse_args(base + ["--set", "gpt"])) == 1
    assert "have no prior" in capsys.readouterr().err
    assert run_restore(parser.parse_args(base + ["--checkpoint", str(tmp_path / "none.pth")])) == 2
    assert "none.pth does not exist" in capsys.readouterr().err


def test_importing_the_demo_modules_is_light():
    import subprocess
    import sys

    code = ("import sys, gpt4o_prior.restore, gpt4o_prior.demo, gpt4o_prior.report; "
            "print(sorted(m for m in ('basicsr', 'openai', 'mmengine', 'mmagic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
