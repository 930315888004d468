"""Helpers for the cache tests: tiny images, a registered set, a fake paid request (the ``cache`` fixture is in
``tests/gpt4o_prior/cache/conftest.py``)."""
import numpy as np

from gpt4o_prior.cache import PriorCache, PriorSet, sha256_bytes
from gpt4o_prior.cache.image_io import encode_png


def tiny_image(seed: int, h: int = 12, w: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_input(folder, name: str, seed: int, h: int = 12, w: int = 16):
    """Write a tiny PNG input file; return (path, its bytes' sha256, the image)."""
    folder.mkdir(parents=True, exist_ok=True)
    img = tiny_image(seed, h, w)
    data = encode_png(img)
    path = folder / name
    path.write_bytes(data)
    return path, sha256_bytes(data), img


GPT_SET = PriorSet(name="toy-gpt", provider="openai-images", model="gpt-image-1.5", label="gpt",
                   prompt_id="dehaze", prompt_version=1, prompt_text="Remove the haze.",
                   params={"size": "1024x1024", "quality": "low"})


def fake_generate(cache: PriorCache, pset: PriorSet, path, *, returned_hw=(32, 32), cost=0.01, aligned=True):
    """What a provider does for one input: key, claim, pay, put. Returns the entry or None (claimed elsewhere)."""
    data = path.read_bytes()
    src = sha256_bytes(data)
    from gpt4o_prior.cache.image_io import decode_rgb

    img = decode_rgb(data)
    key = pset.request_key(src)  # here "as sent" = the original bytes
    with cache.claim(key) as claimed:
        if not claimed:
            return None
        if cache.entry(key) is None:
            raw = encode_png(tiny_image(hash(key) % 1000, *returned_hw))
            al = (255 - img) if aligned else None
            return cache.put(key, raw, meta={"provider": pset.provider, "model": pset.model, "cost_usd": cost,
                                             "request_id": "req_1", "alignment": {"quality": 0.9}},
                             aligned=al, set_name=pset.name, source_sha256=src, source_name=path.name)
        return cache.entry(key)
