"""Prompts (versioned), prices (cost from usage, overrides, estimates) and the provider interface."""
import json

import numpy as np
import pytest

from gpt4o_prior.cache import PriorCache, sha256_bytes
from gpt4o_prior.pricing import (BATCH_DISCOUNT, DEFAULT_PRICES, PRICES_DATE, Price, cost_from_usage, estimate_cost,
                                 get_price, load_price_table)
from gpt4o_prior.prompts import PROMPTS, get_prompt, list_prompts
from gpt4o_prior.providers import OfflineProvider, Provider, fill_cache, get_provider, list_providers


def test_every_task_has_a_versioned_prompt():
    for task in ("dehaze", "derain", "lowlight", "restore"):
        p = get_prompt(task)
        assert p.version >= 1 and len(p.text) > 40 and p.id == task
    texts = [p.text for versions in PROMPTS.values() for p in versions]
    assert len(set(texts)) == len(texts)
    with pytest.raises(KeyError, match="versions: 1"):
        get_prompt("dehaze", 7)
    assert set(list_prompts()) >= {"dehaze", "derain", "lowlight", "restore"}


def test_cost_from_usage_matches_hand_computation():
    price = Price(text_input=5.0, text_cached=1.0, image_input=8.0, image_cached=2.0, image_output=30.0)
    usage = {"input_tokens": 1200, "output_tokens": 1000,
             "input_tokens_details": {"text_tokens": 200, "image_tokens": 1000, "cached_tokens": 500}}
    want = (200 * 5 + 500 * 8 + 500 * 2 + 1000 * 30) / 1e6
    assert cost_from_usage(usage, price) == pytest.approx(want)
    assert cost_from_usage(usage, price, discount=BATCH_DISCOUNT) == pytest.approx(want / 2)
    assert cost_from_usage(usage, None) is None and cost_from_usage(None, price) is None
    assert cost_from_usage({"input_tokens": 100, "output_tokens": 0}, price) == pytest.approx(100 * 5 / 1e6)


def test_price_table_override_and_snapshots(tmp_path):
    assert PRICES_DATE and "gpt-image-1-mini" in DEFAULT_PRICES
    assert get_price("gpt-image-1-mini-2025-10-06") == DEFAULT_PRICES["gpt-image-1-mini"]
    assert get_price("unknown-model") is None
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"my-model": {"text_input": 1, "image_input": 2, "image_output": 3}}))
    table = load_price_table(f)
    assert table["my-model"].image_output == 3.0 and "gpt-image-1" in table
    assert estimate_cost(model="my-model", size="1024x1024", quality="high", table=table) > \
        estimate_cost(model="my-model", size="1024x1024", quality="low", table=table)
    f.write_text(json.dumps({"my-model": {"text_input": 1}}))
    with pytest.raises(ValueError, match="my-model"):
        load_price_table(f)


class _Invert(OfflineProvider):
    name, label = "test-invert", "classical"

    def make(self, image, *, target=None):
        return 255 - image


def test_provider_interface_and_fill_cache(tmp_path):
    from PIL import Image

    assert issubclass(OfflineProvider, Provider)
    assert get_provider("classical", task="dehaze").label == "classical"   # imported on first use
    assert "classical" in list_providers()
    with pytest.raises(KeyError, match="unknown provider"):
        get_provider("no-such-provider")
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.png"
        Image.fromarray(np.full((8, 10, 3), 40 * i, np.uint8)).save(p)
        paths.append(p)
    cache = PriorCache(tmp_path / "cache")
    out = fill_cache(paths, cache=cache, set_name="inv", provider=_Invert())
    assert out["done"] == 3 and not out["failed"]
    assert int(cache.load_prior("inv", paths[1])[0, 0, 0]) == 255 - 40
    assert fill_cache(paths, cache=cache, set_name="inv", provider=_Invert())["cached"] == 3
    e = cache.find("inv", sha256_bytes(paths[0].read_bytes()))
    assert e.meta["provider"] == "test-invert" and cache.get_set("inv").label == "classical"
