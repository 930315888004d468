"""Claims: exclusive, released only by their owner, stale ones (dead owner, too old) taken over exactly once."""
import json
import socket
import subprocess
import sys
import time

from gpt4o_prior.cache import Claim

KEY = "c" * 64


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _write_claim(folder, **info):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{KEY}.claim").write_text(json.dumps(info))


def test_exclusive_and_released(tmp_path):
    a, b = Claim(tmp_path, KEY), Claim(tmp_path, KEY)
    assert a.acquire() and not b.acquire()
    info = json.loads((tmp_path / f"{KEY}.claim").read_text())
    assert {"pid", "host", "time"} <= set(info)
    b.release()  # not held: must not remove a's claim
    assert (tmp_path / f"{KEY}.claim").exists()
    a.release()
    assert not (tmp_path / f"{KEY}.claim").exists() and b.acquire()
    b.release()


def test_claim_of_a_dead_local_owner_is_taken_over(tmp_path):
    _write_claim(tmp_path, pid=_dead_pid(), host=socket.gethostname(), time=time.time(), token="old")
    c = Claim(tmp_path, KEY)
    assert c.acquire() and c.took_over["token"] == "old"
    c.release()


def test_live_remote_claim_is_respected_until_stale(tmp_path):
    _write_claim(tmp_path, pid=1, host="another-host", time=time.time(), token="remote")
    assert not Claim(tmp_path, KEY, stale_after=60).acquire()
    _write_claim(tmp_path, pid=1, host="another-host", time=time.time() - 120, token="remote")
    c = Claim(tmp_path, KEY, stale_after=60)
    assert c.acquire()
    assert not Claim(tmp_path, KEY, stale_after=60).acquire()  # the new claim is fresh
    c.release()


def test_unreadable_claim_is_judged_by_its_age(tmp_path):
    (tmp_path / f"{KEY}.claim").write_text("{half")
    assert not Claim(tmp_path, KEY, stale_after=60).acquire()
    assert Claim(tmp_path, KEY, stale_after=0).acquire()


def test_taken_over_claim_is_not_released_by_its_old_owner(tmp_path):
    slow = Claim(tmp_path, KEY, stale_after=0)
    assert slow.acquire()
    time.sleep(0.01)
    thief = Claim(tmp_path, KEY, stale_after=0)
    assert thief.acquire()
    slow.release()
    assert json.loads((tmp_path / f"{KEY}.claim").read_text())["token"] == thief.token
    thief.release()


def test_stale_claim_is_taken_over_by_exactly_one_of_many(tmp_path):
    _write_claim(tmp_path / "claims", pid=_dead_pid(), host=socket.gethostname(), time=time.time(), token="old")
    script = (
        "import sys, time, pathlib; from gpt4o_prior.cache import Claim\n"
        "root, i, n = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])\n"
        "(root / f'ready-{i}').touch()\n"
        "t = time.time() + 60\n"
        "while len(list(root.glob('ready-*'))) < n and time.time() < t: time.sleep(0.01)\n"
        f"c = Claim(root / 'claims', {KEY!r})\n"
        "(root / f'result-{i}').write_text(str(int(c.acquire())))\n"
        "while len(list(root.glob('result-*'))) < n and time.time() < t: time.sleep(0.01)\n"  # all stay alive
    )
    n = 6
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(i), str(n)]) for i in range(n)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    got = [int((tmp_path / f"result-{i}").read_text()) for i in range(n)]
    assert sum(got) == 1, got
