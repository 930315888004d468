"""Throughput of `gpt4o-prior generate` against the fake OpenAI server, and its behaviour under injected failures.

The fake server (tests/fake_openai.py) runs in its own process so that it does not share the CLI's interpreter,
and answers with one canned image per size (``echo=False``) so that its own image work, which the real API does on
its side, is not counted against the client (one scenario keeps ``echo=True`` to show that cost); the CLI runs as
users run it (a subprocess). Each scenario makes a fresh cache and input folder, runs
``generate`` once, and reports:

* wall time of the generate loop (from the CLI's summary line) and of the whole command (interpreter start
  included), throughput in requests/s, and that relative to the ideal ``concurrency / latency``;
* requests the server answered, paid (200) edits, the largest number paid for one input (must be 1), the
  largest number of requests in flight at once, and whether every input ended with a prior (exit code 0).

Usage::

    python benchmarks/bench_generate.py                      # the two scenarios of RESULTS.md
    python benchmarks/bench_generate.py --n 96 --latency 1 --concurrency 16 --fail-rate 0.2 --size 1024x1024
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
API_KEY = "sk-bench-not-a-real-key"
MODEL = "bench-image-model"


def _serve(conn, latency: float, fail_rate: float, retry_after: float, echo: bool = False) -> None:
    from fake_openai import FakeOpenAI

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
        workers: int = 0) -> dict:
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
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        wall_cmd = time.perf_counter() - t0
    parent.send("stop")
    server = parent.recv()
    proc.join(5)
    m = re.search(r"; ([0-9.]+) s\s*$", r.stdout.strip().splitlines()[0] if r.stdout.strip() else "")
    wall_loop = float(m.group(1)) if m else float("nan")
    ideal = concurrency / latency
    return {"n": n, "latency_s": latency, "concurrency": concurrency, "fail_rate": fail_rate, "size": size,
            "register": register, "server_echo": echo, "workers": workers,
            "input_hw": list(input_hw), "exit_code": r.returncode, "summary": r.stdout.strip().splitlines()[:1],
            "wall_loop_s": wall_loop, "wall_command_s": round(wall_cmd, 2),
            "throughput_rps": round(n / wall_loop, 2), "relative_to_ideal": round(n / wall_loop / ideal, 3),
            "relative_incl_startup": round(n / wall_cmd / ideal, 3), **server}


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
    args = ap.parse_args()
    if args.n is not None:
        scenarios = [dict(n=args.n, latency=args.latency, concurrency=args.concurrency,
                          fail_rate=args.fail_rate or 0.0, size=args.size or "1024x1024", input_hw=(240, 320),
                          register=not args.no_register, workers=args.workers)]
    else:
        small = dict(n=160, latency=1.0, concurrency=16, size="256x256", input_hw=(96, 128))
        api = dict(n=160, latency=1.0, concurrency=16, size="1024x1024", input_hw=(240, 320))
        scenarios = [dict(small, fail_rate=0.0), dict(small, fail_rate=0.0, register=False),
                     dict(api, fail_rate=0.0), dict(api, fail_rate=0.0, register=False),
                     dict(small, fail_rate=0.2), dict(api, fail_rate=0.2), dict(api, fail_rate=0.0, echo=True)]
        pool = [dict(small, fail_rate=0.0, workers=-1), dict(api, fail_rate=0.0, workers=-1),
                dict(api, fail_rate=0.2, workers=-1)]
        scenarios = pool if args.pool_only else scenarios + pool
    for sc in scenarios:
        print(json.dumps(run(**sc)), flush=True)


if __name__ == "__main__":
    main()
