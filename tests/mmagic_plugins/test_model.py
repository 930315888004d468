"""PriorEditModel: the prior (and its confidence) reaches the generator in every mode, bare checkpoints load,
identity at start; a real runner feeds the confidence."""
from __future__ import annotations

import pytest
import torch
from tests.helpers.mmagic import BASE_CFG, make_conf_cache

GEN = dict(type="NAFNet", img_channels=3, mid_channels=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1])
PRE = dict(type="DataPreprocessor", mean=[0.0] * 3, std=[255.0] * 3)


def _build(mm, **kw):
    from mmagic.registry import MODELS

    torch.manual_seed(0)
    base = dict(generator=GEN, pixel_loss=dict(type="L1Loss"), data_preprocessor=PRE)
    return MODELS.build(dict(type=kw.pop("type", "PriorEditModel"), **{**base, **kw}))


def _batch(with_prior=True, n=2, size=16):
    from mmagic.structures import DataSample

    g = torch.Generator().manual_seed(1)
    inputs = []
    for _ in range(n):
        item = dict(img=torch.randint(0, 256, (3, size, size), generator=g).float())
        if with_prior:
            item["prior"] = torch.randint(0, 256, (3, size, size), generator=g).float()
        inputs.append(item)
    samples = [DataSample(gt_img=torch.randint(0, 256, (3, size, size), generator=g).float()) for _ in range(n)]
    return dict(inputs=inputs, data_samples=samples)


def _spy(model):
    seen = []

    def hook(module, args, kwargs):
        seen.append(kwargs.get("prior"))

    model.generator.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


@pytest.mark.parametrize("mode", ["tensor", "predict", "loss"])
def test_prior_reaches_generator(mm, mode):
    model = _build(mm)
    seen = _spy(model)
    data = model.data_preprocessor(_batch(), training=mode == "loss")
    out = model(**data, mode=mode)
    assert len(seen) == 1 and seen[0] is not None
    # normalised exactly like img (mean 0, std 255)
    want = torch.stack([d["prior"] for d in _batch()["inputs"]]) / 255.0
    torch.testing.assert_close(seen[0], want)
    if mode == "loss":
        out["loss"].backward()
        grads = [p.grad for p in model.generator.branch_parameters() if p.grad is not None]
        assert grads, "the prior branch gets gradients"


def test_missing_prior_is_a_clear_error(mm):
    model = _build(mm)
    data = model.data_preprocessor(_batch(with_prior=False))
    with pytest.raises(mm.model.PriorInputMissingError, match="PackInputs"):
        model(**data, mode="tensor")
    lenient = _build(mm, require_prior=False)
    assert lenient(**lenient.data_preprocessor(_batch(with_prior=False)), mode="tensor").shape == (2, 3, 16, 16)


def test_prior_shape_is_checked(mm):
    model = _build(mm)
    with pytest.raises(ValueError, match=r"inputs\['prior'\]"):
        model(dict(img=torch.rand(2, 3, 16, 16), prior=torch.rand(2, 4, 16, 16)))


def test_bare_checkpoint_loads_into_host_and_starts_as_identity(mm):
    bare = _build(mm, type="BaseEditModel")
    for p in bare.parameters():  # make the host's weights distinct from a fresh init
        p.data.add_(0.01 * torch.randn_like(p))
    model = _build(mm)
    result = model.load_state_dict(bare.state_dict(), strict=False)
    assert not [k for k in result.missing_keys if k.startswith("generator.host.")]
    assert not result.unexpected_keys
    report = model.host_load_report
    assert report["host_found"] == report["host_total"] == len(bare.generator.state_dict())
    assert report["branch_total"] > 0
    data = model.data_preprocessor(_batch())
    with torch.no_grad():
        torch.testing.assert_close(model(**data, mode="tensor"), bare(data["inputs"]["img"], mode="tensor"))
    # a checkpoint of the wrapped model loads as it is (nothing mapped)
    again = _build(mm)
    again.load_state_dict(model.state_dict())
    assert again.host_load_report is None


def test_freeze_host_trains_the_branch_alone(mm):
    model = _build(mm, freeze_host=True)
    assert not any(p.requires_grad for p in model.generator.host_parameters())
    assert all(p.requires_grad for p in model.generator.branch_parameters())


def test_encoder_settings_as_a_dict(mm):
    model = _build(mm, encoder=dict(levels=2))
    assert len(model.generator.branch.encoder.strides) == 2


def test_pair_mode_loss_is_the_mean_of_both_passes(mm):
    model = _build(mm)
    batch = _batch()
    for item in batch["inputs"]:
        item["prior_dropped"] = item["img"].clone()
    seen = _spy(model)
    data = model.data_preprocessor(batch, training=True)
    loss = model(**data, mode="loss")
    assert len(seen) == 2
    torch.testing.assert_close(seen[1], data["inputs"]["img"])  # the second pass takes the fill as its prior
    plain = model(**model.data_preprocessor(_batch(), training=True), mode="loss")
    dropped = _batch()
    for item in dropped["inputs"]:
        item["prior"] = item["img"].clone()
    alone = model(**model.data_preprocessor(dropped, training=True), mode="loss")
    torch.testing.assert_close(loss["loss"], (plain["loss"] + alone["loss"]) / 2)
    out = model(**data, mode="tensor")  # outside training the fill is ignored
    assert out.shape[0] == 2


# ------------------------------------------------------------------------------------------ confidence
def _conf_batch(n=2, size=16, value=None):
    """``_batch()`` plus a (1, H, W) ``prior_confidence`` per sample: random in [0, 1], or ``value`` everywhere."""
    batch = _batch(n=n, size=size)
    g = torch.Generator().manual_seed(2)
    for item in batch["inputs"]:
        item["prior_confidence"] = (torch.rand(1, size, size, generator=g) if value is None
                                    else torch.full((1, size, size), float(value)))
    return batch


def _spy_all(model):
    seen = []
    model.generator.register_forward_pre_hook(lambda m, a, kw: seen.append(dict(kw)), with_kwargs=True)
    return seen


def _wake_branch(model):
    """Make the (identity-initialised) fusion blocks do something, so the confidence changes the output."""
    torch.manual_seed(4)
    with torch.no_grad():
        for p in model.generator.branch_parameters():
            p.add_(0.1 * torch.randn_like(p))


@pytest.mark.parametrize("mode", ["tensor", "predict", "loss"])
def test_confidence_reaches_generator_unnormalised(mm, mode):
    model = _build(mm)
    seen = _spy_all(model)
    data = model.data_preprocessor(_conf_batch(), training=mode == "loss")
    model(**data, mode=mode)
    assert len(seen) == 1 and seen[0].get("confidence") is not None
    want = torch.stack([d["prior_confidence"] for d in _conf_batch()["inputs"]])  # (B, 1, H, W), as packed
    torch.testing.assert_close(seen[0]["confidence"], want)  # not normalised like img (mean 0, std 255)
    assert "prior_confidence" not in type(model.data_preprocessor)._NON_IMAGE_KEYS  # MMagic's class list untouched
    # without a packed confidence the generator gets none: the behaviour before confidence maps existed
    seen.clear()
    model(**model.data_preprocessor(_batch(), training=mode == "loss"), mode=mode)
    assert "confidence" not in seen[0]


def test_confidence_gates_the_prior_branch(mm):
    model = _build(mm)
    _wake_branch(model)
    model.eval()

    def run(value):
        batch = _conf_batch(value=value) if value is not None else _batch()
        with torch.no_grad():
            return model(**model.data_preprocessor(batch), mode="tensor")

    img = model.data_preprocessor(_batch())["inputs"]["img"]
    with torch.no_grad():
        host = model.generator(img)  # no prior: the host alone
    assert not torch.allclose(run(None), host, atol=1e-4)  # the woken branch changes the output
    torch.testing.assert_close(run(0.0), host)  # trusted nowhere: exactly the host's features
    torch.testing.assert_close(run(1.0), run(None))  # trusted everywhere: as without a confidence
    half = run(0.5)
    assert not torch.allclose(half, host, atol=1e-5) and not torch.allclose(half, run(1.0), atol=1e-5)


def test_pair_mode_passes_the_dropped_priors_confidence(mm):
    model = _build(mm)
    batch = _conf_batch()
    for item in batch["inputs"]:
        item["prior_dropped"] = item["img"].clone()
        item["prior_dropped_confidence"] = torch.zeros(1, 16, 16)
    seen = _spy_all(model)
    model(**model.data_preprocessor(batch, training=True), mode="loss")
    assert len(seen) == 2
    want = torch.stack([d["prior_confidence"] for d in _conf_batch()["inputs"]])
    torch.testing.assert_close(seen[0]["confidence"], want)
    torch.testing.assert_close(seen[1]["confidence"], torch.zeros(2, 1, 16, 16))


def test_confidence_is_zero_padded_with_the_preprocessors_padding(mm):
    model = _build(mm, data_preprocessor=dict(PRE, pad_size_divisor=8))
    seen = _spy_all(model)
    batch = _conf_batch(size=12)
    model(**model.data_preprocessor(batch), mode="tensor")
    conf, prior = seen[0]["confidence"], seen[0]["prior"]
    assert prior.shape == (2, 3, 16, 16) and conf.shape == (2, 1, 16, 16)
    torch.testing.assert_close(conf[..., :12, :12], torch.stack([d["prior_confidence"] for d in batch["inputs"]]))
    assert float(conf[..., 12:, :].abs().max()) == 0 and float(conf[..., :, 12:].abs().max()) == 0


def test_a_confidence_not_moved_with_its_prior_is_named(mm):
    model = _build(mm)
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"inputs\['prior_confidence'\] is \(8, 8\) but inputs\['prior'\] is "
                                         r"\(16, 16\).*add 'prior_confidence' to the keys"):
        model(dict(img=x, prior=x, prior_confidence=torch.rand(2, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"inputs\['prior_confidence'\] must have shape \(B, 1, H, W\)"):
        model(dict(img=x, prior=x, prior_confidence=torch.rand(2, 3, 16, 16)))


# ------------------------------------------------------------------------------------------ a real runner
# the runner test's base config (tiny NAFNet, tiny data) plus the prior lines of this test
RUN_CFG = """_base_ = './base.py'
runner_type = 'mmagic_plugins.PriorRunner'
prior = dict(cache='{cache}', set='conf', warp=0.0, dropout=0.0)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3, val_interval=3)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-2))
"""


@pytest.fixture(scope="module")
def conf_run_cfg(tiny_data, tmp_path_factory):
    """A config training on tiny_data with set ``conf`` of a cache of its own: each prior is the input itself and
    its confidence the input's red channel / 255 (non-trivial: about 0.4 to 0.9)."""
    folder = tmp_path_factory.mktemp("conf_run")
    cache_root = make_conf_cache(folder / "priors", tiny_data["root"])
    (folder / "base.py").write_text(BASE_CFG.format(root=tiny_data["root"]))
    (folder / "run.py").write_text(RUN_CFG.format(cache=cache_root))
    return folder / "run.py"


def _train(mm, cfg_path, work_dir, **options):
    from mmagic_plugins.train import build_runner, load_config

    runner = build_runner(load_config(cfg_path, work_dir=str(work_dir), options=options or None))
    calls = []

    def spy(module, args, kwargs):
        conf = kwargs.get("confidence")
        calls.append((module.training, args[0].detach().clone(), None if conf is None else conf.detach().clone()))

    runner.model.generator.register_forward_pre_hook(spy, with_kwargs=True)
    runner.train()
    return runner, calls


def test_a_runner_feeds_the_confidence_in_training_and_validation(mm, conf_run_cfg, tmp_path):
    runner, calls = _train(mm, conf_run_cfg, tmp_path / "on")
    train, val = [c for c in calls if c[0]], [c for c in calls if not c[0]]
    assert len(train) == 3 and len(val) == 2
    for _, img, conf in train + val:
        assert conf is not None and conf.shape == (img.shape[0], 1, *img.shape[-2:])
        # the cached map is the input's red channel: cropped / flipped / transposed with the prior (and so with
        # img, which the echo prior equals), it is still img's red channel (img normalised to [0, 1], RGB)
        torch.testing.assert_close(conf, img[:, :1], atol=1e-6, rtol=0)
        assert 0.2 < float(conf.min()) < float(conf.max()) < 1.0
    off, off_calls = _train(mm, conf_run_cfg, tmp_path / "off", **{"prior.confidence": False})
    assert len(off_calls) == len(calls) and all(c[2] is None for c in off_calls)  # the old behaviour
    assert all(torch.equal(a[1], b[1]) for a, b in zip(calls, off_calls))  # the very same inputs ...
    on_branch = dict(runner.model.generator.branch.named_parameters())
    changed = [k for k, p in off.model.generator.branch.named_parameters()
               if not torch.allclose(p, on_branch[k], atol=1e-7)]
    assert changed  # ... but the gated fusion trained otherwise


def test_a_bad_confidence_setting_stops_the_runner(mm, conf_run_cfg, tmp_path):
    from mmagic_plugins.config import PriorConfigError

    with pytest.raises(PriorConfigError, match="prior.confidence must be True or False, got 'no'"):
        _train(mm, conf_run_cfg, tmp_path, **{"prior.confidence": "no"})
