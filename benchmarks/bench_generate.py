"""Throughput of `gpt4o-prior generate` against the fake OpenAI server, and its behaviour under injected failures.

The fake server (tests/helpers/fake_openai.py) runs in its own process so that it does not share the CLI's interpreter,
and answers with one canned image per size (``echo=False``) so that its own image work, which the real API does on
its side, is not counted against the client (one scenario keeps ``echo=True`` to show that cost); the CLI runs as
users run it (a subprocess). Each scenario makes a fresh cache and input folder, runs
``generate`` once, and reports:

* wall time of the generate loop (from the CLI's summary line) and of the whole command (interpreter start
  included), throughput in requests/s, and that relative to the ideal ``concurrency / latency``;
* requests the server answered, paid (200) edits, the largest number paid for one input (must be 1), the
  largest number of requests in flight at once, and whether every input ended with a prior (exit code 0);
* the CPU time of the ``generate`` process (user + system, from ``getrusage``), per input, and the machine's load
  average before and after the run (on a shared machine the other processes' load is part of the result).

Usage::

    python benchmarks/bench_generate.py                      # every named scenario (threads, then process pool)
    python benchmarks/bench_generate.py --scenarios 1024,1024-fail,256,256-fail,1024-noreg   # RESULTS.md's table
    python benchmarks/bench_generate.py --n 96 --latency 1 --concurrency 16 --fail-rate 0.2 --size 1024x1024
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.helpers.fake_openai
API_KEY = "sk-bench-not-a-real-key"
MODEL = "bench-image-model"


def _serve(conn, latency: float, fail_rate: float, retry_after: float, echo: bool = False) -> None:
    from tests.helpers.fake_openai import FakeOpenAI

    with FakeOpenAI(api_key=API_KEY, latency=latency, fail_rate=fail_rate, seed=1, retry_after=retry_after,
                    echo=echo) as s:
        conn.send(s.port)
        conn.recv()  # stop
        edits = s.edits()
        per = s.paid_per_input()
        conn.send({"requests": len(edits), "paid": s.paid(), "max_paid_per_input": max(per.values(), default=0),
                   "inputs_paid": len(per), "max_inflight": s.max_inflight,
                   "failed_429": sum(r.status == 429 for r in edits), "failed_500": sum(r.status == 500 for r in edits),
                   "server_handling_s_mean": round(float(np.mean([r.t_end - r.time for r in edits])), 3),
                   "server_span_s": round(max(r.t_end for r in edits) - min(r.time for r in edits), 2)})


def run(*, n: int, latency: float, concurrency: int, fail_rate: float, size: str, input_hw: tuple[int, int],
        retry_after: float = 1.0, backoff: float = 1.0, register: bool = True, echo: bool = False,
        workers: int = 0, name: str = "custom") -> dict:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_serve, args=(child, latency, fail_rate, retry_after, echo),
                                           daemon=True)
    proc.start()
    port = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        rng = np.random.default_rng(0)
        h, w = input_hw
        for i in range(n):
            base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
            img = np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR))
            Image.fromarray(img).save(tmp / "in" / f"{i:04d}.png")
        (tmp / "prices.json").write_text(json.dumps({MODEL: {"text_input": 5, "image_input": 8, "image_output": 30}}))
        env = dict(os.environ, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        cmd = [sys.executable, "-m", "gpt4o_prior", "generate", str(tmp / "in"), "--cache", str(tmp / "cache"),
               "--set", "bench", "--task", "restore", "--model", MODEL, "--size", size, "--concurrency",
               str(concurrency), "--backoff", str(backoff), "--attempts", "10", "--no-progress",
               "--price-table", str(tmp / "prices.json"), "--workers", str(workers)] \
            + ([] if register else ["--no-register"])
        load_before = os.getloadavg()[0]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        wall_cmd = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        load_after = os.getloadavg()[0]
    parent.send("stop")
    server = parent.recv()
    proc.join(5)
    m = re.search(r"; ([0-9.]+) s\s*$", r.stdout.strip().splitlines()[0] if r.stdout.strip() else "")
    wall_loop = float(m.group(1)) if m else float("nan")
    ideal = concurrency / latency
    return {"scenario": name, "n": n, "latency_s": latency, "concurrency": concurrency, "fail_rate": fail_rate,
            "size": size,
            "register": register, "server_echo": echo, "workers": workers,
            "input_hw": list(input_hw), "exit_code": r.returncode, "summary": r.stdout.strip().splitlines()[:1],
            "wall_loop_s": wall_loop, "wall_command_s": round(wall_cmd, 2),
            "throughput_rps": round(n / wall_loop, 2), "relative_to_ideal": round(n / wall_loop / ideal, 3),
            "relative_incl_startup": round(n / wall_cmd / ideal, 3), "client_cpu_s": round(cpu, 2),
            "client_cpu_ms_per_input": round(cpu / n * 1e3, 1), "load_before": round(load_before, 2),
            "load_after": round(load_after, 2), "code": str(ROOT), **server}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--fail-rate", type=float, default=None)
    ap.add_argument("--size", default=None)
    ap.add_argument("--no-register", action="store_true")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--pool-only", action="store_true", help="only the process-pool scenarios")
    ap.add_argument("--scenarios", default=None,
                    help="comma-separated subset of the default scenarios by name, e.g. 256,1024,1024-fail "
                         "(names: 256, 256-noreg, 1024, 1024-noreg, 256-fail, 1024-fail, 1024-echo, and pool-256, "
                         "pool-1024, pool-1024-fail)")
    args = ap.parse_args()
    if args.n is not None:
        scenarios = [dict(n=args.n, latency=args.latency, concurrency=args.concurrency,
                          fail_rate=args.fail_rate or 0.0, size=args.size or "1024x1024", input_hw=(240, 320),
                          register=not args.no_register, workers=args.workers)]
    else:
        small = dict(n=160, latency=1.0, concurrency=16, size="256x256", input_hw=(96, 128))
        api = dict(n=160, latency=1.0, concurrency=16, size="1024x1024", input_hw=(240, 320))
        named = {"256": dict(small, fail_rate=0.0), "256-noreg": dict(small, fail_rate=0.0, register=False),
                 "1024": dict(api, fail_rate=0.0), "1024-noreg": dict(api, fail_rate=0.0, register=False),
                 "256-fail": dict(small, fail_rate=0.2), "1024-fail": dict(api, fail_rate=0.2),
                 "1024-echo": dict(api, fail_rate=0.0, echo=True)}
        pool = {"pool-256": dict(small, fail_rate=0.0, workers=-1), "pool-1024": dict(api, fail_rate=0.0, workers=-1),
                "pool-1024-fail": dict(api, fail_rate=0.2, workers=-1)}
        if args.scenarios:
            both = {**named, **pool}
            scenarios = [dict(both[k], name=k) for k in args.scenarios.split(",")]
        else:
            scenarios = [dict(v, name=k) for k, v in (pool if args.pool_only else {**named, **pool}).items()]
    for sc in scenarios:
        print(json.dumps(run(**sc)), flush=True)


if __name__ == "__main__":
    main()
