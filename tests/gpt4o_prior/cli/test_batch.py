"""gpt4o_prior.cli.batch: the batch verbs (submit, status, collect) as a subprocess against the fake OpenAI server;
collect rebuilds a lost job file from the API."""
import re

from tests.helpers.cli import MODEL, run_cli, write_inputs


def test_batch_verbs(tmp_path, server, env):
    write_inputs(tmp_path / "in", 3)
    base = ["--cache", tmp_path / "cache", "--job", "j"]
    r = run_cli("batch", "submit", tmp_path / "in", *base, "--set", "b", "--task", "derain", "--model", MODEL,
             "--size", "64x64", env=env)
    assert r.returncode == 0 and "3 requests" in r.stdout, r.stdout + r.stderr
    batch_id = re.search(r"(batch_\w+)", r.stdout).group(1)
    assert run_cli("batch", "status", *base, env=env).returncode == 0
    (tmp_path / "cache" / "batches" / "j.json").unlink()           # the job file is lost: the batch id is enough
    r = run_cli("batch", "collect", "--cache", tmp_path / "cache", "--batch", batch_id, "--inputs", tmp_path / "in",
             "--wait", "--poll", "0.05", env=env)
    assert r.returncode == 0 and "stored 3" in r.stdout and "rebuilt from the API" in r.stderr, r.stdout + r.stderr
