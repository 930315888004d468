"""apply_prior and the configs in options/mmagic: the prior lines, the written-out model and pipelines."""
from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers import REPO

OPTIONS = REPO / "options" / "mmagic"
TASKS = ("ohaze", "rain800", "lol")
MODELS = ("nafnet", "restormer")


def _code_lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("model", MODELS)
def test_option_configs_load_and_add_the_prior(mm, task, model):
    from mmagic.registry import TRANSFORMS
    from mmagic_plugins.config import apply_prior
    from mmagic_plugins.train import load_config

    base = load_config(OPTIONS / f"{task}_{model}.py")
    assert "prior" not in base and base.model.type == "BaseEditModel"
    prior_file = OPTIONS / f"{task}_{model}_prior.py"
    cfg = load_config(prior_file)
    assert cfg.prior == dict(cache="priors/", set=f"{task}-gpt")
    assert cfg.runner_type == "mmagic_plugins.PriorRunner"
    # the prior file is `_base_` plus the two needed lines plus two optional ones
    lines = _code_lines(prior_file)
    assert lines[0].startswith("_base_") and len(lines) == 5
    out = apply_prior(cfg)
    assert out.model.type == "PriorEditModel" and out.model.generator == base.model.generator
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        steps = out[loader].dataset.pipeline
        names = [s["type"] for s in steps]
        assert names.index("LoadPrior") == 1 and "PairedRandomCrop" not in names
        assert ("PriorAugment" in names) == (loader == "train_dataloader")
        assert "prior" in steps[-1]["keys"]
        for step in steps:
            TRANSFORMS.build(step)  # every type resolves and accepts its arguments (nothing is read)


def test_apply_prior_leaves_input_alone_and_is_idempotent(mm):
    from mmagic_plugins.config import apply_prior
    from mmagic_plugins.train import load_config

    cfg = load_config(OPTIONS / "ohaze_nafnet_prior.py")
    before = cfg.pretty_text
    once = apply_prior(cfg)
    assert cfg.pretty_text == before
    assert apply_prior(once).pretty_text == once.pretty_text


def test_prior_keys_reach_model_and_pipelines(mm):
    from mmagic_plugins.config import apply_prior

    cfg = dict(prior=dict(cache="c/", set="s", fusion="film", freeze_host=True, dropout=0.3, warp=0.0,
                          fallback="input"),
               model=dict(type="BaseEditModel", generator=dict(type="NAFNet"), pixel_loss=dict(type="L1Loss")),
               train_dataloader=dict(dataset=dict(type="RepeatDataset", times=2, dataset=dict(
                   type="BasicImageDataset", pipeline=[dict(type="LoadImageFromFile", key="img"),
                                                       dict(type="PackInputs")]))))
    cfg["val_dataloader"] = [dict(dataset=dict(type="BasicImageDataset", pipeline=[
        dict(type="LoadImageFromFile", key="img"), dict(type="PackInputs")]))] * 2
    out = apply_prior(cfg)
    assert out["model"]["fusion"] == "film" and out["model"]["freeze_host"] is True
    assert all(d["dataset"]["pipeline"][1]["type"] == "LoadPrior" for d in out["val_dataloader"])
    steps = out["train_dataloader"]["dataset"]["dataset"]["pipeline"]
    assert steps[1] == dict(type="LoadPrior", cache="c/", set="s", fallback="input")
    assert steps[2]["type"] == "PriorAugment" and steps[2]["dropout"] == 0.3 and steps[2]["warp"] == 0.0


@pytest.mark.parametrize("prior, match", [
    (dict(cache="c/"), "prior.set is required"),
    (dict(cache="c/", set="s", speed=2), "unknown key"),
    (dict(cache="c/", set="s", fallback="skip"), "fallback"),
    ("priors/", "must be a mapping"),
    (dict(cache="c/", set="s", confidence="yes"), r"prior.confidence must be True or False, got 'yes'"),
    (dict(cache="c/", set="s", confidence=1), r"prior.confidence must be True or False, got 1"),
])
def test_bad_prior_settings_are_named(mm, prior, match):
    from mmagic_plugins.config import PriorConfigError, apply_prior

    with pytest.raises(PriorConfigError, match=match):
        apply_prior(dict(prior=prior, model=dict(type="BaseEditModel")))


def test_unsupported_model_and_pipeline_are_named(mm):
    from mmagic_plugins.config import PriorConfigError, apply_prior, prior_pipeline

    with pytest.raises(PriorConfigError, match="model.type is 'SRGAN'"):
        apply_prior(dict(prior=dict(cache="c", set="s"), model=dict(type="SRGAN")))
    with pytest.raises(PriorConfigError, match="LoadImageFromFile"):
        prior_pipeline([dict(type="PackInputs")], cache="c", set="s", where="val_dataloader.dataset.pipeline")


def test_dropout_mode_pair_packs_the_fill_and_conflicts_are_named(mm):
    from mmagic_plugins.config import PriorConfigError, apply_prior

    pipeline = [dict(type="LoadImageFromFile", key="img"), dict(type="PackInputs")]
    cfg = dict(prior=dict(cache="c/", set="s", dropout_mode="pair", warp=0.0),
               model=dict(type="BaseEditModel", generator=dict(type="NAFNet"), pixel_loss=dict(type="L1Loss")),
               train_dataloader=dict(dataset=dict(type="BasicImageDataset", pipeline=pipeline)),
               val_dataloader=dict(dataset=dict(type="BasicImageDataset", pipeline=pipeline)))
    out = apply_prior(cfg)
    train = out["train_dataloader"]["dataset"]["pipeline"]
    assert train[2]["type"] == "PriorAugment" and train[2]["dropout_mode"] == "pair"
    assert train[3]["keys"] == ["merged", "img", "prior", "prior_dropped", "prior_confidence",
                                "prior_dropped_confidence"]
    assert {"prior_dropped_channel_order", "prior_keep", "prior_dropped_keep"} <= set(train[3]["meta_keys"])
    val = out["val_dataloader"]["dataset"]["pipeline"]
    assert "prior_dropped" not in val[-1]["keys"] and all(s["type"] != "PriorAugment" for s in val)
    with pytest.raises(PriorConfigError, match="has no meaning"):
        apply_prior({**cfg, "prior": dict(cache="c/", set="s", dropout_mode="pair", dropout=0.2)})
    with pytest.raises(PriorConfigError, match="dropout_mode must be one of"):
        apply_prior({**cfg, "prior": dict(cache="c/", set="s", dropout_mode="often")})
    with pytest.raises(PriorConfigError, match="dropout_fill must be one of"):
        apply_prior({**cfg, "prior": dict(cache="c/", set="s", dropout_fill="noise")})


_TRAIN = [dict(type="LoadImageFromFile", key="img"), dict(type="LoadImageFromFile", key="gt"),
          dict(type="SetValues", dictionary=dict(scale=1)), dict(type="PairedRandomCrop", gt_patch_size=16),
          dict(type="Flip", keys=["img", "gt"]), dict(type="RandomTransposeHW", keys=["img", "gt"]),
          dict(type="PackInputs")]


def _confidence_cfg(**prior):
    return dict(prior=dict(cache="c/", set="s", **prior),
                model=dict(type="BaseEditModel", generator=dict(type="NAFNet"), pixel_loss=dict(type="L1Loss")),
                train_dataloader=dict(dataset=dict(type="BasicImageDataset", pipeline=_TRAIN)),
                val_dataloader=dict(dataset=dict(type="BasicImageDataset", pipeline=_TRAIN[:1] + _TRAIN[-1:])))


def test_the_confidence_is_moved_and_packed_with_the_prior_by_default(mm):
    from mmagic.registry import TRANSFORMS
    from mmagic_plugins.config import apply_prior

    out = apply_prior(_confidence_cfg())
    train = out["train_dataloader"]["dataset"]["pipeline"]
    by_type = {s["type"]: s for s in train}
    assert by_type["LoadPrior"] == dict(type="LoadPrior", cache="c/", set="s", fallback="error")  # default: on
    assert TRANSFORMS.build(by_type["LoadPrior"]).confidence is True
    for name in ("Flip", "RandomTransposeHW"):  # a prior pixel and its confidence move together
        assert by_type[name]["keys"] == ["img", "gt", "prior", "prior_confidence"]
    assert by_type["PackInputs"]["keys"] == ["merged", "img", "prior", "prior_confidence"]
    val = out["val_dataloader"]["dataset"]["pipeline"]
    assert val[-1]["keys"] == ["merged", "img", "prior", "prior_confidence"]


def test_confidence_false_writes_out_the_pipelines_without_it(mm):
    from mmagic.registry import TRANSFORMS
    from mmagic_plugins.config import apply_prior

    out = apply_prior(_confidence_cfg(confidence=False, dropout_mode="pair"))
    for loader in ("train_dataloader", "val_dataloader"):
        steps = out[loader]["dataset"]["pipeline"]
        load = next(s for s in steps if s["type"] == "LoadPrior")
        assert load["confidence"] is False and TRANSFORMS.build(load).confidence is False
        assert not [s for s in steps if any("confidence" in k for k in s.get("keys", []))]
    # the rest is what it was before confidence maps existed
    before = apply_prior(_confidence_cfg(dropout_mode="pair"))
    for loader in ("train_dataloader", "val_dataloader"):
        for a, b in zip(out[loader]["dataset"]["pipeline"], before[loader]["dataset"]["pipeline"]):
            if a["type"] != "LoadPrior":
                assert a == {k: ([x for x in v if "confidence" not in x] if k == "keys" else v)
                             for k, v in b.items()}


def test_inference_packs_the_confidence_unless_it_is_off(mm):
    from mmagic_plugins.infer import inference_config

    for prior, want in ((dict(), ["img", "prior", "prior_confidence"]), (dict(confidence=False), ["img", "prior"])):
        cfg = inference_config(_confidence_cfg(**prior), inputs="in/", out_dir="out/")
        steps = cfg["test_dataloader"]["dataset"]["pipeline"]
        assert steps[-1]["keys"] == want
        assert steps[1].get("confidence", True) is (prior.get("confidence", True))


def test_the_documented_keys_are_the_one_table():
    import mmagic_plugins.config as cfg
    from gpt4o_prior.prior_keys import keys_table
    table = keys_table(true="True", false="False", none="None", network="generator")
    assert table in cfg.__doc__ and cfg.__doc__.count(table.splitlines()[0]) == 3  # that table alone
