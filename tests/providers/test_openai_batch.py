"""Batch API path against the fake server: JSONL, splitting, upload, create, poll, collect, resume."""
import json
from pathlib import Path

import pytest
from provider_helpers import API_KEY

from gpt4o_prior.cache import PriorCache, sha256_bytes
from gpt4o_prior.pricing import Price
from gpt4o_prior.providers import openai_batch as ob
from gpt4o_prior.providers.openai_images import OpenAIImagesProvider, make_client, prepare_input

MODEL = "fake-image-model"


def _provider():
    return OpenAIImagesProvider(model=MODEL, task="derain", size="64x64", quality="low")


def _client(server):
    return make_client(api_key=API_KEY, base_url=server.base_url, async_client=False, max_retries=0)


def test_jsonl_lines_are_image_edit_requests(tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    job = ob.submit(tiny_inputs, cache=cache, set_name="b", provider=_provider(), client=None, job="j",
                    dry_run=True, max_requests=4)
    assert [len(b["keys"]) for b in job.batches] == [4, 2]
    line = json.loads(open(job.batches[0]["file"]).readline())
    assert line["url"] == "/v1/images/edits" and line["method"] == "POST"
    assert line["body"]["model"] == MODEL and line["body"]["output_format"] == "png"
    assert line["body"]["images"][0]["image_url"].startswith("data:image/png;base64,")
    assert line["custom_id"] in job.requests
    one = len(open(job.batches[0]["file"], "rb").readline())
    again = ob.submit(tiny_inputs, cache=cache, set_name="b", provider=_provider(), client=None, job="j2",
                      dry_run=True)
    assert again.batches == []           # pending in job "j": another job does not write them again
    by_bytes = ob.submit(tiny_inputs, cache=PriorCache(tmp_path / "c2"), set_name="b", provider=_provider(),
                         client=None, job="j2", dry_run=True, max_bytes=int(one * 2.5))
    assert [len(b["keys"]) for b in by_bytes.batches] == [2, 2, 2]
    assert all(Path(b["file"]).stat().st_size <= one * 2.5 for b in by_bytes.batches)


def test_split_respects_byte_limit():
    with pytest.raises(ValueError, match="per-file limit"):
        ob.split_lines([b"x" * 100], max_bytes=50)


def test_submit_status_collect_and_resume(fake_openai, tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    client = _client(fake_openai)
    prov = _provider()
    refused = sha256_bytes(prepare_input(tiny_inputs[2].read_bytes(), provider=prov).sent_png)
    fake_openai.refuse_sha256 = {refused}
    fake_openai.batch_polls = 2
    job = ob.submit(tiny_inputs, cache=cache, set_name="b", provider=prov, client=client, job="j", max_requests=4)
    assert len(fake_openai.batches) == 2 and all(b["batch_id"] for b in job.batches)
    assert ob.submit(tiny_inputs, cache=cache, set_name="b", provider=prov, client=client, job="j").batches \
        == job.batches                       # resubmitting sends nothing new
    assert len(fake_openai.batches) == 2
    st = ob.status(cache=cache, job="j", client=client)
    assert {b["status"] for b in st.batches} == {"in_progress"}
    out = ob.collect(cache=cache, job="j", client=client, wait=True, poll_s=0.01, timeout_s=10,
                     price_table={MODEL: Price(text_input=5.0, image_input=8.0, image_output=30.0)})
    assert out.done == len(tiny_inputs) - 1 and out.refused == 1 and out.pending == 0 and out.cost_usd > 0
    prior = cache.load_prior("b", tiny_inputs[0])
    assert prior.shape == (24, 32, 3)
    e = cache.find("b", sha256_bytes(tiny_inputs[0].read_bytes()))
    assert e.meta["endpoint"] == "batch" and e.meta["send_transform"]
    assert cache.find("b", sha256_bytes(tiny_inputs[2].read_bytes())).status == "refused"
    again = ob.collect(cache=cache, job="j", client=client)
    assert again.done == 0 and again.failed == 0
    # a new submit for the same set finds everything answered
    job2 = ob.submit(tiny_inputs, cache=cache, set_name="b", provider=prov, client=client, job="j2")
    assert job2.batches == []


def test_batch_failures_are_reported_and_resubmitted(fake_openai, tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    client = _client(fake_openai)
    fake_openai.script = ["500"]
    ob.submit(tiny_inputs, cache=cache, set_name="b", provider=_provider(), client=client, job="j")
    out = ob.collect(cache=cache, job="j", client=client, wait=True, poll_s=0.01, timeout_s=10)
    assert out.failed == 1 and out.done == len(tiny_inputs) - 1
    job2 = ob.submit(tiny_inputs, cache=cache, set_name="b", provider=_provider(), client=client, job="j")
    assert sum(len(b["keys"]) for b in job2.batches if not b["collected"]) == 1
    out2 = ob.collect(cache=cache, job="j", client=client, wait=True, poll_s=0.01, timeout_s=10)
    assert out2.done == 1 and max(fake_openai.paid_per_input().values()) == 1


def test_unknown_job_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="batch submit"):
        ob.load_job(PriorCache(tmp_path / "c"), "nope")


def test_dry_run_then_submit_sends_each_request_once(fake_openai, tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    client = _client(fake_openai)
    ob.submit(tiny_inputs, cache=cache, set_name="b", provider=_provider(), client=None, job="j", dry_run=True)
    job = ob.submit(tiny_inputs, cache=cache, set_name="b", provider=_provider(), client=client, job="j")
    assert len(job.batches) == 1 and job.batches[0]["batch_id"]
    out = ob.collect(cache=cache, job="j", client=client, wait=True, poll_s=0.01, timeout_s=10)
    assert out.done == len(tiny_inputs) and fake_openai.paid() == len(tiny_inputs)


def test_generate_does_not_pay_for_requests_waiting_in_a_batch(fake_openai, tmp_path, tiny_inputs):
    import asyncio

    from gpt4o_prior.providers.openai_images import generate

    cache = PriorCache(tmp_path / "cache")
    ob.submit(tiny_inputs[:2], cache=cache, set_name="b", provider=_provider(), client=None, job="j", dry_run=True)

    async def go():
        client = make_client(api_key=API_KEY, base_url=fake_openai.base_url, max_retries=0)
        try:
            return await generate(tiny_inputs, cache=cache, set_name="b", provider=_provider(), client=client)
        finally:
            await client.close()
    s = asyncio.run(go())
    assert s.busy == 2 and s.done == len(tiny_inputs) - 2 and fake_openai.paid() == len(tiny_inputs) - 2
    assert all("batch collect" in r for r in s.missing.values())
