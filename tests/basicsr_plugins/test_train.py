"""BasicSR's real train / test pipelines through our entry points, on the CPU, a few iterations each:
the one-line form (from a bare pretrained host), resuming, validation metrics, checkpoints with the prior
branch that load back, the written-out form, testing without ground truth, errors before training, and two
processes with --launcher pytorch on gloo."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tests.helpers.basicsr_toy import HOST, SET, base_opt, free_port, write_opt

from basicsr_plugins import test as prior_test
from basicsr_plugins import train as prior_train
from tests.helpers import REPO


def _branch_keys(sd):
    return [k for k in sd if not k.startswith("host.")]


def test_one_line_train_from_bare_host_resume_and_test(toy, tmp_path, monkeypatch, basicsr_log):
    from basicsr.archs import build_network

    monkeypatch.chdir(tmp_path)
    host = build_network(copy.deepcopy(HOST))
    torch.save({"params": host.state_dict()}, tmp_path / "host.pth")
    opt = base_opt(toy, "oneline", total_iter=4)
    opt["path"]["pretrain_network_g"] = str(tmp_path / "host.pth")
    opt_file = write_opt(opt, tmp_path)

    prior_train.main(["-opt", str(opt_file)])
    log = basicsr_log.text()
    models = tmp_path / "experiments/oneline/models"
    assert "host tensors loaded" in log and "Validation toy_val" in log and "# psnr:" in log
    assert (models / "net_g_2.pth").exists() and (tmp_path / "experiments/oneline/training_states/4.state").exists()
    ckpt = torch.load(models / "net_g_latest.pth", weights_only=True)
    for key in ("params", "params_ema"):
        assert _branch_keys(ckpt[key]) and any(k.startswith("host.") for k in ckpt[key])
    # the checkpoint loads back into a freshly built wrapped network, which now depends on the prior
    from basicsr_plugins.prior_arch import G4PPriorNet

    net = G4PPriorNet(host=copy.deepcopy(HOST)).eval()
    net.load_state_dict(ckpt["params"])
    x, p1, p2 = torch.rand(3, 1, 3, 32, 32).unbind(0)
    with torch.no_grad():
        assert (net(x, prior=p1) - net(x, prior=p2)).abs().max() > 1e-6

    # resume with --auto_resume from iteration 4 to 6 (BasicSR's own resume, loaded onto the CPU)
    opt["train"]["total_iter"] = 6
    write_opt(opt, tmp_path)
    basicsr_log.messages.clear()
    prior_train.main(["-opt", str(opt_file), "--auto_resume"])
    log = basicsr_log.text()
    assert "Resuming training from epoch" in log and "iter: 4" in log
    assert "(with prior branch)" in log and (models / "net_g_6.pth").exists()

    # test: the saved checkpoint loads back; a folder with ground truth (metrics) and one without (outputs only),
    # with the flip / rotation ensemble
    test_opt = copy.deepcopy(opt)
    test_opt["name"] = "oneline_test"
    test_opt["path"] = {"pretrain_network_g": str(models / "net_g_latest.pth"), "strict_load_g": True}
    data = toy / "data/val"
    test_opt["datasets"] = {
        "test_1": {"name": "toy_gt", "type": "PairedImageDataset", "dataroot_gt": str(data / "gt"),
                   "dataroot_lq": str(data / "lq"), "io_backend": {"type": "disk"}},
        "test_2": {"name": "toy_nogt", "type": "SingleImageDataset", "dataroot_lq": str(data / "lq"),
                   "io_backend": {"type": "disk"}},
    }
    test_opt["val"] = {"save_img": True, "self_ensemble": True}
    for key in ("train", "logger"):
        test_opt.pop(key)
    basicsr_log.messages.clear()
    prior_test.main(["-opt", str(write_opt(test_opt, tmp_path))])
    out = tmp_path / "results/oneline_test/visualization"
    assert sorted(p.name for p in (out / "toy_nogt").iterdir()) == ["img0_oneline_test.png", "img1_oneline_test.png"]
    assert "(with prior branch)" in basicsr_log.text()


def test_written_out_form_trains_without_the_prior_line(toy, tmp_path, monkeypatch, basicsr_log):
    monkeypatch.chdir(tmp_path)
    opt = base_opt(toy, "written", prior=False, total_iter=2)
    opt["model_type"] = "PriorSRModel"
    opt["network_g"] = {"type": "G4PPriorNet", "host": copy.deepcopy(HOST), "fusion": "sft"}
    for ds in opt["datasets"].values():
        ds["type"] = "PriorPairedImageDataset"
        ds.update(prior_cache=str(toy / "priors"), prior_set=SET, prior_dropout=0.5)
    opt["val"]["val_freq"] = 100
    opt["datasets"]["train"]["num_worker_per_gpu"] = 2  # priors read in DataLoader workers (cache is picklable)
    prior_train.main(["-opt", str(write_opt(opt, tmp_path))])
    ckpt = torch.load(tmp_path / "experiments/written/models/net_g_latest.pth", weights_only=True)
    assert _branch_keys(ckpt["params"])
    assert "Validation toy_val" in basicsr_log.text()  # the final validation after training


def test_dropout_mode_pair_through_the_real_loop(toy, tmp_path, monkeypatch, basicsr_log):
    """DataLoader workers collate the drop flags; every step trains the batch with and without its prior."""
    from basicsr_plugins.model import PriorSRModel

    monkeypatch.chdir(tmp_path)
    opt = base_opt(toy, "pair", total_iter=2)
    opt["prior"]["dropout_mode"] = "pair"
    opt["val"]["val_freq"] = 100
    opt["datasets"]["train"]["num_worker_per_gpu"] = 2
    seen = []
    step = PriorSRModel.optimize_parameters

    def spy(self, current_iter):
        seen.append((self.lq.shape[0], self.prior_keep.tolist()))
        return step(self, current_iter)

    monkeypatch.setattr(PriorSRModel, "optimize_parameters", spy)
    prior_train.main(["-opt", str(write_opt(opt, tmp_path))])
    assert seen == [(4, [1.0, 1.0, 0.0, 0.0])] * 2
    assert (tmp_path / "experiments/pair/models/net_g_latest.pth").is_file()


def test_problems_stop_training_before_it_starts(toy, tmp_path, monkeypatch, basicsr_log):
    from gpt4o_prior.cache import PriorCache, PriorSet

    from basicsr_plugins.datasets import PriorsMissingError
    from basicsr_plugins.prior_option import PriorOptionError

    monkeypatch.chdir(tmp_path)
    empty = PriorCache(tmp_path / "empty")
    empty.register_set(PriorSet(name=SET, provider="simulated", label="simulated"))
    opt = base_opt(toy, "missing")
    opt["prior"]["cache"] = str(tmp_path / "empty")
    with pytest.raises(PriorsMissingError, match="4 of 4 inputs"):
        prior_train.main(["-opt", str(write_opt(opt, tmp_path))])
    assert "Start training" not in basicsr_log.text()

    opt = base_opt(toy, "badtype")
    opt["datasets"]["train"]["type"] = "RealESRGANDataset"
    with pytest.raises(PriorOptionError, match="datasets.train.type"):
        prior_train.main(["-opt", str(write_opt(opt, tmp_path))])
    assert not (tmp_path / "experiments/badtype").exists()


def test_two_processes_launcher_pytorch_on_gloo(toy, tmp_path):
    opt = base_opt(toy, "ddp", total_iter=2)
    opt["datasets"]["train"]["batch_size_per_gpu"] = 1
    opt["val"]["val_freq"] = 100
    opt_file = write_opt(opt, tmp_path)
    port = free_port()
    paths = [str(REPO)] + [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(paths), "CUDA_VISIBLE_DEVICES": ""}
    procs = [subprocess.Popen([sys.executable, "-m", "basicsr_plugins.train", "-opt", str(opt_file),
                               "--launcher", "pytorch"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)})
             for rank in range(2)]
    outs = []
    for proc in procs:
        try:
            outs.append(proc.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-3000:]
    assert "World size (gpu number): 2" in outs[0]
    assert (tmp_path / "experiments/ddp/models/net_g_latest.pth").exists()
    saved = yaml.safe_load(opt_file.read_text())
    assert saved["prior"]["set"] == SET
