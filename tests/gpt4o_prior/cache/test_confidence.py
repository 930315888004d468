"""Confidence maps in the cache: stored beside the aligned prior, read back with it, replaced with it, verified."""
import json
import os
import threading

import numpy as np
import pytest
from tests.helpers.cache import GPT_SET, fake_generate, tiny_image, write_input

from gpt4o_prior.cache import PriorCache, PriorMissingError, PriorSet, sha256_bytes
from gpt4o_prior.cache.image_io import encode_png

COPY_SET = PriorSet(name="toy-gpt-dense", provider=GPT_SET.provider, model=GPT_SET.model, label="gpt",
                    prompt_id=GPT_SET.prompt_id, prompt_version=1, prompt_text=GPT_SET.prompt_text,
                    params=GPT_SET.params)  # same request settings: same keys as GPT_SET


def ramp(h=12, w=16, lo=0.0, hi=1.0):
    return np.linspace(lo, hi, h * w, dtype=np.float32).reshape(h, w)


def put_with(cache, path, *, aligned, confidence, set_name="toy-gpt", dense_version=1):
    src = sha256_bytes(path.read_bytes())
    key = GPT_SET.request_key(src)
    alignment = {"quality": 0.8, "dense": {"version": dense_version, "confidence_mean": 0.5}}
    return cache.put(key, encode_png(tiny_image(1, 32, 32)), meta={"provider": "openai-images", "alignment": alignment},
                     aligned=aligned, confidence=confidence, set_name=set_name, source_sha256=src,
                     source_name=path.name)


def sidecar(entry):
    return json.loads((entry.raw_path.parent / f"{entry.key}.json").read_text())


def test_round_trip_within_one_level(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "a.png", seed=1)
    conf = ramp()
    entry = put_with(cache, path, aligned=255 - img, confidence=conf)
    assert entry.confidence_path.name == f"{entry.key}.confidence.png"
    prior, got = cache.load_prior("toy-gpt", path, with_confidence=True)
    assert np.array_equal(prior, 255 - img) and got.dtype == np.float32 and got.shape == (12, 16)
    assert np.abs(got - conf).max() <= 0.5 / 255 + 1e-6
    prior2, got2 = PriorCache(cache.root).load_prior_by_hash("toy-gpt", src, size=(12, 16), with_confidence=True)
    assert np.array_equal(prior2, prior) and np.array_equal(got2, got)
    plain = cache.load_prior("toy-gpt", path)  # the default return is unchanged: the image alone
    assert isinstance(plain, np.ndarray) and np.array_equal(plain, 255 - img)
    files = sidecar(entry)["files"]
    aligned, cinfo = files[entry.aligned_path.name], files[entry.confidence_path.name]
    assert aligned["confidence"] == entry.confidence_path.name and cinfo["aligned"] == entry.aligned_path.name
    assert cinfo["role"] == "confidence" and cinfo["dense_version"] == 1 and cinfo["format"] == 1
    assert cinfo["sha256"] == sha256_bytes(entry.confidence_path.read_bytes())
    assert (cinfo["height"], cinfo["width"]) == (12, 16) and cinfo["mean"] == pytest.approx(0.5, abs=0.01)
    assert sidecar(entry)["alignment"]["dense"]["version"] == 1
    assert np.array_equal(entry.load_confidence(), got)
    assert cache.verify().ok


def test_an_entry_without_confidence_reads_as_ones(cache, tmp_path):
    """What caches made before confidence maps hold: an aligned prior alone."""
    path, src, img = write_input(tmp_path / "data", "old.png", seed=2)
    entry = fake_generate(cache, GPT_SET, path)
    assert entry.confidence_path is None and not list(cache.root.rglob("*.confidence.png"))
    prior, conf = cache.load_prior("toy-gpt", path, with_confidence=True)
    assert np.array_equal(prior, 255 - img) and conf.shape == (12, 16) and (conf == 1).all()
    assert (entry.load_confidence() == 1).all()
    s = cache.stats(set_name="toy-gpt")
    assert s["confidence"] == {"toy-gpt": {"with_confidence": 0, "mean": 1.0}}


def test_fallbacks_carry_zero_confidence(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "none.png", seed=3)
    assert cache.load_prior("toy-gpt", path, fallback="skip", with_confidence=True) == (None, None)
    prior, conf = cache.load_prior("toy-gpt", path, fallback="input", with_confidence=True)
    assert np.array_equal(prior, img) and conf.shape == (12, 16) and not conf.any()
    prior, conf = cache.load_prior_by_hash("toy-gpt", src, size=(5, 7), fallback="zeros", with_confidence=True)
    assert prior.shape == (5, 7, 3) and conf.shape == (5, 7) and not conf.any()
    with pytest.raises(PriorMissingError):
        cache.load_prior("toy-gpt", path, with_confidence=True)


def test_put_aligned_replaces_both_together(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "r.png", seed=4)
    first = put_with(cache, path, aligned=255 - img, confidence=ramp())
    old_files = {first.aligned_path, first.confidence_path}
    new_conf = ramp(lo=1.0, hi=0.0)
    e = cache.put_aligned(first.key, img, alignment={"quality": 0.9, "dense": {"version": 2}}, confidence=new_conf,
                          set_name="toy-gpt", source_sha256=src)
    prior, conf = cache.load_prior("toy-gpt", path, with_confidence=True)
    assert np.array_equal(prior, img) and np.abs(conf - new_conf).max() <= 0.5 / 255 + 1e-6
    assert not any(p.exists() for p in old_files)  # the old pair is gone, the new one has other names
    assert sidecar(e)["files"][e.confidence_path.name]["dense_version"] == 2
    assert cache.verify().ok
    # realigned without the dense step: the old confidence goes with its aligned prior
    e = cache.put_aligned(first.key, 255 - img, alignment={"quality": 0.7, "dense": None}, set_name="toy-gpt",
                          source_sha256=src)
    prior, conf = PriorCache(cache.root).load_prior("toy-gpt", path, with_confidence=True)
    assert np.array_equal(prior, 255 - img) and (conf == 1).all()
    assert e.confidence_path is None and not list(cache.root.rglob("*.confidence.png"))
    rep = cache.verify()
    assert rep.ok and not rep.orphans


def test_two_sets_over_one_input_keep_their_own_confidence(cache, tmp_path):
    cache.register_set(COPY_SET)
    path, src, img = write_input(tmp_path / "data", "two.png", seed=5)
    put_with(cache, path, aligned=255 - img, confidence=None)                      # a set without the dense step
    put_with(cache, path, aligned=img, confidence=ramp(), set_name="toy-gpt-dense")  # same key, same input
    a, ca = cache.load_prior("toy-gpt", path, with_confidence=True)
    b, cb = PriorCache(cache.root).load_prior("toy-gpt-dense", path, with_confidence=True)
    assert np.array_equal(a, 255 - img) and (ca == 1).all()
    assert np.array_equal(b, img) and np.abs(cb - ramp()).max() <= 0.5 / 255 + 1e-6
    # realigning one set leaves the other as it was
    key = GPT_SET.request_key(src)
    cache.put_aligned(key, img, confidence=np.zeros((12, 16), np.float32), set_name="toy-gpt", source_sha256=src)
    a, ca = PriorCache(cache.root).load_prior("toy-gpt", path, with_confidence=True)
    b, cb = PriorCache(cache.root).load_prior("toy-gpt-dense", path, with_confidence=True)
    assert not ca.any() and np.abs(cb - ramp()).max() <= 0.5 / 255 + 1e-6
    s = cache.stats()["confidence"]
    assert s["toy-gpt"] == {"with_confidence": 1, "mean": 0.0} and s["toy-gpt-dense"]["with_confidence"] == 1
    assert cache.verify().ok


def test_identical_pairs_are_stored_once(cache, tmp_path):
    cache.register_set(COPY_SET)
    path, src, img = write_input(tmp_path / "data", "same.png", seed=6)
    e1 = put_with(cache, path, aligned=255 - img, confidence=ramp())
    e2 = put_with(cache, path, aligned=255 - img, confidence=ramp(), set_name="toy-gpt-dense")
    assert e1.aligned_path == e2.aligned_path and e1.confidence_path == e2.confidence_path
    assert len(list(cache.root.rglob("*.confidence.png"))) == 1


@pytest.mark.parametrize("conf,match", [
    (np.ones((12, 16, 1), np.float32), r"shape \(H, W\) = \(12, 16\)"),
    (np.ones((16, 12), np.float32), r"shape \(H, W\) = \(12, 16\)"),
    (np.full((12, 16), np.nan, np.float32), "non-finite"),
    (np.full((12, 16), 1.5, np.float32), r"in \[0, 1\]"),
    (np.full((12, 16), 255, np.uint8), r"in \[0, 1\].*255"),
    ([[0.5]], "numpy array"),
])
def test_bad_confidence_is_a_clear_error(cache, tmp_path, conf, match):
    path, src, img = write_input(tmp_path / "data", "bad.png", seed=7)
    key = GPT_SET.request_key(src)
    with pytest.raises(ValueError, match=match) as e:
        put_with(cache, path, aligned=255 - img, confidence=conf)
    assert "confidence" in str(e.value) and key in str(e.value)
    assert cache.entry(key) is None
    cache.put(key, encode_png(img), meta={}, set_name="toy-gpt", source_sha256=src)
    with pytest.raises(ValueError, match=match):
        cache.put_aligned(key, img, confidence=conf)


def test_confidence_needs_an_aligned_prior(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "noal.png", seed=8)
    with pytest.raises(ValueError, match="confidence.*aligned="):
        cache.put(GPT_SET.request_key(src), encode_png(img), meta={}, confidence=ramp(), set_name="toy-gpt",
                  source_sha256=src)


@pytest.mark.parametrize("damage", ["corrupt", "missing", "other_version", "resized"])
def test_verify_flags_a_bad_confidence_file_and_quarantines_its_entry(cache, tmp_path, damage):
    paths = [write_input(tmp_path / "data", f"{i}.png", seed=10 + i)[0] for i in range(2)]
    entries = [put_with(cache, p, aligned=255 - tiny_image(10 + i), confidence=ramp()) for i, p in enumerate(paths)]
    bad = entries[1].confidence_path
    if damage == "corrupt":
        bad.write_bytes(bad.read_bytes()[:-9] + b"garbage!!")
    elif damage == "missing":
        bad.unlink()
    elif damage == "other_version":  # a valid confidence, recorded as such, that its aligned file does not name
        from gpt4o_prior.cache.image_io import encode_grey_png

        data = encode_grey_png(np.zeros((12, 16), np.uint8))
        bad.write_bytes(data)
        meta = sidecar(entries[1])
        meta["files"][bad.name].update(sha256=sha256_bytes(data), bytes=len(data))
        (bad.parent / f"{entries[1].key}.json").write_text(json.dumps(meta))
    else:
        from gpt4o_prior.cache.image_io import encode_grey_png

        data = encode_grey_png(np.zeros((6, 8), np.uint8))
        bad.write_bytes(data)
        meta = sidecar(entries[1])
        meta["files"][bad.name].update(sha256=sha256_bytes(data), bytes=len(data))
        (bad.parent / f"{entries[1].key}.json").write_text(json.dumps(meta))
    rep = cache.verify()
    assert not rep.ok and {c["key"] for c in rep.corrupt} == {entries[1].key}
    assert any(c["file"].endswith(".confidence.png") for c in rep.corrupt), rep.corrupt
    # a reader does not pair the prior with a confidence that is not its own
    assert PriorCache(cache.root).load_prior("toy-gpt", paths[1], fallback="skip", with_confidence=True) == (None,
                                                                                                           None)
    if damage != "missing":
        with pytest.raises(PriorMissingError, match="confidence"):
            PriorCache(cache.root).load_prior("toy-gpt", paths[1], with_confidence=True)
    rep = cache.verify(quarantine=True)
    assert rep.quarantined and cache.verify().ok
    assert cache.load_prior("toy-gpt", paths[1], fallback="skip") is None
    assert cache.load_prior("toy-gpt", paths[0], with_confidence=True)[1].shape == (12, 16)


@pytest.mark.parametrize("crash_on", [".confidence.png", ".aligned.png"])
def test_crash_while_realigning_leaves_the_old_pair(cache, tmp_path, monkeypatch, crash_on):
    """The confidence is written first, then the aligned prior, then the sidecar: a crash at either file write
    leaves no half-written file and the old pair in use (the new files at worst orphans, which verify reports)."""
    path, src, img = write_input(tmp_path / "data", "c.png", seed=20)
    first = put_with(cache, path, aligned=255 - img, confidence=ramp())
    before = {p: p.read_bytes() for p in first.raw_path.parent.iterdir()}
    real_replace = os.replace

    def crash(a, b):
        if str(b).endswith(crash_on):
            raise OSError("simulated crash")
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        cache.put_aligned(first.key, img, confidence=ramp(lo=1.0, hi=0.0), set_name="toy-gpt", source_sha256=src)
    monkeypatch.setattr(os, "replace", real_replace)
    shard = first.raw_path.parent
    assert not [p for p in shard.iterdir() if p.name.endswith(".tmp")]  # no half-written file anywhere
    for p, data in before.items():
        assert p.read_bytes() == data  # the committed files are untouched
    prior, conf = PriorCache(cache.root).load_prior("toy-gpt", path, with_confidence=True)
    assert np.array_equal(prior, 255 - img) and np.abs(conf - ramp()).max() <= 0.5 / 255 + 1e-6
    rep = cache.verify()
    assert not rep.corrupt and (rep.orphans if crash_on == ".aligned.png" else not rep.orphans)
    cache.verify(quarantine=True)
    assert cache.verify().ok
    # the next re-alignment goes through
    cache.put_aligned(first.key, img, confidence=ramp(lo=1.0, hi=0.0), set_name="toy-gpt", source_sha256=src)
    prior, conf = PriorCache(cache.root).load_prior("toy-gpt", path, with_confidence=True)
    assert np.array_equal(prior, img) and conf[0, 0] == 1.0 and cache.verify().ok


def test_readers_never_pair_a_prior_with_another_versions_confidence(cache, tmp_path):
    """One thread re-aligns back and forth between two pairs; readers in other threads always get a matching pair."""
    path, src, img = write_input(tmp_path / "data", "race.png", seed=30)
    pairs = [(255 - img, np.zeros((12, 16), np.float32)), (img, np.ones((12, 16), np.float32))]
    first = put_with(cache, path, aligned=pairs[0][0], confidence=pairs[0][1])
    stop = threading.Event()
    bad, reads = [], [0]

    def writer():
        writer_cache = PriorCache(cache.root)
        for i in range(40):
            a, c = pairs[(i + 1) % 2]
            writer_cache.put_aligned(first.key, a, confidence=c, set_name="toy-gpt", source_sha256=src)
        stop.set()

    def reader():
        rc = PriorCache(cache.root)
        while not stop.is_set():
            prior, conf = rc.load_prior("toy-gpt", path, with_confidence=True)
            which = 0 if np.array_equal(prior, pairs[0][0]) else 1
            if not np.array_equal(conf, pairs[which][1]):
                bad.append(which)
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not bad and reads[0] > 0
    assert cache.verify().ok
