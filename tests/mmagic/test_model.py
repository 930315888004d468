"""PriorEditModel: the prior reaches the generator in every mode, bare checkpoints load, identity at start."""
from __future__ import annotations

import pytest
import torch

GEN = dict(type="NAFNet", img_channels=3, mid_channels=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1])
PRE = dict(type="DataPreprocessor", mean=[0.0] * 3, std=[255.0] * 3)


def _build(mm, **kw):
    from mmagic.registry import MODELS

    torch.manual_seed(0)
    base = dict(generator=GEN, pixel_loss=dict(type="L1Loss"), data_preprocessor=PRE)
    return MODELS.build(dict(type=kw.pop("type", "PriorEditModel"), **base, **kw))


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
