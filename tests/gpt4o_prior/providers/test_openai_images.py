"""The image-edit provider with the real SDK against the fake server: sizes, retries, refusals, cost, the cache."""
import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.providers import API_KEY, make_inputs
from PIL import Image

from gpt4o_prior.cache import PriorCache, sha256_bytes
from gpt4o_prior.pricing import Price
from gpt4o_prior.prompts import get_prompt
from gpt4o_prior.providers.openai_images import (OpenAIImagesProvider, RetryPolicy, choose_size, edit_once,
                                                 edit_once_async, generate, make_client, prepare_input, redact)
from gpt4o_prior.dense_align import DENSE_VERSION

MODEL = "fake-image-model"
FAST = RetryPolicy(max_attempts=4, base_s=0.01, max_s=0.05)
PRICES = {MODEL: Price(text_input=5.0, image_input=8.0, image_output=30.0)}


def _png(h=24, w=32, value=100):
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _provider(**kw):
    return OpenAIImagesProvider(model=MODEL, task="dehaze", size="64x64", quality="low", **kw)


def _aclient(server, **kw):
    kw.setdefault("max_retries", 0)
    return make_client(api_key=API_KEY, base_url=server.base_url, timeout=kw.pop("timeout", 5.0), **kw)


def _run(coro):
    return asyncio.run(coro)


# --- settings ------------------------------------------------------------------------------------------------

def test_model_is_required_and_fidelity_follows_model():
    with pytest.raises(ValueError, match="model is required"):
        OpenAIImagesProvider(model="", task="dehaze")
    assert OpenAIImagesProvider(model="gpt-image-1.5").input_fidelity == "high"
    assert OpenAIImagesProvider(model="gpt-image-2").input_fidelity is None
    assert "input_fidelity" not in OpenAIImagesProvider(model="gpt-image-2").request_kwargs(size="1024x1024")
    with pytest.raises(ValueError, match="does not accept input_fidelity"):
        OpenAIImagesProvider(model="gpt-image-2", input_fidelity="high")
    with pytest.raises(ValueError, match="does not accept input_fidelity"):
        OpenAIImagesProvider(model="gpt-image-1-mini", input_fidelity="high")


def test_choose_size_rules():
    assert choose_size(1000, 600, model="gpt-image-1.5") == "1024x1536"
    assert choose_size(600, 1000, model="gpt-image-1.5") == "1536x1024"
    assert choose_size(10, 10, model="some-compatible-model") == "1024x1024"
    w, h = (int(v) for v in choose_size(100, 1000, model="gpt-image-2").split("x"))
    assert w % 16 == 0 and h % 16 == 0 and w / h <= 3 and w * h <= 1536 * 1024
    with pytest.raises(ValueError, match="multiples of 16"):
        choose_size(1, 1, model="gpt-image-2", size="1000x1000")


def test_prompt_and_settings_change_the_key():
    data = _png()
    k1 = prepare_input(data, provider=_provider()).key
    assert prepare_input(data, provider=_provider()).key == k1
    assert prepare_input(data, provider=OpenAIImagesProvider(model=MODEL, task="derain", size="64x64",
                                                             quality="low")).key != k1
    assert prepare_input(data, provider=OpenAIImagesProvider(model="other", task="dehaze", size="64x64",
                                                             quality="low")).key != k1
    assert prepare_input(data, provider=_provider(fit="resize")).key != k1
    assert get_prompt("dehaze").version == 1


def test_prepare_records_the_transform():
    prep = prepare_input(_png(24, 32), provider=_provider(), source_name="a.png")
    assert prep.size == "64x64" and prep.input_hw == (24, 32)
    assert Image.open(io.BytesIO(prep.sent_png)).size == (64, 64)
    assert prep.source_sha256 == sha256_bytes(_png(24, 32))
    json.dumps(prep.transform)  # JSON-able


# --- one request ---------------------------------------------------------------------------------------------

def test_sync_edit_sends_the_documented_fields(fake_openai):
    client = make_client(api_key=API_KEY, base_url=fake_openai.base_url, async_client=False, max_retries=0)
    prov = OpenAIImagesProvider(model="gpt-image-1.5", task="lowlight", size="1024x1024", quality="low")
    prep = prepare_input(_png(), provider=prov)
    res = edit_once(client, prov, prep, retry=FAST, price_table={"gpt-image-1.5": PRICES[MODEL]})
    assert res.status == "ok" and res.returned_size == "1024x1024" and res.cost_usd > 0
    assert res.usage["output_tokens"] > 0 and res.request_id
    f = fake_openai.edits()[0].fields
    assert f["model"] == "gpt-image-1.5" and f["input_fidelity"] == "high" and f["output_format"] == "png"
    assert f["size"] == "1024x1024" and f["quality"] == "low" and f["prompt"] == get_prompt("lowlight").text


@pytest.mark.parametrize("script", [["429", "ok"], ["500", "ok"], ["drop", "ok"], ["hang", "ok"],
                                    ["429", "500", "drop", "ok"]])
def test_async_retries_transient_failures(fake_openai, script):
    fake_openai.script = list(script)
    fake_openai.hang_s = 1.5
    prov = _provider()
    prep = prepare_input(_png(), provider=prov)
    res = _run(_edit(_aclient(fake_openai, timeout=0.5), prov, prep))
    assert res.status == "ok" and res.attempts == len(script)
    assert fake_openai.paid() == 1


async def _edit(client, prov, prep, **kw):
    try:
        return await edit_once_async(client, prov, prep, retry=kw.pop("retry", FAST), **kw)
    finally:
        await client.close()


def test_retry_after_is_honoured(fake_openai):
    fake_openai.script = ["429", "ok"]
    fake_openai.retry_after = 0.4
    prov = _provider()
    res = _run(_edit(_aclient(fake_openai), prov, prepare_input(_png(), provider=prov)))
    assert res.status == "ok" and res.elapsed_s >= 0.4


def test_retries_give_up(fake_openai):
    fake_openai.script = ["500"] * 10
    prov = _provider()
    res = _run(_edit(_aclient(fake_openai), prov, prepare_input(_png(), provider=prov)))
    assert res.status == "failed" and res.attempts == FAST.max_attempts


def test_refusal_is_not_retried_unless_asked(fake_openai):
    prov = _provider()
    prep = prepare_input(_png(), provider=prov)
    fake_openai.script = ["moderation", "ok"]
    res = _run(_edit(_aclient(fake_openai), prov, prep))
    assert res.status == "refused" and res.code == "moderation_blocked" and len(fake_openai.edits()) == 1
    fake_openai.script = ["moderation", "ok"]
    res = _run(_edit(_aclient(fake_openai), prov, prep,
                     retry=RetryPolicy(max_attempts=3, base_s=0.01, retry_refused=True)))
    assert res.status == "ok"


def test_bad_key_fails_without_leaking_it(fake_openai):
    prov = _provider()
    client = make_client(api_key="sk-wrong-key-abcdef123456", base_url=fake_openai.base_url, max_retries=0)
    res = _run(_edit(client, prov, prepare_input(_png(), provider=prov)))
    assert res.status == "failed" and "sk-wrong-key-abcdef123456" not in (res.reason or "")
    assert "abcdef123456" not in redact("key sk-wrong-key-abcdef123456 bad")


def test_azure_client_against_fake(fake_openai):
    client = make_client(api_key=API_KEY, azure_endpoint=fake_openai.azure_endpoint,
                         api_version="2025-04-01-preview", async_client=False, max_retries=0)
    prov = OpenAIImagesProvider(model="my-deployment", task="derain", size="64x64")
    res = edit_once(client, prov, prepare_input(_png(), provider=prov), retry=FAST)
    assert res.status == "ok"
    assert fake_openai.edits()[0].path == "/openai/deployments/my-deployment/images/edits"


# --- a folder into the cache ---------------------------------------------------------------------------------

def _generate(server, inputs, cache, **kw):
    async def go():
        client = _aclient(server)
        try:
            return await generate(inputs, cache=cache, set_name=kw.pop("set_name", "s-gpt"),
                                  provider=kw.pop("provider", _provider()), client=client,
                                  retry=kw.pop("retry", FAST), price_table=PRICES, api_key=API_KEY, **kw)
        finally:
            await client.close()
    return asyncio.run(go())


def test_generate_fills_cache_aligned_and_resumes(fake_openai, tiny_inputs, tmp_path):
    cache = PriorCache(tmp_path / "cache")
    s = _generate(fake_openai, tiny_inputs, cache, concurrency=3)
    assert s.complete and s.done == len(tiny_inputs) and s.cost_usd > 0
    assert fake_openai.paid() == len(tiny_inputs) and fake_openai.max_inflight <= 3
    prior = cache.load_prior("s-gpt", tiny_inputs[0])
    assert prior.shape == (24, 32, 3)
    e = cache.find("s-gpt", sha256_bytes(tiny_inputs[0].read_bytes()))
    for field in ("model", "prompt_id", "prompt_version", "usage", "cost_usd", "send_transform", "request_id"):
        assert e.meta.get(field) is not None, field
    s2 = _generate(fake_openai, tiny_inputs, cache)
    assert s2.cached == len(tiny_inputs) and fake_openai.paid() == len(tiny_inputs)
    # the same requests for a second set with the same settings are linked, not paid again
    s3 = _generate(fake_openai, tiny_inputs[:2], cache, set_name="s-gpt-copy")
    assert s3.complete and fake_openai.paid() == len(tiny_inputs)
    assert not list((tmp_path / "cache").rglob("spool/*.json"))


def test_generate_records_refusals_and_failures(fake_openai, tiny_inputs, tmp_path):
    cache = PriorCache(tmp_path / "cache")
    refused = sha256_bytes(prepare_input(tiny_inputs[1].read_bytes(), provider=_provider()).sent_png)
    fake_openai.refuse_sha256 = {refused}
    s = _generate(fake_openai, tiny_inputs, cache)
    assert s.refused == 1 and s.done == len(tiny_inputs) - 1 and not s.complete
    assert "moderation_blocked" in s.missing[tiny_inputs[1].name]
    e = cache.find("s-gpt", sha256_bytes(tiny_inputs[1].read_bytes()))
    assert e.status == "refused" and e.meta["code"] == "moderation_blocked"
    n = len(fake_openai.edits())
    s2 = _generate(fake_openai, tiny_inputs, cache)          # refusals are not sent again
    assert s2.refused == 1 and len(fake_openai.edits()) == n
    fake_openai.refuse_sha256 = set()
    s3 = _generate(fake_openai, tiny_inputs, cache, retry=RetryPolicy(max_attempts=2, base_s=0.01,
                                                                      retry_refused=True))
    assert s3.complete and s3.done == 1


def test_generate_budget_stops_before_exceeding(fake_openai, tmp_path):
    inputs = make_inputs(tmp_path / "in", 8)
    cache = PriorCache(tmp_path / "cache")
    prov = _provider()
    est = prov.estimate_cost(table=PRICES)
    s = _generate(fake_openai, inputs, cache, concurrency=1, max_cost=est * 3.5, provider=prov)
    assert s.done >= 3 and s.skipped_budget == 8 - s.done and s.skipped_budget > 0
    assert s.cost_usd <= est * 3.5 < s.cost_usd + est      # stopped when the next request might not fit
    assert fake_openai.paid() == s.done and all("max-cost" in r for r in s.missing.values())


def test_generate_without_price_refuses_budget(fake_openai, tiny_inputs, tmp_path):
    prov = OpenAIImagesProvider(model="unpriced-model", size="64x64")
    with pytest.raises(ValueError, match="--price-table"):
        _generate(fake_openai, tiny_inputs, PriorCache(tmp_path / "c"), max_cost=1.0, provider=prov)


def test_generate_with_random_failures_pays_each_key_once(fake_openai, tmp_path):
    inputs = make_inputs(tmp_path / "in", 20)
    fake_openai.fail_rate = 0.3
    cache = PriorCache(tmp_path / "cache")
    s = _generate(fake_openai, inputs, cache, concurrency=8,
                  retry=RetryPolicy(max_attempts=12, base_s=0.01, max_s=0.05))
    assert s.complete
    assert max(fake_openai.paid_per_input().values()) == 1 and fake_openai.paid() == 20
    assert len(fake_openai.edits()) > 20          # failures happened and were retried


def test_key_never_stored(fake_openai, tiny_inputs, tmp_path):
    fake_openai.script = ["500", "moderation"]
    cache = PriorCache(tmp_path / "cache")
    _generate(fake_openai, tiny_inputs, cache)
    for p in Path(tmp_path / "cache").rglob("*"):
        if p.is_file():
            assert API_KEY.encode() not in p.read_bytes(), p
    assert all(API_KEY not in json.dumps(r.fields) for r in fake_openai.requests)


def test_generate_with_a_process_pool(fake_openai, tiny_inputs, tmp_path):
    cache = PriorCache(tmp_path / "cache")
    s = _generate(fake_openai, tiny_inputs, cache, concurrency=4, workers=2)
    assert s.complete and s.done == len(tiny_inputs) and fake_openai.paid() == len(tiny_inputs)
    assert cache.load_prior("s-gpt", tiny_inputs[-1]).shape == (24, 32, 3)


def test_generate_stores_each_answers_confidence_and_no_dense_stores_none(fake_openai, tiny_inputs, tmp_path):
    """Registration on (the default): the dense step runs and its confidence is stored beside the aligned prior;
    the request key is the same either way (alignment is post-processing of the stored answer)."""
    cache = PriorCache(tmp_path / "cache")
    assert _generate(fake_openai, tiny_inputs[:2], cache).complete
    src = sha256_bytes(tiny_inputs[0].read_bytes())
    e = cache.find("s-gpt", src)
    assert e.confidence_path is not None and e.meta["alignment"]["dense"]["version"] == DENSE_VERSION
    prior, conf = cache.load_prior("s-gpt", tiny_inputs[0], with_confidence=True)
    assert prior.shape == (24, 32, 3) and conf.shape == (24, 32) and conf.dtype == np.float32
    assert 0.0 <= conf.min() <= conf.max() <= 1.0
    plain = PriorCache(tmp_path / "plain")
    assert _generate(fake_openai, tiny_inputs[:2], plain, dense=False).complete
    e2 = plain.find("s-gpt", src)
    assert e2.key == e.key and e2.confidence_path is None and e2.meta["alignment"]["dense"] is None
    assert (plain.load_prior("s-gpt", tiny_inputs[0], with_confidence=True)[1] == 1).all()
    assert cache.verify().ok and plain.verify().ok
