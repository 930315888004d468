"""gpt4o_prior.cache.store (PriorCache): put/find/load, fallbacks, refusals, first result wins, atomic writes, pickling
and threads, aligned priors per input."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest
from tests.helpers.cache import GPT_SET, fake_generate, tiny_image, write_input

from gpt4o_prior.cache import PriorCache, PriorMissingError, PriorSet, sha256_bytes
from gpt4o_prior.cache.image_io import encode_png


def test_put_then_load_by_path_and_by_hash(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "0001_hazy.png", seed=1)
    entry = fake_generate(cache, GPT_SET, path)
    assert entry.ok and entry.raw_path.exists() and entry.aligned_path.exists()
    assert entry.raw_path.parent.parent.name == entry.key[:2] and entry.raw_path.parent.name == entry.key[2:4]
    meta = json.loads((entry.raw_path.parent / f"{entry.key}.json").read_text())
    assert meta["files"][entry.raw_path.name]["sha256"] == sha256_bytes(entry.raw_path.read_bytes())
    assert meta["sources"][0]["source_name"] == "0001_hazy.png" and meta["cost_usd"] == 0.01
    prior = cache.load_prior("toy-gpt", path)
    assert prior.shape == img.shape and prior.dtype == np.uint8 and np.array_equal(prior, 255 - img)
    assert np.array_equal(cache.load_prior_by_hash("toy-gpt", src, size=img.shape[:2]), 255 - img)
    assert cache.find("toy-gpt", src).key == entry.key


def test_renamed_or_moved_dataset_still_finds_its_priors(cache, tmp_path):
    path, _, img = write_input(tmp_path / "data", "a.png", seed=2)
    fake_generate(cache, GPT_SET, path)
    moved = tmp_path / "elsewhere" / "renamed.png"
    moved.parent.mkdir()
    shutil.move(path, moved)
    assert np.array_equal(cache.load_prior("toy-gpt", moved), 255 - img)


def test_missing_prior_error_names_file_set_and_command(cache, tmp_path):
    path, _, img = write_input(tmp_path / "data", "0002_hazy.png", seed=3)
    with pytest.raises(PriorMissingError) as e:
        cache.load_prior("toy-gpt", path)
    msg = str(e.value)
    assert "0002_hazy.png" in msg and "toy-gpt" in msg and "gpt4o-prior generate" in msg and "fallback" in msg
    assert isinstance(e.value, KeyError)


def test_fallbacks(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "x.png", seed=4)
    assert cache.load_prior("toy-gpt", path, fallback="skip") is None
    assert np.array_equal(cache.load_prior("toy-gpt", path, fallback="input"), img)
    z = cache.load_prior("toy-gpt", path, fallback="zeros")
    assert z.shape == img.shape and not z.any()
    assert np.array_equal(cache.load_prior_by_hash("toy-gpt", src, fallback="input", input_image=img), img)
    assert cache.load_prior_by_hash("toy-gpt", src, fallback="zeros", size=(5, 7)).shape == (5, 7, 3)
    with pytest.raises(ValueError, match="fallback must be one of"):
        cache.load_prior("toy-gpt", path, fallback="nearest")
    with pytest.raises(ValueError, match="input_image"):
        cache.load_prior_by_hash("toy-gpt", src, fallback="input")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        cache.load_prior("toy-gpt", tmp_path / "nope.png")


def test_refusal_is_a_miss_with_its_reason_and_is_replaced_by_a_result(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "r.png", seed=5)
    key = GPT_SET.request_key(src)
    e = cache.put_refusal(key, meta={"reason": "moderation_blocked", "code": 400, "provider": "openai-images"},
                          set_name="toy-gpt", source_sha256=src, source_name="r.png")
    assert e.status == "refused" and e.raw_path is None and cache.entry(key).status == "refused"
    with pytest.raises(PriorMissingError, match="moderation_blocked"):
        cache.load_prior("toy-gpt", path)
    assert cache.load_prior("toy-gpt", path, fallback="skip") is None
    cache.put(key, encode_png(img), meta={"provider": "openai-images"})
    assert cache.entry(key).ok and np.array_equal(cache.load_prior("toy-gpt", path), img)


def test_first_result_wins_and_links_accumulate(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "f.png", seed=6)
    key = GPT_SET.request_key(src)
    first = encode_png(tiny_image(10))
    cache.put(key, first, meta={}, set_name="toy-gpt", source_sha256=src)
    cache.put(key, encode_png(tiny_image(11)), meta={})
    assert cache.entry(key).raw_path.read_bytes() == first
    other = PriorSet(name="toy-gpt-copy", provider=GPT_SET.provider, model=GPT_SET.model,
                     prompt_text=GPT_SET.prompt_text, prompt_version=1, params=GPT_SET.params)
    cache.register_set(other)
    cache.put(key, first, meta={}, set_name="toy-gpt-copy", source_sha256=src, source_name="f.png")
    sets = {s["set_name"] for s in cache.entry(key).meta["sources"]}
    assert sets == {"toy-gpt", "toy-gpt-copy"}
    assert np.array_equal(cache.load_prior("toy-gpt-copy", path), tiny_image(10))


def test_unaligned_prior_of_another_size_is_a_clear_error_then_put_aligned_fixes_it(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "u.png", seed=7)
    key = GPT_SET.request_key(src)
    cache.put(key, encode_png(tiny_image(1, 32, 32)), meta={}, set_name="toy-gpt", source_sha256=src)
    with pytest.raises(ValueError, match="without alignment.*gpt4o-prior align"):
        cache.load_prior("toy-gpt", path)
    cache.put_aligned(key, 255 - img, alignment={"quality": 0.5}, set_name="toy-gpt", source_sha256=src)
    assert np.array_equal(cache.load_prior("toy-gpt", path), 255 - img)
    assert cache.entry(key).meta["sources"][0]["alignment"] == {"quality": 0.5}


def test_put_checks_its_arguments(cache):
    key = "a" * 64
    with pytest.raises(ValueError, match="key"):
        cache.put("../../x", b"\x89PNG", meta={})
    with pytest.raises(ValueError, match="both set_name and source_sha256"):
        cache.put(key, encode_png(tiny_image(0)), meta={}, set_name="toy-gpt")
    with pytest.raises(ValueError, match="aligned must be an"):
        cache.put(key, encode_png(tiny_image(0)), meta={}, aligned=np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="written by the cache itself"):
        cache.put(key, encode_png(tiny_image(0)), meta={"files": {}})
    with pytest.raises(ValueError, match="not a readable image"):
        cache.put(key, b"not an image", meta={})
    assert cache.entry(key) is None


def test_api_keys_never_reach_sidecars_or_manifest(cache, tmp_path):
    path, src, _ = write_input(tmp_path / "data", "k.png", seed=8)
    secret = "sk-proj-" + "A1b2C3d4" * 6
    key = GPT_SET.request_key(src)
    cache.put(key, encode_png(tiny_image(0)), meta={"api_key": secret, "headers": {"Authorization": f"Bearer {secret}"},
                                                     "note": f"used {secret}"},
              set_name="toy-gpt", source_sha256=src)
    for p in cache.root.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), p
    assert "meta.api_key" in cache.entry(key).meta["redacted"]


def test_pickled_cache_works_in_another_process_state(cache, tmp_path):
    path, _, img = write_input(tmp_path / "data", "p.png", seed=9)
    fake_generate(cache, GPT_SET, path)
    clone = pickle.loads(pickle.dumps(cache))
    assert np.array_equal(clone.load_prior("toy-gpt", path), 255 - img)


def test_crash_during_a_write_leaves_the_old_state(cache, tmp_path, monkeypatch):
    path, src, _ = write_input(tmp_path / "data", "c.png", seed=50)
    key = GPT_SET.request_key(src)
    real_replace = os.replace

    def crash(a, b):
        if str(b).endswith(".json") and "objects" in str(b):
            raise OSError("simulated crash")
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        cache.put(key, encode_png(tiny_image(1)), meta={}, set_name="toy-gpt", source_sha256=src)
    monkeypatch.setattr(os, "replace", real_replace)
    assert cache.entry(key) is None
    assert cache.load_prior("toy-gpt", path, fallback="skip") is None
    rep = cache.verify()
    assert rep.orphans and not rep.corrupt  # the raw PNG written before the commit point
    rep = cache.verify(quarantine=True)
    assert rep.quarantined and cache.verify().ok


def test_dataloader_workers_read_through_a_pickled_cache(cache, tmp_path):
    torch = pytest.importorskip("torch")
    paths = [write_input(tmp_path / "data", f"{i}.png", seed=80 + i)[0] for i in range(4)]
    for p in paths:
        fake_generate(cache, GPT_SET, p)

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return torch.from_numpy(cache.load_prior("toy-gpt", paths[i]).copy())

    loader = torch.utils.data.DataLoader(DS(), batch_size=2, num_workers=2,
                                         multiprocessing_context="fork")
    assert sum(b.shape[0] for b in loader) == 4


def test_two_inputs_sharing_one_request_keep_their_own_aligned_priors(cache, tmp_path):
    # e.g. two originals that the provider's resize turns into the same bytes as sent
    p1, s1, img1 = write_input(tmp_path / "data", "small.png", seed=90)
    p2, s2, img2 = write_input(tmp_path / "data", "big.png", seed=91, h=24, w=32)
    key = GPT_SET.request_key(sha256_bytes(b"the same bytes as sent"))
    raw = encode_png(tiny_image(5, 32, 32))
    cache.put(key, raw, meta={}, aligned=255 - img1, set_name="toy-gpt", source_sha256=s1)
    cache.put(key, raw, meta={}, aligned=255 - img2, set_name="toy-gpt", source_sha256=s2)
    assert np.array_equal(cache.load_prior("toy-gpt", p1), 255 - img1)
    assert np.array_equal(PriorCache(cache.root).load_prior("toy-gpt", p2), 255 - img2)
    assert cache.find("toy-gpt", s2).aligned_path != cache.find("toy-gpt", s1).aligned_path
    assert cache.verify().ok


def test_a_cache_from_a_newer_version_is_refused(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cache.json").write_text('{"schema": 99}')
    with pytest.raises(RuntimeError, match="newer gpt4o-prior"):
        PriorCache(tmp_path / "c")


def test_threads_share_one_cache_object(cache, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = [write_input(tmp_path / "data", f"{i}.png", seed=120 + i)[0] for i in range(6)]
    reader = PriorCache(cache.root)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: fake_generate(cache, GPT_SET, p), paths))
        got = list(pool.map(lambda p: reader.load_prior("toy-gpt", p), paths * 3))
    assert all(g.shape == (12, 16, 3) for g in got) and cache.verify().ok


def test_relinked_input_gets_the_newest_prior_everywhere(tmp_path):
    """A prior replaced for one (set, input), e.g. a re-import of a changed file, wins in every reader."""
    from gpt4o_prior.cache import PriorCache, PriorSet, request_key
    from gpt4o_prior.cache.image_io import encode_png

    from tests.helpers.cache import tiny_image, write_input

    cache = PriorCache(tmp_path / "c")
    pset = PriorSet(name="rel", provider="released", model=None, label="released-gpt", prompt_id=None,
                    prompt_version=None, prompt_text=None, params={})
    cache.register_set(pset)
    path, src, _ = write_input(tmp_path / "in", "a.png", seed=1)
    old, new = tiny_image(2), tiny_image(3)
    for img in (old, new):
        key = request_key(provider="released", model=None, prompt_text=None, prompt_version=None,
                          params={"prior_sha256": img.tobytes().hex()[:64]}, input_sha256=src)
        cache.put(key, encode_png(img), meta={"provider": "released"}, aligned=img, set_name="rel",
                  source_sha256=src, source_name="a.png")
        assert (cache.load_prior("rel", path) == img).all()  # the same object sees its own newest write
    assert (PriorCache(tmp_path / "c").load_prior("rel", path) == new).all()
    cache.rebuild_manifest()
    assert (PriorCache(tmp_path / "c").load_prior("rel", path) == new).all()
    cache.manifest_path.unlink()  # the sidecar scan also prefers the newest link
    assert (PriorCache(tmp_path / "c").load_prior("rel", path) == new).all()
