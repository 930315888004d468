"""gpt4o_prior.cache.stats: counts, costs and misses of a prior set."""
import pytest
from tests.helpers.cache import GPT_SET, fake_generate, write_input

from gpt4o_prior.cache import sha256_bytes


def test_stats_counts_costs_and_misses(cache, tmp_path):
    paths = [write_input(tmp_path / "data", f"{i}.png", seed=70 + i)[0] for i in range(4)]
    for p in paths[:2]:
        fake_generate(cache, GPT_SET, p, cost=0.25)
    src = sha256_bytes(paths[2].read_bytes())
    cache.put_refusal(GPT_SET.request_key(src), meta={"reason": "blocked", "provider": "openai-images"},
                      set_name="toy-gpt", source_sha256=src)
    s = cache.stats(inputs=tmp_path / "data", set_name="toy-gpt")
    assert s["entries"] == 3 and s["refused"] == 1 and s["by_set"] == {"toy-gpt": {"ok": 2, "refused": 1}}
    assert s["cost_usd"] == pytest.approx(0.5) and s["cost_unknown"] == 1
    assert s["by_provider"] == {"openai-images": 3} and s["by_label"] == {"gpt": 3}
    assert s["inputs"] == 4 and s["found"] == 2 and s["missing"] == [str(paths[3])]
    assert s["refused_inputs"] == [str(paths[2])]
    with pytest.raises(ValueError, match="set_name"):
        cache.stats(inputs=tmp_path / "data")
