"""The `gpt4o-prior` command, run as a subprocess against the fake OpenAI server."""
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_openai import FakeOpenAI  # noqa: E402

from gpt4o_prior.cache import PriorCache, sha256_bytes  # noqa: E402
from gpt4o_prior.dense_align import DENSE_VERSION  # noqa: E402

API_KEY = "sk-test-CLI-SECRET-9876543210fedcba"
MODEL = "fake-image-model"
PRICES = {MODEL: {"text_input": 5.0, "image_input": 8.0, "image_output": 30.0}}


@pytest.fixture
def server():
    with FakeOpenAI(api_key=API_KEY) as s:
        yield s


@pytest.fixture
def env(server):
    return server.client_env()


def _inputs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = folder / f"in_{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def _cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "gpt4o_prior", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[1])


def _gen(tmp_path, inputs_dir, *extra, env, set_name="s"):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    return _cli("generate", inputs_dir, "--cache", tmp_path / "cache", "--set", set_name, "--task", "dehaze",
                "--model", MODEL, "--size", "64x64", "--quality", "low", "--backoff", "0.01", "--no-progress",
                "--price-table", prices, *extra, env=env)


def test_help_of_every_verb_has_examples():
    for verb in (["generate"], ["batch"], ["batch", "submit"], ["import"], ["align"], ["verify"], ["stats"],
                 ["demo"], ["restore"]):
        r = _cli(*verb, "--help")
        assert r.returncode == 0 and "examples:" in r.stdout, verb
    assert _cli("--help").returncode == 0


def test_generate_requires_a_model(tmp_path):
    _inputs(tmp_path / "in", 1)
    r = _cli("generate", tmp_path / "in", "--cache", tmp_path / "c", "--set", "s", "--task", "dehaze")
    assert r.returncode == 2 and "--model is required" in r.stderr


def test_dry_run_sends_nothing(tmp_path, server, env):
    _inputs(tmp_path / "in", 3)
    r = _gen(tmp_path, tmp_path / "in", "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    assert "3 of 3 inputs would be sent" in r.stdout and "estimated cost $" in r.stdout
    assert f"model: {MODEL}" in r.stderr and server.requests == []


def test_generate_then_resume_costs_nothing(tmp_path, server, env):
    inputs = _inputs(tmp_path / "in", 5)
    server.script = ["429", "500"]
    r = _gen(tmp_path, tmp_path / "in", "--concurrency", "3", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "done 5, cached 0, refused 0, failed 0" in r.stdout and "cost $" in r.stdout
    assert server.paid() == 5
    r2 = _gen(tmp_path, tmp_path / "in", env=env)
    assert r2.returncode == 0 and "done 0, cached 5" in r2.stdout and server.paid() == 5
    assert PriorCache(tmp_path / "cache").load_prior("s", inputs[0]).shape == (20, 28, 3)
    for verb in (["verify"], ["stats"], ["stats", "--inputs", tmp_path / "in", "--set", "s"]):
        rv = _cli(*verb, "--cache", tmp_path / "cache")
        assert rv.returncode == 0, (verb, rv.stdout, rv.stderr)
    stats = json.loads(_cli("stats", "--cache", tmp_path / "cache", "--inputs", tmp_path / "in", "--set", "s").stdout)
    assert stats["found"] == 5 and stats["cost_usd"] > 0
    ra = _cli("align", "--cache", tmp_path / "cache", "--set", "s", "--inputs", tmp_path / "in", "--force")
    assert ra.returncode == 0 and "aligned 5" in ra.stdout, ra.stdout + ra.stderr


def test_refusal_and_budget_give_exit_1_with_reasons(tmp_path, server, env):
    _inputs(tmp_path / "in", 4)
    server.script = ["moderation"]
    r = _gen(tmp_path, tmp_path / "in", "--concurrency", "1", env=env)
    assert r.returncode == 1 and "refused 1" in r.stdout
    # the first request sent is refused (inputs are prepared two at a time, so it need not be in_000's)
    assert re.search(r"no prior: in_00\d\.png: refused: moderation_blocked", r.stdout), r.stdout
    _inputs(tmp_path / "in2", 4, seed=1)
    r = _gen(tmp_path, tmp_path / "in2", "--max-cost", "0.000001", env=env, set_name="t")
    assert r.returncode == 1 and "over budget 4" in r.stdout and "max-cost" in r.stdout


def test_wrong_key_is_never_printed_or_stored(tmp_path, server, env):
    _inputs(tmp_path / "in", 2)
    bad = dict(env, OPENAI_API_KEY="sk-wrong-LEAK-CHECK-123456789")
    r = _gen(tmp_path, tmp_path / "in", "--attempts", "1", env=bad)
    assert r.returncode == 1 and "AuthenticationError" in r.stdout
    for text in (r.stdout, r.stderr):
        assert "LEAK-CHECK" not in text and API_KEY not in text
    server.script = ["500", "moderation"]
    r = _gen(tmp_path, tmp_path / "in", env=env)
    for text in (r.stdout, r.stderr):
        assert API_KEY not in text
    for p in (tmp_path / "cache").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert API_KEY.encode() not in data and b"LEAK-CHECK" not in data, p


def test_kill_9_and_resume_never_pays_twice(tmp_path, server, env):
    inputs = _inputs(tmp_path / "in", 24)
    server.latency = 0.25
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    args = [sys.executable, "-m", "gpt4o_prior", "generate", str(tmp_path / "in"), "--cache", str(tmp_path / "cache"),
            "--set", "s", "--task", "dehaze", "--model", MODEL, "--size", "64x64", "--concurrency", "4",
            "--no-progress", "--price-table", str(prices)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while server.paid() < 6 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t_kill = time.time()
    paid_before = server.paid()
    assert 6 <= paid_before < 24
    server.latency = 0.0
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    cache = PriorCache(tmp_path / "cache")
    assert all(cache.find("s", sha256_bytes(p.read_bytes())).status == "ok" for p in inputs)
    # a key may be paid twice only if its first answer was still on the wire when the process was killed
    for sha, n in server.paid_per_input().items():
        if n > 1:
            first = min(r.t_end for r in server.edits() if r.image_sha256 == sha and r.status == 200)
            assert first > t_kill - 0.3, f"{sha} paid {n} times"
    assert server.paid() <= 24 + 4


def test_offline_generate_and_import(tmp_path):
    inputs = _inputs(tmp_path / "in", 3)
    r = _cli("generate", tmp_path / "in", "--cache", tmp_path / "cache", "--set", "c", "--task", "dehaze",
             "--provider", "classical", "--no-progress")
    assert r.returncode == 0 and "done 3" in r.stdout, r.stdout + r.stderr
    assert PriorCache(tmp_path / "cache").load_prior("c", inputs[1]).shape == (20, 28, 3)
    priors = tmp_path / "released"
    priors.mkdir()
    for p in inputs[:2]:
        Image.open(p).resize((56, 40)).save(priors / f"{p.stem}_gpt.png")
    r = _cli("import", priors, "--inputs", tmp_path / "in", "--cache", tmp_path / "cache", "--set", "rel",
             "--template", "{stem}_gpt", "--no-progress")
    assert r.returncode == 1 and "in_002" in r.stdout, r.stdout + r.stderr      # one input has no released prior


def test_simulated_priors_are_registered_unless_told_not_to(tmp_path):
    """--provider simulated registers each simulation to its input, as API answers are; --no-register keeps it raw."""
    from gpt4o_prior.data import bundled_images, degrade, read_rgb, write_png

    (tmp_path / "in").mkdir()
    (tmp_path / "gt").mkdir()
    for i, src in enumerate(bundled_images("val")[:2]):
        clean = read_rgb(src)[:64, :64]
        write_png(tmp_path / "gt" / f"im{i}.png", clean)
        write_png(tmp_path / "in" / f"im{i}.png", degrade(clean, "dehaze", seed=i))
    cache = tmp_path / "cache"
    for set_name, extra in (("reg", ()), ("raw", ("--no-register",))):
        r = _cli("generate", tmp_path / "in", "--cache", cache, "--set", set_name, "--provider", "simulated",
                 "--targets", tmp_path / "gt", "--no-progress", *extra)
        assert r.returncode == 0 and "done 2" in r.stdout, r.stdout + r.stderr
    pc = PriorCache(cache)
    src = sha256_bytes((tmp_path / "in" / "im0.png").read_bytes())
    assert "alignment" in pc.find("reg", src).meta["record"]
    assert "alignment" not in pc.find("raw", src).meta["record"]


def test_batch_verbs(tmp_path, server, env):
    _inputs(tmp_path / "in", 3)
    base = ["--cache", tmp_path / "cache", "--job", "j"]
    r = _cli("batch", "submit", tmp_path / "in", *base, "--set", "b", "--task", "derain", "--model", MODEL,
             "--size", "64x64", env=env)
    assert r.returncode == 0 and "3 requests" in r.stdout, r.stdout + r.stderr
    batch_id = re.search(r"(batch_\w+)", r.stdout).group(1)
    assert _cli("batch", "status", *base, env=env).returncode == 0
    (tmp_path / "cache" / "batches" / "j.json").unlink()           # the job file is lost: the batch id is enough
    r = _cli("batch", "collect", "--cache", tmp_path / "cache", "--batch", batch_id, "--inputs", tmp_path / "in",
             "--wait", "--poll", "0.05", env=env)
    assert r.returncode == 0 and "stored 3" in r.stdout and "rebuilt from the API" in r.stderr, r.stdout + r.stderr


def test_two_runs_on_the_same_inputs_share_the_work(tmp_path, server, env):
    """A second `generate` started while the first is sending waits for the first's claims instead of reporting
    them busy: both end with every prior, and each input is paid once."""
    _inputs(tmp_path / "in", 8)
    server.latency = 1.0
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    args = [sys.executable, "-m", "gpt4o_prior", "generate", str(tmp_path / "in"), "--cache", str(tmp_path / "cache"),
            "--set", "s", "--task", "dehaze", "--model", MODEL, "--size", "64x64", "--no-progress",
            "--price-table", str(prices)]
    first = subprocess.Popen(args + ["--concurrency", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 60
    while not server.edits() and time.time() < deadline:
        time.sleep(0.02)
    second = subprocess.run(args + ["--concurrency", "8"], env=env, capture_output=True, text=True, timeout=120)
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, out1 + err1
    assert second.returncode == 0 and "busy 0" in second.stdout, second.stdout + second.stderr
    assert server.paid() == 8 and max(server.paid_per_input().values()) == 1
    done = [int(re.search(r"done (\d+), cached (\d+)", out).group(1)) for out in (out1, second.stdout)]
    assert sum(done) == 8, (out1, second.stdout)      # each input sent by one run; the other waited or found it


def test_generate_and_align_write_the_confidence_and_no_dense_keeps_the_old_behaviour(tmp_path, server, env):
    inputs = _inputs(tmp_path / "in", 2)
    r = _gen(tmp_path, tmp_path / "in", "--no-dense", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    pc = PriorCache(tmp_path / "cache")
    src = sha256_bytes(inputs[0].read_bytes())
    assert pc.find("s", src).confidence_path is None
    assert (pc.load_prior("s", inputs[0], with_confidence=True)[1] == 1).all()
    ra = _cli("align", "--cache", tmp_path / "cache", "--set", "s", "--inputs", tmp_path / "in", "--force")
    assert ra.returncode == 0 and "aligned 2" in ra.stdout and "mean confidence" in ra.stdout, ra.stdout + ra.stderr
    pc = PriorCache(tmp_path / "cache")
    e = pc.find("s", src)
    assert e.confidence_path is not None and e.meta["sources"][0]["alignment"]["dense"]["version"] == DENSE_VERSION
    prior, conf = pc.load_prior("s", inputs[0], with_confidence=True)
    assert prior.shape == (20, 28, 3) and conf.shape == (20, 28)
    ra = _cli("align", "--cache", tmp_path / "cache", "--set", "s", "--inputs", tmp_path / "in", "--force",
              "--no-dense")
    assert ra.returncode == 0 and "mean confidence" not in ra.stdout, ra.stdout + ra.stderr
    pc = PriorCache(tmp_path / "cache")
    assert pc.find("s", src).confidence_path is None and not list((tmp_path / "cache").rglob("*.confidence.png"))
    r = _gen(tmp_path, tmp_path / "in", env=env, set_name="s-dense")  # same requests, linked: nothing paid again
    assert r.returncode == 0 and server.paid() == 2, r.stdout + r.stderr
    assert PriorCache(tmp_path / "cache").find("s-dense", src).confidence_path is not None
    assert _cli("verify", "--cache", tmp_path / "cache").returncode == 0
    stats = json.loads(_cli("stats", "--cache", tmp_path / "cache").stdout)
    assert stats["confidence"]["s-dense"]["with_confidence"] == 2 and stats["confidence"]["s"]["mean"] == 1.0


def test_import_and_simulated_generate_store_the_confidence(tmp_path):
    from gpt4o_prior.data import bundled_images, degrade, read_rgb, write_png
    from gpt4o_prior.providers.simulated import SimulatedProvider

    (tmp_path / "in").mkdir()
    (tmp_path / "gt").mkdir()
    (tmp_path / "rel").mkdir()
    for i, src in enumerate(bundled_images("val")[:2]):
        clean = read_rgb(src)[:64, :64]
        write_png(tmp_path / "gt" / f"im{i}.png", clean)
        write_png(tmp_path / "in" / f"im{i}.png", degrade(clean, "dehaze", seed=i))
        Image.fromarray(clean).resize((96, 96)).save(tmp_path / "rel" / f"im{i}.png")
    cache = tmp_path / "cache"
    for set_name, extra in (("rel", ()), ("rel-flat", ("--no-dense",))):
        r = _cli("import", tmp_path / "rel", "--inputs", tmp_path / "in", "--cache", cache, "--set", set_name,
                 "--no-progress", *extra)
        assert r.returncode == 0, r.stdout + r.stderr
    for set_name, extra in (("sim", ()), ("sim-flat", ("--no-dense",))):
        r = _cli("generate", tmp_path / "in", "--cache", cache, "--set", set_name, "--provider", "simulated",
                 "--targets", tmp_path / "gt", "--no-progress", *extra)
        assert r.returncode == 0 and "done 2" in r.stdout, r.stdout + r.stderr
    pc = PriorCache(cache)
    src = sha256_bytes((tmp_path / "in" / "im0.png").read_bytes())
    assert pc.find("rel", src).confidence_path is not None and pc.find("rel-flat", src).confidence_path is None
    sim, flat = pc.find("sim", src), pc.find("sim-flat", src)
    assert sim.confidence_path is not None and flat.confidence_path is None
    # the simulated key encodes the alignment: the dense version only when the dense step runs
    assert pc.get_set("sim").params["register"] == f"align_prior(affine)+dense(v{DENSE_VERSION})"
    assert pc.get_set("sim-flat").params["register"] == "align_prior(affine)"
    assert flat.meta["params"]["register"] == "align_prior(affine)" and sim.key != flat.key
    assert SimulatedProvider(register=True).params()["register"].endswith(f"+dense(v{DENSE_VERSION})")
    prior, conf = pc.load_prior("sim", tmp_path / "in" / "im0.png", with_confidence=True)
    assert prior.shape == (64, 64, 3) and conf.shape == (64, 64)
    assert pc.verify().ok
