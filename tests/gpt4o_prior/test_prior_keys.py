"""gpt4o_prior.prior_keys: the one table of the ``prior`` setting, its checks, and the docs rendered from it."""
import pytest

from gpt4o_prior import augment
from gpt4o_prior.prior_keys import (DATA_KEYS, NET_KEYS, PRIOR_KEYS, PriorSettingError, check_data_settings,
                                    check_dropout, check_prior_mapping, keys_table)

OK = {"cache": "priors", "set": "s"}


def spell(k):
    return f"prior.{k}"


def test_the_confidence_power_default_is_the_fusion_gates():
    from gpt4o_prior.fusion import DEFAULT_CONFIDENCE_POWER
    assert next(k.default for k in PRIOR_KEYS if k.name == "confidence_power") == DEFAULT_CONFIDENCE_POWER


def test_the_table_holds_every_key_once_with_the_augmentation_defaults():
    names = [k.name for k in PRIOR_KEYS]
    assert len(names) == len(set(names)) and set(names) == set(DATA_KEYS) | set(NET_KEYS)
    out = check_data_settings(OK, spell=spell)
    assert out == {"cache": "priors", "set": "s", "fallback": "error", "check": True, "dropout": augment.PRIOR_DROPOUT,
                   "dropout_fill": "input", "dropout_mode": "sample", "warp": augment.WARP_PROB,
                   "max_shift": augment.MAX_SHIFT, "max_rotation": augment.MAX_ROTATION,
                   "max_scale": augment.MAX_SCALE, "confidence": True}
    assert check_data_settings({**OK, "dropout_mode": "pair"}, spell=spell)["dropout_fill"] == "none"
    assert check_data_settings({**OK, "dropout_mode": "pair", "dropout": 0}, spell=spell)["dropout"] == 0.0


@pytest.mark.parametrize("bad, message", [
    ({"set": "s"}, "prior.cache is required: say so"),
    ({**OK, "fallback": "skip"}, "prior.fallback must be one of"),
    ({**OK, "confidence": "yes"}, "prior.confidence must be true or false, got 'yes'"),
    ({**OK, "check": 1}, "prior.check must be true or false"),
    ({**OK, "dropout": 1.5}, r"prior.dropout must be a probability in \[0, 1\], got 1.5"),
    ({**OK, "warp": True}, "prior.warp must be a probability"),
    ({**OK, "max_shift": -1}, "prior.max_shift must be a number >= 0"),
    ({**OK, "dropout_mode": "both"}, "prior.dropout_mode must be one of"),
    ({**OK, "dropout_fill": "noise"}, "prior.dropout_fill must be one of"),
    ({**OK, "dropout_mode": "pair", "dropout": 0.3}, "prior.dropout \\(0.3\\) has no meaning with dropout_mode 'pair'"),
])
def test_each_bad_value_is_named_in_the_callers_spelling(bad, message):
    with pytest.raises(PriorSettingError, match=message):
        check_data_settings(bad, spell=spell, required_hint=": say so")


def test_the_whole_mapping_check_names_unknown_keys_and_returns_what_was_given():
    given = {**OK, "fusion": "film", "dropout": 0.2}
    assert check_prior_mapping(given, spell=spell, whole="prior", example="{...}") == given
    with pytest.raises(PriorSettingError, match=r"prior has unknown key\(s\) \['fussion'\]"):
        check_prior_mapping({**OK, "fussion": "sft"}, spell=spell, whole="prior", example="{...}")
    with pytest.raises(PriorSettingError, match="prior must be a mapping such as {...}, got 'x'"):
        check_prior_mapping("x", spell=spell, whole="prior", example="{...}")


def test_check_dropout_resolves_the_fill_of_the_mode():
    assert check_dropout(0.1, None, "sample", 0.5, spell=spell) == (0.1, "input", "sample", 0.5)
    assert check_dropout(0.1, None, "pair", spell=spell) == (0.1, "none", "pair", 0.0)  # the default, not given


def test_the_table_renders_in_each_syntax():
    yaml_t = keys_table(true="true", false="false", none="~", network="network")
    py_t = keys_table(true="True", false="False", none="None", network="generator")
    import re
    assert re.search(r"\ncheck +``true`` ", yaml_t) and re.search(r"\ncheck +``True`` ", py_t)
    assert "``~`` (the default pyramid)" in yaml_t and "pass it to the generator" in re.sub(r"\n +", " ", py_t)
    assert "``~``: the plain gate" in re.sub(r"\n +", " ", yaml_t)
    assert all(len(line) <= 102 for line in yaml_t.splitlines())
