"""basicsr_plugins.image_clean and recipe_datasets: an option file of the Restormer family's structure (every
recipe key) trains under the real train_pipeline without and with the prior line; progressive stages, mixup,
gradient clipping and validation padding against the fork's rules, the prior moving with its input."""
from __future__ import annotations

import copy
import random

import pytest
import torch

from basicsr_plugins import train as prior_train
from basicsr_plugins.image_clean import GRAD_CLIP_NORM, progressive_stage
from tests.helpers.basicsr_toy import base_opt, write_opt

RESTORMER = {"type": "Restormer", "inp_channels": 3, "out_channels": 3, "dim": 8, "num_blocks": [1, 1, 1, 1],
             "num_refinement_blocks": 1, "heads": [1, 1, 1, 1], "ffn_expansion_factor": 2.66, "bias": False,
             "LayerNorm_type": "WithBias", "dual_pixel_task": False}


def recipe_opt(toy, name, *, prior=True, total_iter=4):
    """The structure of the Restormer / Retinexformer option files, at toy sizes (train images are 40 px, so the
    48 px patches are padded first; validation images are 40 px, padded to the window 16)."""
    opt = base_opt(toy, name, prior=prior, total_iter=total_iter)
    opt["model_type"] = "ImageCleanModel"
    opt["network_g"] = copy.deepcopy(RESTORMER)
    train = opt["datasets"]["train"]
    for key in ("use_hflip", "use_rot"):
        del train[key]
    train.update(type="Dataset_PairedImage", geometric_augs=True, gt_size=48, batch_size_per_gpu=2,
                 mini_batch_sizes=[2, 1], iters=[2, 2], gt_sizes=[24, 48])
    opt["datasets"]["val"].update(type="Dataset_PairedImage")
    opt["train"].update(
        total_iter=total_iter, use_grad_clip=True, mixing_augs={"mixup": True, "mixup_beta": 1.2, "use_identity": True},
        optim_g={"type": "AdamW", "lr": 3e-4, "weight_decay": 1e-4, "betas": [0.9, 0.999]},
        scheduler={"type": "CosineAnnealingRestartCyclicLR", "periods": [2, 2], "restart_weights": [1, 1],
                   "eta_mins": [4e-4, 1e-6]})
    opt["val"].update(window_size=16, use_image=False, rgb2bgr=True, max_minibatch=8)
    return opt


@pytest.mark.parametrize("prior", [False, True])
def test_a_restormer_family_option_file_trains_as_published(toy, tmp_path, monkeypatch, basicsr_log, prior):
    monkeypatch.chdir(tmp_path)
    opt = recipe_opt(toy, f"recipe_{prior}", prior=prior)
    opt["logger"].update(use_tb_logger=True, wandb={"project": "restormer", "resume_id": None})  # as published
    prior_train.main(["-opt", str(write_opt(opt, tmp_path))])
    log = basicsr_log.text()
    model = "PriorImageCleanModel" if prior else "ImageCleanModel"
    assert f"Model [{model}] is created" in log, log[-2000:]
    assert "stage 1/2 from iteration 1: patch 24, batch 2" in log and "stage 2/2 from iteration 3: patch 48" in log
    assert "# psnr:" in log and "Network [G4PRestormer] is created" in log
    assert "logger.wandb.project: 'restormer': the wandb logger did not start" in log  # wandb is not installed
    ckpt = torch.load(tmp_path / f"experiments/recipe_{prior}/models/net_g_latest.pth", weights_only=True)
    assert any(k.startswith("branch.") for k in ckpt["params"]) == prior


def _model(toy, tmp_path, **train):
    from basicsr.models import build_model

    from basicsr_plugins.prior_option import apply_prior_option

    opt = recipe_opt(toy, "unit")
    opt["train"].update(train)
    apply_prior_option(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    opt["train"]["ema_decay"] = 0
    opt["path"].update(models=str(tmp_path / "m"), training_states=str(tmp_path / "s"),
                       visualization=str(tmp_path / "v"))
    return build_model(opt)


def _same_batch(n=2, size=48):
    """lq, gt and prior all the same tensor (and the confidence its first channel): any crop, selection or mix
    that moves them alike keeps them equal."""
    x = torch.rand(n, 3, size, size)
    return {"lq": x.clone(), "gt": x.clone(), "prior": x.clone(), "prior_confidence": x[:, :1].clone()}


def test_progressive_stages_cut_batch_and_patch_with_the_prior(toy, tmp_path):
    assert [progressive_stage(i, [2, 2]) for i in (1, 2, 3, 4, 99)] == [0, 0, 1, 1, 1]
    model = _model(toy, tmp_path, mixing_augs={})
    seen = []
    model.net_g.register_forward_hook(lambda m, a, k, out: seen.append((a[0].shape, k["prior"].shape)),
                                      with_kwargs=True)
    for it, (batch, size) in ((1, (2, 24)), (3, (1, 48))):
        model.feed_data(_same_batch())
        model.optimize_parameters(it)
        assert model.lq.shape == (batch, 3, size, size) and seen[-1][1] == seen[-1][0]
        assert torch.equal(model.lq, model.gt) and torch.equal(model.lq, model.prior)
        assert torch.equal(model.prior_confidence, model.lq[:, :1])


def test_mixup_mixes_the_prior_with_the_same_weights_and_permutation(toy, tmp_path, monkeypatch):
    model = _model(toy, tmp_path, mixing_augs={"mixup": True, "mixup_beta": 1.2, "use_identity": False})
    model._stages = None
    batch = _same_batch(4, 24)
    model.feed_data(copy.deepcopy(batch))
    model._mix()
    assert not torch.equal(model.lq, batch["lq"])  # mixed
    assert torch.equal(model.lq, model.gt) and torch.equal(model.lq, model.prior)
    assert torch.allclose(model.prior_confidence, model.lq[:, :1])
    monkeypatch.setattr(random, "randint", lambda a, b: 1)  # use_identity drew the identity
    model._mix_identity = True
    model.feed_data(copy.deepcopy(batch))
    model._mix()
    assert torch.equal(model.lq, batch["lq"])


def test_gradients_are_clipped_before_each_step(toy, tmp_path):
    model = _model(toy, tmp_path, mixing_augs={})
    norms = []
    params = [p for p in model.net_g.parameters() if p.requires_grad]
    def measure(*_):  # registered after the model's own hook: sees the clipped gradients
        norms.append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))

    model.optimizer_g.register_step_pre_hook(measure)
    model.feed_data(_same_batch())
    model.gt = model.gt * 0 + 5  # a large loss: the raw gradient norm is far above 0.01
    model.optimize_parameters(3)
    assert norms and float(norms[-1]) <= GRAD_CLIP_NORM * 1.001


def test_validation_pads_to_the_window_and_crops_back(toy, tmp_path):
    model = _model(toy, tmp_path)
    seen = []
    model.net_g.register_forward_hook(lambda m, a, k, out: seen.append((a[0].shape, k["prior"].shape)),
                                      with_kwargs=True)
    batch = _same_batch(1, 40)
    model.feed_data(batch)
    model.test()
    assert seen[-1] == (torch.Size([1, 3, 48, 48]), torch.Size([1, 3, 48, 48]))
    assert model.output.shape == (1, 3, 40, 40) and model.lq.shape == (1, 3, 40, 40)


def test_the_training_patches_are_padded_to_gt_size_with_the_prior(toy):
    from basicsr.data import build_dataset

    from basicsr_plugins.prior_option import apply_prior_option

    opt = recipe_opt(toy, "ds")
    apply_prior_option(opt)
    ds_opt = dict(opt["datasets"]["train"], phase="train", scale=1)
    item = build_dataset(ds_opt)[0]
    assert item["lq"].shape == item["gt"].shape == item["prior"].shape == (3, 48, 48)
    assert item["prior_confidence"].shape == (1, 48, 48)
    bare = build_dataset(dict(recipe_opt(toy, "ds", prior=False)["datasets"]["train"], phase="train", scale=1))
    assert type(bare).__name__ == "Dataset_PairedImage" and bare[0]["lq"].shape == (3, 48, 48)
