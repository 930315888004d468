"""gpt4o_prior.cache.verify: corrupt files are found and quarantined, stale claims reported and cleared."""
import json

from tests.helpers.cache import GPT_SET, fake_generate, write_input


def test_verify_finds_and_quarantines_corrupt_files(cache, tmp_path):
    paths = [write_input(tmp_path / "data", f"{i}.png", seed=60 + i)[0] for i in range(3)]
    entries = [fake_generate(cache, GPT_SET, p) for p in paths]
    assert cache.verify().ok
    bad = entries[1].aligned_path
    bad.write_bytes(bad.read_bytes()[:-7] + b"garbage")
    (cache.root / "objects" / "zz").mkdir()
    (cache.root / "objects" / "zz" / "stray.png").write_bytes(b"x")
    rep = cache.verify()
    assert not rep.ok and rep.corrupt[0]["key"] == entries[1].key and "sha256" in rep.corrupt[0]["problem"]
    assert rep.orphans == ["objects/zz/stray.png"]
    rep = cache.verify(quarantine=True)
    assert len(rep.quarantined) >= 4 and cache.verify().ok
    assert cache.entry(entries[1].key) is None
    assert cache.load_prior("toy-gpt", paths[1], fallback="skip") is None
    assert cache.load_prior("toy-gpt", paths[0]) is not None


def test_verify_reports_stale_claims_and_clear_removes_them(cache):
    import socket
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    (cache.root / "claims").mkdir(exist_ok=True)
    (cache.root / "claims" / f"{'d' * 64}.claim").write_text(
        json.dumps({"pid": p.pid, "host": socket.gethostname(), "time": 0}))
    assert cache.verify().stale_claims == [f"claims/{'d' * 64}.claim"]
    assert cache.clear_stale_claims() == [f"claims/{'d' * 64}.claim"]
    assert not list((cache.root / "claims").glob("*.claim"))
