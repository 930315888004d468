"""`generate` waits for inputs another live process has claimed, instead of reporting them busy at once."""
import asyncio
import subprocess
import sys
import threading
import time

from tests.helpers.providers import API_KEY

from gpt4o_prior.cache import PriorCache
from gpt4o_prior.providers.openai_images import (EditResult, OpenAIImagesProvider, store_answer, generate, make_client,
                                                 prepare_input)

MODEL = "fake-image-model"


def _provider():
    return OpenAIImagesProvider(model=MODEL, task="dehaze", size="64x64", quality="low")


def _generate(server, inputs, cache, **kw):
    async def go():
        client = make_client(api_key=API_KEY, base_url=server.base_url, max_retries=0, timeout=5.0)
        try:
            return await generate(inputs, cache=cache, set_name="s", provider=_provider(), client=client,
                                  concurrency=4, busy_poll_s=0.05, **kw)
        finally:
            await client.close()
    return asyncio.run(go())


def _key(path):
    return prepare_input(path.read_bytes(), provider=_provider(), source_name=path.name).key


def test_busy_timeout_zero_and_bounded(fake_openai, tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    claim = cache.claim(_key(tiny_inputs[0]))          # held by this (live) process
    assert claim.acquire()
    try:
        s = _generate(fake_openai, tiny_inputs, cache, busy_timeout=0)
        assert s.busy == 1 and s.done == len(tiny_inputs) - 1
        t0 = time.monotonic()
        s = _generate(fake_openai, tiny_inputs, cache, busy_timeout=0.3)
        assert s.busy == 1 and s.cached == len(tiny_inputs) - 1 and 0.3 <= time.monotonic() - t0 < 30
        assert "busy-timeout 0.3" in s.missing[tiny_inputs[0].name]
    finally:
        claim.release()
    assert fake_openai.paid() == len(tiny_inputs) - 1


def test_waits_for_the_holder_and_counts_its_answer_as_cached(fake_openai, tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    prep = prepare_input(tiny_inputs[0].read_bytes(), provider=_provider(), source_name=tiny_inputs[0].name)
    claim = cache.claim(prep.key)
    assert claim.acquire()

    def other_process_finishes():
        time.sleep(0.4)
        store_answer(cache, set_name="s", provider=_provider(), prepared=prep, register=False,
               result=EditResult(status="ok", png=prep.sent_png, cost_usd=0.0, returned_size="64x64"))
        claim.release()
    t = threading.Thread(target=other_process_finishes)
    t.start()
    s = _generate(fake_openai, tiny_inputs, cache)             # default: wait as long as the claim is held
    t.join()
    assert s.busy == 0 and s.cached == 1 and s.done == len(tiny_inputs) - 1 and s.complete
    assert fake_openai.paid() == len(tiny_inputs) - 1            # the held input was never sent


def test_holder_killed_while_waiting_then_sent_here(fake_openai, tmp_path, tiny_inputs):
    cache = PriorCache(tmp_path / "cache")
    key = _key(tiny_inputs[1])
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from gpt4o_prior.cache import PriorCache\n"
        f"c = PriorCache({str(tmp_path / 'cache')!r}).claim({key!r}); assert c.acquire()\n"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        threading.Timer(0.4, lambda: (holder.kill(), holder.wait())).start()   # kill -9 (and reap) while we wait
        s = _generate(fake_openai, tiny_inputs, cache, busy_timeout=30)
    finally:
        holder.kill()
        holder.wait()
    assert s.busy == 0 and s.done == len(tiny_inputs) and fake_openai.paid() == len(tiny_inputs)
    assert max(fake_openai.paid_per_input().values()) == 1


def test_offline_fill_cache_waits_for_a_claimed_input(tmp_path, tiny_inputs):
    from gpt4o_prior.cache import request_key, sha256_bytes
    from gpt4o_prior.providers.base import fill_cache
    from gpt4o_prior.providers.classical import ClassicalProvider

    cache = PriorCache(tmp_path / "cache")
    prov = ClassicalProvider(task="dehaze")
    key = request_key(**prov.key_fields(), input_sha256=sha256_bytes(tiny_inputs[0].read_bytes()))
    claim = cache.claim(key)
    assert claim.acquire()
    out = fill_cache(tiny_inputs[:3], cache=cache, set_name="c", provider=prov, busy_timeout=0.2, busy_poll_s=0.05)
    assert out["done"] == 2 and "busy" in out["failed"][tiny_inputs[0].name]
    threading.Timer(0.3, claim.release).start()
    out = fill_cache(tiny_inputs[:3], cache=cache, set_name="c", provider=prov, busy_poll_s=0.05)
    assert out == {"done": 1, "cached": 2, "failed": {}}
