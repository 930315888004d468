"""Throughput of reading aligned priors through the cache vs reading the same number of plain PNGs.

A dataset of N 256x256 inputs gets a prior each (stored aligned, as providers do). Then a torch DataLoader with
4 workers reads them: (a) plain PNG files straight from a folder (the baseline), (b) ``cache.load_prior(set,
input_path)`` (a stat, the input's hash from the ``inputs.jsonl`` memo of an earlier epoch, an index lookup, one PNG
decode), (b') the same for inputs never seen (every worker hashes every input), (c) the same with persistent
workers (second epoch: inputs already hashed; compared with plain PNGs read by persistent workers),
(d) ``load_prior_by_hash`` from input bytes the dataset has read anyway (BasicSR's FileClient hands datasets
bytes). Configurations are interleaved and repeated; medians reported. Also timed in one process without a
DataLoader (microseconds per item), which is less noisy on a shared machine.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cache.py [--n 256] [--repeats 3] [--workers 4]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import warnings

import numpy as np
import torch

from gpt4o_prior.cache import PriorCache, PriorSet, sha256_bytes
from gpt4o_prior.cache.image_io import encode_png, read_rgb

SET = PriorSet(name="bench-gpt", provider="openai-images", model="gpt-image-1.5", label="gpt", prompt_id="dehaze",
               prompt_version=1, prompt_text="Remove the haze.", params={"size": "1024x1024"})


def make_image(rng: np.random.Generator, side: int) -> np.ndarray:
    """Smooth random content with some texture (PNG sizes like photos', not like noise's)."""
    small = rng.random((side // 16, side // 16, 3)).astype(np.float32)
    from PIL import Image

    img = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((side, side), Image.BICUBIC), np.float32)
    img = img + rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def build(root: Path, n: int, side: int) -> tuple[list[str], list[str], PriorCache]:
    rng = np.random.default_rng(0)
    inputs, plain = [], []
    (root / "inputs").mkdir(parents=True)
    (root / "plain").mkdir()
    cache = PriorCache(root / "cache")
    cache.register_set(SET)
    for i in range(n):
        inp = make_image(rng, side)
        data = encode_png(inp, compress_level=6)
        p = root / "inputs" / f"{i:05d}.png"
        p.write_bytes(data)
        prior = make_image(rng, side)
        pp = root / "plain" / f"{i:05d}.png"
        pp.write_bytes(encode_png(prior))  # same encoder settings as the cache's aligned files
        src = sha256_bytes(data)
        raw = encode_png(make_image(rng, 64))  # stands in for the 1024px raw output (not read by datasets)
        cache.put(SET.request_key(src), raw, meta={"provider": SET.provider, "cost_usd": 0.01}, aligned=prior,
                  set_name=SET.name, source_sha256=src, source_name=p.name)
        inputs.append(str(p))
        plain.append(str(pp))
    return inputs, plain, cache


class Plain(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return torch.from_numpy(read_rgb(self.files[i]).copy())


class ViaCache(torch.utils.data.Dataset):
    def __init__(self, cache, inputs, by_bytes=False):
        self.cache, self.inputs, self.by_bytes = cache, inputs, by_bytes

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, i):
        if self.by_bytes:
            with open(self.inputs[i], "rb") as f:
                data = f.read()  # a dataset reads its input anyway; only the hash and the lookup are extra
            img = self.cache.load_prior_by_hash(SET.name, sha256_bytes(data))
        else:
            img = self.cache.load_prior(SET.name, self.inputs[i])
        return torch.from_numpy(img.copy())


def run_epochs(ds, workers: int, epochs: int, persistent: bool) -> list[float]:
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=workers, persistent_workers=persistent,
                                         multiprocessing_context="fork")
    rates = []
    for _ in range(epochs):
        t = time.perf_counter()
        n = sum(b.shape[0] for b in loader)
        rates.append(n / (time.perf_counter() - t))
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="This DataLoader will create")  # 4 workers on fewer cores: on purpose
    with tempfile.TemporaryDirectory() as d:
        inputs, plain, cache = build(Path(d), args.n, args.side)
        unseen = PriorCache(cache.root, remember_inputs=False)  # every worker hashes every input, every epoch
        for f in inputs:  # an earlier epoch, so that the input-hash memo (inputs.jsonl) is filled
            PriorCache(cache.root).load_prior(SET.name, f)
        configs = {
            "plain": lambda: run_epochs(Plain(plain), args.workers, 1, False)[0],
            "cache": lambda: run_epochs(ViaCache(cache, inputs), args.workers, 1, False)[0],
            "cache_never_seen_inputs": lambda: run_epochs(ViaCache(unseen, inputs), args.workers, 1, False)[0],
            "cache_by_bytes": lambda: run_epochs(ViaCache(cache, inputs, True), args.workers, 1, False)[0],
            "plain_persistent_epoch2": lambda: run_epochs(Plain(plain), args.workers, 2, True)[1],
            "cache_persistent_epoch2": lambda: run_epochs(ViaCache(cache, inputs), args.workers, 2, True)[1],
        }
        baseline = {k: "plain_persistent_epoch2" if "persistent" in k else "plain" for k in configs}
        res: dict[str, list[float]] = {k: [] for k in configs}
        ratios: dict[str, list[float]] = {k: [] for k in configs if not k.startswith("plain")}
        single: dict[str, float] = {"plain": 0.0, "cache_unseen_inputs": 0.0, "cache_new_process": 0.0,
                                    "cache_warm": 0.0}
        for rep in range(args.repeats):
            # in one process, no DataLoader, plain and cache reads interleaved item by item (same machine load):
            # inputs never seen (hashed), a new process with the input memo, then the same process again
            phases = [("cache_unseen_inputs", PriorCache(cache.root, remember_inputs=False))]
            fresh = PriorCache(cache.root)
            phases += [("cache_new_process", fresh), ("cache_warm", fresh)]
            for phase, reader in phases:
                for f, p in zip(inputs, plain):
                    t = time.perf_counter()
                    read_rgb(p)
                    t1 = time.perf_counter()
                    reader.load_prior(SET.name, f)
                    t2 = time.perf_counter()
                    single["plain"] += (t1 - t) / len(phases)
                    single[phase] += t2 - t1
            # DataLoader runs, order reversed every other repeat so that drifting load hits all configurations
            order = list(configs) if rep % 2 == 0 else list(reversed(configs))
            this = {k: configs[k]() for k in order}
            for k, v in this.items():
                res[k].append(v)
                if k in ratios:
                    ratios[k].append(v / this[baseline[k]])
        # what load_prior adds to the decode: stat, remembered input hash, index lookup (no decode), per item
        warm = PriorCache(cache.root)
        for f in inputs:
            warm.load_prior(SET.name, f)
        t = time.perf_counter()
        for _ in range(20):
            for f in inputs:
                warm._lookup(SET.name, warm._input_info(f)[0])
        lookup_us = (time.perf_counter() - t) / (20 * len(inputs)) * 1e6
        n_items = args.repeats * len(inputs)
        out = {"n": args.n, "side": args.side, "workers": args.workers, "repeats": args.repeats,
               "images_per_s_median": {k: round(statistics.median(v), 1) for k, v in res.items()},
               "ratio_to_plain_median_of_paired": {k: round(statistics.median(v), 3) for k, v in ratios.items()},
               "ratio_runs": {k: [round(x, 3) for x in v] for k, v in ratios.items()},
               "single_process_us_per_item": {k: round(v / n_items * 1e6, 1) for k, v in single.items()},
               "lookup_without_decode_us_per_item": round(lookup_us, 1),
               "single_process_ratio": {k: round(single["plain"] / v, 3) for k, v in single.items() if k != "plain"},
               "all_runs": {k: [round(x, 1) for x in v] for k, v in res.items()}}
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
