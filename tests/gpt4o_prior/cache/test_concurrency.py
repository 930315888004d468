"""8 processes share one cache: overlapping keys are paid for once, readers never see half a file, verify is clean."""
import json
import subprocess
import sys

import numpy as np
from tests.helpers.cache import GPT_SET, write_input

from gpt4o_prior.cache import PriorCache, PriorSet

CLASSICAL = PriorSet(name="toy-classical", provider="invert", label="classical")

WORKER = r'''
import json, random, sys, time, pathlib
import numpy as np
from gpt4o_prior.cache import PriorCache, sha256_bytes
from gpt4o_prior.cache.image_io import decode_rgb, encode_png

root, inputs, wid = pathlib.Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
cache = PriorCache(root / "cache")
sets = {s.name: s for s in cache.list_sets()}
rng = random.Random(wid)
jobs = [(s, p) for s in sorted(sets) for p in inputs]
rng.shuffle(jobs)
paid, reads = [], 0
(root / f"ready-{wid}").touch()
deadline = time.time() + 120
while len(list(root.glob("ready-*"))) < 8 and time.time() < deadline:
    time.sleep(0.005)
for n, (set_name, path) in enumerate(jobs):
    if wid == 0 and n == len(jobs) // 2:
        cache.rebuild_manifest()  # a rebuild while the others append
    data = pathlib.Path(path).read_bytes()
    img = decode_rgb(data)
    src = sha256_bytes(data)
    key = sets[set_name].request_key(src)
    while time.time() < deadline:
        prior = cache.load_prior(set_name, path, fallback="skip")
        if prior is not None:
            assert np.array_equal(prior, 255 - img), (set_name, path)
            reads += 1
            break
        with cache.claim(key) as claimed:
            if claimed and cache.entry(key) is None:
                paid.append(key)
                time.sleep(0.01)  # the paid request
                if set_name == "toy-gpt":
                    raw = encode_png(np.zeros((24, 24, 3), np.uint8))
                    cache.put(key, raw, meta={"provider": "openai-images", "cost_usd": 0.01, "worker": wid},
                              aligned=255 - img, set_name=set_name, source_sha256=src, source_name=path)
                else:
                    cache.put(key, encode_png(255 - img), meta={"provider": "invert", "worker": wid},
                              set_name=set_name, source_sha256=src, source_name=path)
        time.sleep(0.002)
    else:
        raise SystemExit(f"worker {wid}: timed out on {path}")
(root / f"paid-{wid}.json").write_text(json.dumps({"paid": paid, "reads": reads}))
'''


def test_eight_processes_share_one_cache(tmp_path):
    cache = PriorCache(tmp_path / "cache")
    cache.register_set(GPT_SET)
    cache.register_set(CLASSICAL)
    inputs = [str(write_input(tmp_path / "data", f"{i:03d}.png", seed=100 + i)[0]) for i in range(10)]
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), json.dumps(inputs), str(w)],
                              stderr=subprocess.PIPE, text=True) for w in range(8)]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(errors)
    logs = [json.loads((tmp_path / f"paid-{w}.json").read_text()) for w in range(8)]
    paid = [k for log in logs for k in log["paid"]]
    assert len(paid) == len(set(paid)) == 20, "a key was paid for twice (or never)"
    assert sum(log["reads"] for log in logs) == 8 * 20
    report = cache.verify()
    assert report.ok, report.to_dict()
    assert report.entries == 20 and not report.stale_claims
    assert not list((cache.root / "claims").glob("*.claim"))
    s = cache.stats()
    assert s["by_set"] == {"toy-gpt": {"ok": 10, "refused": 0}, "toy-classical": {"ok": 10, "refused": 0}}
    assert s["cost_usd"] == 0.1
    fresh = PriorCache(cache.root)
    for p in inputs:
        assert fresh.load_prior("toy-gpt", p).shape == (12, 16, 3)
        assert np.array_equal(fresh.load_prior("toy-gpt", p), fresh.load_prior("toy-classical", p))


KILLED = r'''
import sys, pathlib
import numpy as np
from gpt4o_prior.cache import PriorCache, PriorSet, sha256_bytes
from gpt4o_prior.cache.image_io import encode_png

cache = PriorCache(sys.argv[1])
pset = cache.get_set("toy-gpt")
rng = np.random.default_rng(0)
for i in range(100000):
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    src = sha256_bytes(img.tobytes())
    key = pset.request_key(src)
    with cache.claim(key) as claimed:
        cache.put(key, encode_png(img), meta={"i": i}, aligned=255 - img, set_name="toy-gpt", source_sha256=src)
    if i == 0:
        pathlib.Path(sys.argv[2]).touch()
'''


def test_a_writer_killed_at_any_moment_leaves_no_corrupt_entry(tmp_path):
    import signal
    import time

    cache = PriorCache(tmp_path / "cache")
    cache.register_set(GPT_SET)
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    started = tmp_path / "started"
    p = subprocess.Popen([sys.executable, str(script), str(cache.root), str(started)])
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    report = cache.verify(tmp_grace_s=0)
    assert report.entries >= 1 and not report.corrupt, report.to_dict()
    assert all(o.endswith((".tmp", ".png")) for o in report.orphans), report.orphans  # uncommitted writes only
    assert len(report.unindexed) <= 1  # killed between the sidecar and the manifest line at most once
    assert len(cache.clear_stale_claims()) <= 1  # the dead owner's claim, if it died holding one
    cache.verify(quarantine=True, tmp_grace_s=0)
    after = cache.verify(tmp_grace_s=0)
    assert after.ok, after.to_dict()
    for e in cache.iter_entries():  # every committed entry reads back
        assert e.load().shape == (64, 64, 3)


def test_a_link_committed_during_a_rebuild_is_not_lost(tmp_path, monkeypatch):
    """A writer that commits after the rebuild scanned the sidecars keeps its manifest line (it waits for the lock)."""
    import threading
    import time

    from tests.helpers.cache import fake_generate

    cache = PriorCache(tmp_path / "cache")
    cache.register_set(GPT_SET)
    first, _, _ = write_input(tmp_path / "data", "a.png", seed=1)
    late, _, _ = write_input(tmp_path / "data", "b.png", seed=2)
    fake_generate(cache, GPT_SET, first)
    writer = PriorCache(cache.root)  # another handle, as in another process (its own lock descriptors)
    scan = PriorCache._all_records
    done = threading.Event()

    def slow_scan(self):
        records = scan(self)
        threading.Thread(target=lambda: (fake_generate(writer, GPT_SET, late), done.set())).start()
        time.sleep(0.3)  # the writer commits its sidecar now; its manifest line must not land in the old file
        return records

    monkeypatch.setattr(PriorCache, "_all_records", slow_scan)
    assert cache.rebuild_manifest() == 1
    monkeypatch.setattr(PriorCache, "_all_records", scan)
    assert done.wait(10)
    report = cache.verify()
    assert report.ok and report.entries == 2, report.to_dict()
    assert PriorCache(cache.root).load_prior("toy-gpt", late) is not None
