"""gpt4o_prior.cache.manifest: the manifest is a rebuildable index (lost, corrupt, lagging a crash, read incrementally)
and its paths cannot leave the root."""
import json

import numpy as np
import pytest
from tests.helpers.cache import GPT_SET, fake_generate, tiny_image, write_input

from gpt4o_prior.cache import PriorCache
from gpt4o_prior.cache.image_io import encode_png


def test_missing_or_corrupt_manifest_costs_no_prior(cache, tmp_path):
    inputs = [write_input(tmp_path / "data", f"{i}.png", seed=20 + i) for i in range(3)]
    for p, _, _ in inputs:
        fake_generate(cache, GPT_SET, p)
    cache.manifest_path.unlink()
    fresh = PriorCache(cache.root)
    assert all(np.array_equal(fresh.load_prior("toy-gpt", p), 255 - img) for p, _, img in inputs)
    assert cache.manifest_path.exists()  # rebuilt by the first reader
    cache.manifest_path.write_bytes(b'{"set": "toy-gpt", "src": \x00garbage\n{not json\n')
    fresh = PriorCache(cache.root)
    assert all(np.array_equal(fresh.load_prior("toy-gpt", p), 255 - img) for p, _, img in inputs)
    rep = fresh.verify()
    assert rep.manifest_bad_lines == 2 and len(rep.unindexed) == 3 and not rep.ok
    assert fresh.rebuild_manifest() == 3
    assert fresh.verify().ok


def test_manifest_lagging_a_crash_after_the_sidecar_is_healed(cache, tmp_path):
    p0, _, _ = write_input(tmp_path / "data", "0.png", seed=30)
    fake_generate(cache, GPT_SET, p0)
    reader = PriorCache(cache.root)
    reader.load_prior("toy-gpt", p0)  # the reader has read the manifest
    p1, _, img1 = write_input(tmp_path / "data", "1.png", seed=31)
    before = cache.manifest_path.read_bytes()
    fake_generate(cache, GPT_SET, p1)
    cache.manifest_path.write_bytes(before)  # as if the process died between sidecar and manifest append
    assert np.array_equal(PriorCache(cache.root).load_prior("toy-gpt", p1), 255 - img1)
    assert len(cache.verify().unindexed) == 1


def test_reader_sees_new_entries_incrementally(cache, tmp_path):
    reader = PriorCache(cache.root)
    p0, _, _ = write_input(tmp_path / "data", "0.png", seed=40)
    assert reader.load_prior("toy-gpt", p0, fallback="skip") is None
    fake_generate(cache, GPT_SET, p0)
    assert reader.load_prior("toy-gpt", p0) is not None


def test_paths_from_the_manifest_or_sidecars_cannot_leave_the_root(cache, tmp_path):
    path, src, img = write_input(tmp_path / "data", "e.png", seed=130)
    secret = tmp_path / "outside.png"
    secret.write_bytes(encode_png(tiny_image(131)))
    key = "e" * 64
    line = {"set": "toy-gpt", "src": src, "key": key, "status": "ok", "file": "../outside.png", "h": 12, "w": 16}
    cache.manifest_path.write_text(json.dumps(line) + "\n")
    assert cache.load_prior("toy-gpt", path, fallback="skip") is None
    entry = fake_generate(cache, GPT_SET, path)
    meta = entry.meta
    meta["files"]["../../outside.png"] = {"role": "aligned", "sha256": "0" * 64}
    meta["sources"][0]["file"] = "../../outside.png"
    (entry.raw_path.parent / f"{entry.key}.json").write_text(json.dumps(meta))
    fresh = PriorCache(cache.root)
    fresh.rebuild_manifest()
    with pytest.raises(ValueError, match="without alignment"):  # only the 32x32 raw output is left, never outside
        fresh.load_prior("toy-gpt", path)
    assert any(c["problem"] == "file name outside the entry" for c in fresh.verify().corrupt)
