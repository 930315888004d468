"""The real MMEngine Runner on the CPU: a two-line prior config trains, validates, checkpoints, reloads and infers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.helpers import REPO
from tests.helpers.mmagic import BASE_CFG


# The whole change to the base config: two lines.
PRIOR_CFG = """_base_ = './base.py'
runner_type = 'mmagic_plugins.PriorRunner'
prior = dict(cache='{cache}', set='sim')
"""


@pytest.fixture(scope="module")
def configs(tiny_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mmagic_cfg")
    (folder / "base.py").write_text(BASE_CFG.format(root=tiny_data["root"]))
    (folder / "prior.py").write_text(PRIOR_CFG.format(cache=tiny_data["cache"]))
    return folder


def _runner(mm, path, work_dir, **options):
    from mmagic_plugins.train import build_runner, load_config

    cfg = load_config(path, work_dir=str(work_dir), options=options or None)
    return build_runner(cfg)


@pytest.fixture(scope="module")
def trained(mm, configs, tiny_data, tmp_path_factory):
    """Train 4 iterations with validation at the end; record what the generator received."""
    work = tmp_path_factory.mktemp("mmagic_work")
    runner = _runner(mm, configs / "prior.py", work)
    calls = []

    def spy(module, args, kwargs):
        prior = kwargs.get("prior")
        calls.append((module.training, None if prior is None else prior.detach().clone(), args[0].detach().clone()))

    runner.model.generator.register_forward_pre_hook(spy, with_kwargs=True)
    runner.train()
    return dict(runner=runner, work=work, calls=calls)


def test_two_line_config_builds_the_prior_model(trained):
    from mmagic_plugins.model import PriorEditModel
    from mmagic_plugins.runner import PriorRunner

    runner = trained["runner"]
    assert isinstance(runner, PriorRunner) and isinstance(runner.model, PriorEditModel)
    assert runner.cfg.model.type == "PriorEditModel"  # the written-out config is what the run saves


def test_prior_reaches_generator_in_training_and_validation(trained, tiny_data):
    calls = trained["calls"]
    train = [c for c in calls if c[0]]
    val = [c for c in calls if not c[0]]
    assert len(train) == 4 and len(val) == 2
    for _, prior, img in train:
        assert prior is not None and prior.shape == img.shape == (2, 3, 16, 16)
        assert 0.0 <= float(prior.min()) and float(prior.max()) <= 1.0  # normalised like img
    # validation: no augmentation, so the prior is exactly the cached one, RGB like img, scaled like img
    import cv2

    def as_input(rgb):
        return torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[None] / 255

    paths = sorted((tiny_data["root"] / "val" / "lq").iterdir())
    lqs = {p: as_input(np.ascontiguousarray(cv2.imread(str(p))[..., ::-1])) for p in paths}
    matched = set()
    for _, prior, img in val:
        path = next(p for p in paths if torch.equal(lqs[p], img))  # the dataset's order is the folder's
        torch.testing.assert_close(prior, as_input(tiny_data["priors"][str(path)]))
        matched.add(path)
    assert len(matched) == 2


def test_validation_ran_and_checkpoint_saved(trained):
    runner = trained["runner"]
    assert (Path(trained["work"]) / "iter_4.pth").is_file()
    assert any("PSNR" in k for k in runner.message_hub.log_scalars)


def test_checkpoint_loads_into_a_new_runner(mm, trained, configs, tmp_path):
    ckpt = Path(trained["work"]) / "iter_4.pth"
    runner = _runner(mm, configs / "prior.py", tmp_path, load_from=str(ckpt))
    runner.val()  # loads the checkpoint (weights-only), then validates
    assert any("PSNR" in k for k in runner.message_hub.log_scalars)
    for (k, a), b in zip(trained["runner"].model.state_dict().items(), runner.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_pretrained_mmagic_checkpoint_loads_into_the_host(mm, configs, tmp_path):
    from mmagic.registry import MODELS
    from mmagic_plugins.train import load_config

    base = load_config(configs / "base.py", work_dir=str(tmp_path))
    torch.manual_seed(3)
    bare = MODELS.build(base.model)
    ckpt = tmp_path / "bare.pth"
    torch.save({"state_dict": bare.state_dict(), "meta": {}}, ckpt)
    runner = _runner(mm, configs / "prior.py", tmp_path / "w", load_from=str(ckpt))
    runner.val()  # loads the checkpoint, then validates
    report = runner.model.host_load_report
    assert report and report["host_found"] == report["host_total"] > 0
    x, p = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():  # the branch starts as the identity: the pretrained model's output
        torch.testing.assert_close(runner.model(dict(img=x, prior=p)), bare(x))


def test_train_branch_only(mm, configs, tmp_path):
    runner = _runner(mm, configs / "prior.py", tmp_path, **{"prior.freeze_host": True})
    gen = runner.model.generator
    assert not any(p.requires_grad for p in gen.host_parameters())
    assert all(p.requires_grad for p in gen.branch_parameters())


def test_missing_priors_stop_the_run_early(mm, configs, tiny_data, tmp_path, write_image):
    import shutil

    from mmagic_plugins.runner import PriorsMissingError

    root = tmp_path / "data"
    shutil.copytree(tiny_data["root"] / "val", root / "val")
    write_image(root / "val" / "lq" / "extra.png", np.zeros((32, 32, 3), np.uint8))
    write_image(root / "val" / "gt" / "extra.png", np.zeros((32, 32, 3), np.uint8))
    runner = _runner(mm, configs / "prior.py", tmp_path / "w",
                     **{"val_dataloader.dataset.data_root": str(root / "val")})
    with pytest.raises(PriorsMissingError, match="extra.png"):
        runner.val()


def test_inference_without_ground_truth_writes_outputs(mm, trained, configs, tiny_data, tmp_path):
    from mmagic_plugins.infer import run_inference
    from mmagic_plugins.train import load_config

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for p in sorted((tiny_data["root"] / "val" / "lq").iterdir()):
        (inputs / p.name).write_bytes(p.read_bytes())  # a folder of inputs only, no gt anywhere
    out = tmp_path / "out"
    cfg = load_config(configs / "prior.py", work_dir=str(tmp_path / "w"))
    metrics = run_inference(cfg, inputs=inputs, out_dir=out, checkpoint=str(Path(trained["work"]) / "iter_4.pth"))
    assert metrics["restored/saved"] == 2
    import cv2

    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == sorted(p.name for p in inputs.iterdir())
    assert cv2.imread(str(written[0])).shape == (32, 32, 3)


def test_two_lines_work_in_a_fresh_process(configs, tmp_path):
    """Nothing imported beforehand: the scoped runner name alone loads the plugin (MMEngine's RUNNERS.build)."""
    import os
    import subprocess
    import sys

    code = ("import sys, warnings; warnings.simplefilter('ignore')\n"
            "from mmengine.config import Config\n"
            "from mmengine.registry import RUNNERS\n"
            "cfg = Config.fromfile(sys.argv[1]); cfg.work_dir = sys.argv[2]; cfg.log_level = 'ERROR'\n"
            "runner = RUNNERS.build(cfg)\n"
            "print('BUILT', type(runner).__name__, type(runner.model).__name__)\n")
    root = REPO
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code, str(configs / "prior.py"), str(tmp_path)], capture_output=True,
                         text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "BUILT PriorRunner PriorEditModel" in res.stdout


def test_resume_continues_from_the_saved_state(mm, trained, configs):
    work = trained["work"]
    runner = _runner(mm, configs / "prior.py", work, resume=True, **{"train_cfg.max_iters": 5,
                                                                       "train_cfg.val_interval": 100})
    runner.train()
    assert runner.iter == 5 and (Path(work) / "iter_5.pth").is_file()  # the last iteration is saved too
    assert runner.message_hub.get_scalar("train/loss").data[0].size >= 5  # the history came back with the state


def test_a_launcher_that_ignores_runner_type_stops_with_an_explanation(mm, configs, tmp_path):
    """MMagic's tools/train.py builds the plain Runner; the optional model line makes that fail loudly."""
    from mmengine.runner import Runner

    from mmagic_plugins.model import PriorInputMissingError
    from mmagic_plugins.train import load_config

    cfg = load_config(configs / "prior.py", work_dir=str(tmp_path), options={"model.type": "PriorEditModel"})
    runner = Runner.from_cfg(cfg)  # what MMagic 1.2.0's tools/train.py does, whatever runner_type says
    with pytest.raises(PriorInputMissingError, match="runner_type"):
        runner.val()


def test_dropout_mode_pair_trains_with_and_without_the_prior(mm, configs, tmp_path):
    """Default fill of 'pair' is 'none': the second pass runs every sample through the generator alone."""
    runner = _runner(mm, configs / "prior.py", tmp_path, **{"prior.dropout_mode": "pair", "prior.warp": 0.0,
                                                            "train_cfg.max_iters": 2, "train_cfg.val_interval": 10})
    calls = []

    def spy(module, args, kwargs):
        if module.training:
            calls.append((kwargs["prior"].detach().clone(), args[0].detach().clone(), kwargs.get("prior_keep")))

    runner.model.generator.register_forward_pre_hook(spy, with_kwargs=True)
    runner.train()
    assert len(calls) == 4  # two iterations, two passes each
    for (prior, img, keep), (_, img2, keep2) in zip(calls[0::2], calls[1::2]):
        assert torch.equal(img, img2) and not torch.equal(prior, img)
        assert keep.tolist() == [1.0, 1.0] and keep2.tolist() == [0.0, 0.0]


def test_dropout_fill_none_flags_dropped_samples(mm, configs, tmp_path):
    runner = _runner(mm, configs / "prior.py", tmp_path, **{"prior.dropout": 1.0, "prior.dropout_fill": "none",
                                                            "train_cfg.max_iters": 1, "train_cfg.val_interval": 10})
    keeps = []
    runner.model.generator.register_forward_pre_hook(
        lambda m, a, kw: keeps.append(kw.get("prior_keep")) if m.training else None, with_kwargs=True)
    runner.train()
    assert len(keeps) == 1 and keeps[0].tolist() == [0.0, 0.0]
