"""gpt4o_prior.providers.base: the provider interface, and fill_cache with an offline provider."""
import numpy as np
import pytest

from gpt4o_prior.cache import PriorCache, sha256_bytes
from gpt4o_prior.providers import OfflineProvider, Provider, fill_cache, get_provider, list_providers


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
