"""basicsr_plugins.restore: the network of a BasicSR option file and checkpoint, restoring a folder with it, and
the ``gpt4o-prior restore`` verb."""
import argparse

import numpy as np
import pytest
import torch

from basicsr_plugins.restore import add_restore_arguments, build_network, load_options, restore_folder, run_restore
from gpt4o_prior.cache import PriorCache, PriorSet
from gpt4o_prior.data import make_paired_dataset, read_rgb
from gpt4o_prior.providers.base import fill_cache
from gpt4o_prior.providers.classical import ClassicalProvider
from gpt4o_prior.restore import MissingPriorsError, restore_image

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
    from basicsr.archs import build_network as bb

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
