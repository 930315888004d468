"""gpt4o_prior.pricing: cost from usage, price table overrides and snapshots."""
import json

import pytest

from gpt4o_prior.pricing import (BATCH_DISCOUNT, DEFAULT_PRICES, PRICES_DATE, Price, cost_from_usage, estimate_cost,
                                 get_price, load_price_table)


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
