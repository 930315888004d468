"""Batch API path against the fake server: JSONL, splitting, upload, create, poll, collect, resume."""
import json
from pathlib import Path

import pytest
from tests.helpers.providers import API_KEY

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
    assert job.ids[line["custom_id"]] in job.requests
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
    assert e.confidence_path is not None  # aligned to its input: registered, then the dense step's confidence
    assert cache.load_prior("b", tiny_inputs[0], with_confidence=True)[1].shape == (24, 32)
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


# --- resuming from a bare batch id ----------------------------------------------------------------------------

def test_custom_id_carries_the_input_hash_and_size():
    cid = ob.make_custom_id("0f" * 32, (1080, 1920))
    assert ob.parse_custom_id(cid) == ("0f" * 32, (1080, 1920))
    assert len(cid) <= 64 and all(c.isalnum() or c in "-_" for c in cid)
    assert ob.parse_custom_id("ab" * 32) is None and ob.parse_custom_id("g2-###") is None


def _lose_job_files(cache, job):
    import shutil

    ob.job_path(cache, job).unlink()
    shutil.rmtree(ob.job_path(cache, job).with_suffix(""))


def test_collect_from_a_bare_batch_id_without_the_job_file(fake_openai, tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    client = _client(fake_openai)
    prov = _provider()
    job = ob.submit(tiny_inputs, cache=cache, set_name="b", provider=prov, client=client, job="j", max_requests=4)
    ids = [b["batch_id"] for b in job.batches]
    assert ob.resolve_job(cache, batch_id=ids[1], client=client) == "j"            # found locally
    keys = {prepare_input(p.read_bytes(), provider=prov).key for p in tiny_inputs}
    _lose_job_files(cache, "j")
    # first batch: with the inputs at hand (registered); second: from the API alone (fit undone only)
    name = ob.resolve_job(cache, job=ids[0], client=client, inputs=tiny_inputs)
    assert name == "j" and ob.load_job(cache, "j").recovered_from == ids[0]
    assert ob.resolve_job(cache, batch_id=ids[0], client=client) == "j"
    other = ob.resolve_job(cache, batch_id=ids[1], client=client)
    assert other == ids[1]                                                          # the job name was taken
    assert set(ob.load_job(cache, "j").requests) | set(ob.load_job(cache, other).requests) == keys  # recomputed
    out = ob.collect(cache=cache, job="j", client=client, wait=True, poll_s=0.01, timeout_s=10)
    out2 = ob.collect(cache=cache, job=other, client=client, wait=True, poll_s=0.01, timeout_s=10)
    assert out.done == 4 and out2.done == 2 and fake_openai.paid() == len(tiny_inputs)
    for i, p in enumerate(tiny_inputs):
        e = cache.find("b", sha256_bytes(p.read_bytes()))
        assert e is not None and e.status == "ok" and e.key in keys
        assert cache.load_prior("b", p).shape == (24, 32, 3)
        reason = e.meta["alignment"].get("reason") or ""
        assert ("input not available" in reason) == (i >= 4), (i, e.meta["alignment"])
    assert ob.submit(tiny_inputs, cache=cache, set_name="b", provider=prov, client=client, job="j3").batches == []
    with pytest.raises(RuntimeError, match="cannot retrieve batch batch_nope"):
        ob.resolve_job(cache, batch_id="batch_nope", client=client)


def test_older_batches_keyed_by_request_key_are_still_collected(fake_openai, tmp_path, tiny_inputs):
    import asyncio
    import io

    from PIL import Image

    from gpt4o_prior.cache import request_key
    from gpt4o_prior.providers.openai_images import generate

    cache = PriorCache(tmp_path / "cache")
    client = _client(fake_openai)
    prov = _provider()
    lines, old_keys = [], []
    for p in tiny_inputs[:2]:        # what older versions wrote: custom_id = key, Pillow's PNG bytes, no settings
        prep = prepare_input(p.read_bytes(), provider=prov)
        buf = io.BytesIO()
        Image.open(io.BytesIO(prep.sent_png)).save(buf, format="PNG", compress_level=1)
        key = request_key(**prov.key_fields(), input_sha256=sha256_bytes(buf.getvalue()))
        assert key != prep.key
        old_keys.append(key)
        lines.append(json.dumps(ob.request_line(key, buf.getvalue(), prov.request_kwargs(size=prep.size))))
    f = client.files.create(file=("old.jsonl", ("\n".join(lines) + "\n").encode(), "application/jsonl"),
                            purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint=ob.ENDPOINT, completion_window="24h",
                                  metadata={"gpt4o_prior_set": "b", "gpt4o_prior_job": "old"})
    # only the first input is at hand: it is found by its fitted pixels; the second is kept under its key
    name = ob.resolve_job(cache, batch_id=batch.id, client=client, inputs=tiny_inputs[:1])
    out = ob.collect(cache=cache, job=name, client=client, wait=True, poll_s=0.01, timeout_s=10)
    assert out.done == 2 and fake_openai.paid() == 2
    assert cache.find("b", sha256_bytes(tiny_inputs[0].read_bytes())).key == old_keys[0]
    assert cache.entry(old_keys[1]).status == "ok"

    async def go():
        c = make_client(api_key=API_KEY, base_url=fake_openai.base_url, max_retries=0)
        try:
            return await generate(tiny_inputs[:1], cache=cache, set_name="b", provider=prov, client=c)
        finally:
            await c.close()
    s = asyncio.run(go())
    assert s.cached == 1 and fake_openai.paid() == 2             # the linked answer is not paid again
