"""gpt4o_prior.cli.generate (and the align, verify and stats verbs it feeds): the command run as a subprocess against
the fake OpenAI server: dry run, resume, refusals and budget, keys never printed, kill -9, offline providers, two
runs sharing the work, confidence maps."""
import json
import re
import signal
import subprocess
import sys
import time

from PIL import Image

from gpt4o_prior.cache import PriorCache, sha256_bytes
from gpt4o_prior.dense_align import DENSE_VERSION
from tests.helpers.cli import API_KEY, MODEL, PRICES, generate_fake, run_cli, write_inputs


def test_generate_requires_a_model(tmp_path):
    write_inputs(tmp_path / "in", 1)
    r = run_cli("generate", tmp_path / "in", "--cache", tmp_path / "c", "--set", "s", "--task", "dehaze")
    assert r.returncode == 2 and "--model is required" in r.stderr


def test_dry_run_sends_nothing(tmp_path, server, env):
    write_inputs(tmp_path / "in", 3)
    r = generate_fake(tmp_path, tmp_path / "in", "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    assert "3 of 3 inputs would be sent" in r.stdout and "estimated cost $" in r.stdout
    assert f"model: {MODEL}" in r.stderr and server.requests == []


def test_generate_then_resume_costs_nothing(tmp_path, server, env):
    inputs = write_inputs(tmp_path / "in", 5)
    server.script = ["429", "500"]
    r = generate_fake(tmp_path, tmp_path / "in", "--concurrency", "3", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "done 5, cached 0, refused 0, failed 0" in r.stdout and "cost $" in r.stdout
    assert server.paid() == 5
    r2 = generate_fake(tmp_path, tmp_path / "in", env=env)
    assert r2.returncode == 0 and "done 0, cached 5" in r2.stdout and server.paid() == 5
    assert PriorCache(tmp_path / "cache").load_prior("s", inputs[0]).shape == (20, 28, 3)
    for verb in (["verify"], ["stats"], ["stats", "--inputs", tmp_path / "in", "--set", "s"]):
        rv = run_cli(*verb, "--cache", tmp_path / "cache")
        assert rv.returncode == 0, (verb, rv.stdout, rv.stderr)
    stats = json.loads(run_cli("stats", "--cache", tmp_path / "cache", "--inputs", tmp_path / "in",
                               "--set", "s").stdout)
    assert stats["found"] == 5 and stats["cost_usd"] > 0
    ra = run_cli("align", "--cache", tmp_path / "cache", "--set", "s", "--inputs", tmp_path / "in", "--force")
    assert ra.returncode == 0 and "aligned 5" in ra.stdout, ra.stdout + ra.stderr


def test_refusal_and_budget_give_exit_1_with_reasons(tmp_path, server, env):
    write_inputs(tmp_path / "in", 4)
    server.script = ["moderation"]
    r = generate_fake(tmp_path, tmp_path / "in", "--concurrency", "1", env=env)
    assert r.returncode == 1 and "refused 1" in r.stdout
    # the first request sent is refused (inputs are prepared two at a time, so it need not be in_000's)
    assert re.search(r"no prior: in_00\d\.png: refused: moderation_blocked", r.stdout), r.stdout
    write_inputs(tmp_path / "in2", 4, seed=1)
    r = generate_fake(tmp_path, tmp_path / "in2", "--max-cost", "0.000001", env=env, set_name="t")
    assert r.returncode == 1 and "over budget 4" in r.stdout and "max-cost" in r.stdout


def test_wrong_key_is_never_printed_or_stored(tmp_path, server, env):
    write_inputs(tmp_path / "in", 2)
    bad = dict(env, OPENAI_API_KEY="sk-wrong-LEAK-CHECK-123456789")
    r = generate_fake(tmp_path, tmp_path / "in", "--attempts", "1", env=bad)
    assert r.returncode == 1 and "AuthenticationError" in r.stdout
    for text in (r.stdout, r.stderr):
        assert "LEAK-CHECK" not in text and API_KEY not in text
    server.script = ["500", "moderation"]
    r = generate_fake(tmp_path, tmp_path / "in", env=env)
    for text in (r.stdout, r.stderr):
        assert API_KEY not in text
    for p in (tmp_path / "cache").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert API_KEY.encode() not in data and b"LEAK-CHECK" not in data, p


def test_kill_9_and_resume_never_pays_twice(tmp_path, server, env):
    inputs = write_inputs(tmp_path / "in", 24)
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
    inputs = write_inputs(tmp_path / "in", 3)
    r = run_cli("generate", tmp_path / "in", "--cache", tmp_path / "cache", "--set", "c", "--task", "dehaze",
             "--provider", "classical", "--no-progress")
    assert r.returncode == 0 and "done 3" in r.stdout, r.stdout + r.stderr
    assert PriorCache(tmp_path / "cache").load_prior("c", inputs[1]).shape == (20, 28, 3)
    priors = tmp_path / "released"
    priors.mkdir()
    for p in inputs[:2]:
        Image.open(p).resize((56, 40)).save(priors / f"{p.stem}_gpt.png")
    r = run_cli("import", priors, "--inputs", tmp_path / "in", "--cache", tmp_path / "cache", "--set", "rel",
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
        r = run_cli("generate", tmp_path / "in", "--cache", cache, "--set", set_name, "--provider", "simulated",
                 "--targets", tmp_path / "gt", "--no-progress", *extra)
        assert r.returncode == 0 and "done 2" in r.stdout, r.stdout + r.stderr
    pc = PriorCache(cache)
    src = sha256_bytes((tmp_path / "in" / "im0.png").read_bytes())
    assert "alignment" in pc.find("reg", src).meta["record"]
    assert "alignment" not in pc.find("raw", src).meta["record"]


def test_two_runs_on_the_same_inputs_share_the_work(tmp_path, server, env):
    """A second `generate` started while the first is sending waits for the first's claims instead of reporting
    them busy: both end with every prior, and each input is paid once."""
    write_inputs(tmp_path / "in", 8)
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
    inputs = write_inputs(tmp_path / "in", 2)
    r = generate_fake(tmp_path, tmp_path / "in", "--no-dense", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    pc = PriorCache(tmp_path / "cache")
    src = sha256_bytes(inputs[0].read_bytes())
    assert pc.find("s", src).confidence_path is None
    assert (pc.load_prior("s", inputs[0], with_confidence=True)[1] == 1).all()
    ra = run_cli("align", "--cache", tmp_path / "cache", "--set", "s", "--inputs", tmp_path / "in", "--force")
    assert ra.returncode == 0 and "aligned 2" in ra.stdout and "mean confidence" in ra.stdout, ra.stdout + ra.stderr
    pc = PriorCache(tmp_path / "cache")
    e = pc.find("s", src)
    assert e.confidence_path is not None and e.meta["sources"][0]["alignment"]["dense"]["version"] == DENSE_VERSION
    prior, conf = pc.load_prior("s", inputs[0], with_confidence=True)
    assert prior.shape == (20, 28, 3) and conf.shape == (20, 28)
    ra = run_cli("align", "--cache", tmp_path / "cache", "--set", "s", "--inputs", tmp_path / "in", "--force",
              "--no-dense")
    assert ra.returncode == 0 and "mean confidence" not in ra.stdout, ra.stdout + ra.stderr
    pc = PriorCache(tmp_path / "cache")
    assert pc.find("s", src).confidence_path is None and not list((tmp_path / "cache").rglob("*.confidence.png"))
    # same requests, linked: nothing paid again
    r = generate_fake(tmp_path, tmp_path / "in", env=env, set_name="s-dense")
    assert r.returncode == 0 and server.paid() == 2, r.stdout + r.stderr
    assert PriorCache(tmp_path / "cache").find("s-dense", src).confidence_path is not None
    assert run_cli("verify", "--cache", tmp_path / "cache").returncode == 0
    stats = json.loads(run_cli("stats", "--cache", tmp_path / "cache").stdout)
    assert stats["confidence"]["s-dense"]["with_confidence"] == 2 and stats["confidence"]["s"]["mean"] == 1.0
