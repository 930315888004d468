"""Cost of the prior branch per fusion kind on a NAFNet host: parameters, forward latency, FLOPs, peak memory.

For each registered fusion kind, ``attach_prior(host, fusion=kind)`` with default settings; the host and the
PriorNet run interleaved (host, prior, prior, host, ...) in one process, and the latency overhead is the median of
the paired ratios, so that load from other processes hits both sides alike. FLOPs come from
``torch.utils.flop_counter`` (deterministic, unaffected by load); peak memory is the high-water mark of live tensor
storage during one forward, tracked at the aten level (works on the CPU, where torch keeps no allocator stats; on
CUDA ``torch.cuda.max_memory_allocated`` is reported beside it). For ``cross_attention`` the branch's extra cost
is also measured at half the side length, to show it grows linearly with the pixel count.

    python benchmarks/bench_fusion.py                                   # CPU, float32, 256x256
    python benchmarks/bench_fusion.py --device cuda --dtype bfloat16 --size 512
    python benchmarks/bench_fusion.py --kinds cross_attention --kw token_size=1         # non-default block options

Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from gpt4o_prior.archs.nafnet import NAFNet
from gpt4o_prior.attach import attach_prior
from gpt4o_prior.fusion import list_fusions

# NAFNet-SIDD-width32 (the official option file's configuration).
HOST_CONFIG = dict(width=32, enc_blk_nums=[2, 2, 4, 8], middle_blk_num=12, dec_blk_nums=[2, 2, 2, 2])


class PeakLiveMemory(TorchDispatchMode):
    """High-water mark of the bytes held by tensor storages created while the mode is active."""

    def __init__(self, ignore=()):
        super().__init__()
        self.current = self.peak = 0
        self._live: set[int] = {id(t.untyped_storage()) for t in ignore}

    def _free(self, key: int, nbytes: int) -> None:
        self._live.discard(key)
        self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = id(storage)
                if key not in self._live:
                    nbytes = storage.nbytes()
                    self._live.add(key)
                    self.current += nbytes
                    self.peak = max(self.peak, self.current)
                    weakref.finalize(storage, self._free, key, nbytes)
        return out


def _cpu_flash_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# torch's flop counter knows the CUDA attention kernels but not the CPU one; count it like them.
_CPU_SDPA = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
FLOP_MAPPING = {_CPU_SDPA: _cpu_flash_attention_flops} if _CPU_SDPA is not None else {}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device):
    # On the CPU, the process's CPU time: other processes' load on a shared machine does not count (with one
    # thread it equals the latency on an idle machine). On CUDA, wall-clock time between synchronisations.
    return time.perf_counter if device.type == "cuda" else time.process_time


def _timed(fn, device) -> float:
    clock = _clock(device)
    _sync(device)
    start = clock()
    fn()
    _sync(device)
    return clock() - start


def _measure_once(fn, device, keep):
    """FLOPs, peak live tensor memory and (CUDA) peak allocated memory of one call."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with FlopCounterMode(display=False, custom_mapping=FLOP_MAPPING) as flops, PeakLiveMemory(ignore=keep) as mem:
        fn()
    cuda_peak = torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else None
    return flops.get_total_flops(), mem.peak, cuda_peak


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def check(device, dtype) -> str:
    """On ``device``/``dtype``: every kind is the identity at init, trains (backward), and gives finite outputs."""
    lines = []
    for kind in list_fusions():
        torch.manual_seed(0)
        host = NAFNet(width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
        with torch.no_grad():
            for q in host.parameters():
                q.add_(torch.randn_like(q) * 0.1)
        host = host.to(device=device, dtype=dtype)
        net = attach_prior(host, fusion=kind).to(device=device, dtype=dtype)
        x = torch.rand(2, 3, 37, 45, device=device, dtype=dtype)
        p = torch.rand(2, 3, 40, 40, device=device, dtype=dtype)
        with torch.no_grad():
            diff = (net(x, prior=p).float() - host(x).float()).abs().max().item()
        opt = torch.optim.Adam(net.branch_parameters(), lr=1e-2)
        for _ in range(3):
            loss = (net(x, prior=p).float() - x.flip(-1).float()).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        finite = all(torch.isfinite(q.grad).all().item() for q in net.branch_parameters() if q.grad is not None)
        lines.append(f"check {kind}: max |prior - host| at init {diff:.2e}, loss after 3 steps {loss.item():.4f}, "
                     f"finite grads {finite}")
    return "\n".join(lines)


def run(args) -> str:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    host = NAFNet(**HOST_CONFIG).to(device=device, dtype=dtype).eval()
    kinds = args.kinds or list_fusions()
    n_host = _params(host)

    def inputs(size):
        g = torch.Generator().manual_seed(1)
        x = torch.rand(1, 3, size, size, generator=g).to(device=device, dtype=dtype)
        p = torch.rand(1, 3, size, size, generator=g).to(device=device, dtype=dtype)
        return x, p

    x, p = inputs(args.size)
    keep = [x, p] + list(host.parameters()) + list(host.buffers())
    rows, scaling = [], []
    with torch.inference_mode():
        host_flops, host_mem, host_cuda = _measure_once(lambda: host(x), device, keep)
        for kind in kinds:
            net = attach_prior(host, fusion=kind, **args.kw).to(device=device, dtype=dtype).eval()
            keep_all = keep + list(net.branch.parameters()) + list(net.branch.buffers())
            for _ in range(args.warmup):
                host(x)
                net(x, prior=p)
            t_host, t_prior = [], []
            for rep in range(args.reps):  # interleaved, alternating which goes first
                pair = [("h", lambda: host(x)), ("p", lambda: net(x, prior=p))]
                for tag, fn in pair if rep % 2 == 0 else pair[::-1]:
                    (t_host if tag == "h" else t_prior).append(_timed(fn, device))
            flops, mem, cuda_mem = _measure_once(lambda: net(x, prior=p), device, keep_all)
            ratios = [tp / th for tp, th in zip(t_prior, t_host)]
            tokens = {path: getattr(point.block, "token_size", None) for path, point in net.branch.points.items()}
            rows.append(dict(kind=kind, points=len(net.attach_points), params=_params(net.branch), tokens=tokens,
                             host_ms=1e3 * statistics.median(t_host), prior_ms=1e3 * statistics.median(t_prior),
                             overhead=statistics.median(ratios) - 1, flops=flops, mem=mem, cuda_mem=cuda_mem))
            if kind == "cross_attention":
                for size in (args.size // 2, args.size):
                    xs, ps = inputs(size)
                    keep_s = keep_all + [xs, ps]
                    hf, hm, _ = _measure_once(lambda: host(xs), device, keep_s)
                    pf, pm, _ = _measure_once(lambda: net(xs, prior=ps), device, keep_s)
                    th, tp = [], []
                    for rep in range(args.reps):
                        th.append(_timed(lambda: host(xs), device))
                        tp.append(_timed(lambda: net(xs, prior=ps), device))
                    scaling.append(dict(size=size, extra_flops=pf - hf, extra_mem=pm - hm,  # paired differences
                                        extra_ms=1e3 * statistics.median(b - a for a, b in zip(th, tp))))
            net.detach()

    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()}, " \
        f"{torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''})"
    mb = 2**20
    clock = "wall clock" if device.type == "cuda" else "process CPU time"
    host_ms = statistics.median(r["host_ms"] for r in rows)
    out = [
        f"Host: NAFNet {HOST_CONFIG} ({n_host / 1e6:.2f} M parameters, {host_flops / 2e9:.2f} GMAC), input "
        f"1x3x{args.size}x{args.size}, {args.dtype}, {dev}, torch {torch.__version__}; median of {args.reps} "
        f"interleaved runs ({clock}) after {args.warmup} warm-up; host alone: {host_ms:.1f} ms, peak live tensors "
        f"{host_mem / mb:.0f} MiB" + (f" (allocator peak {host_cuda / mb:.0f} MiB)" if host_cuda is not None else "")
        + "." + (f" Block options: {args.kw}." if args.kw else ""),
        "",
        "| fusion | points | extra params | % of host | host ms | with prior ms | extra latency | extra GMAC "
        "(% of host) | peak MiB host -> with prior |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mem = f"{host_mem / mb:.0f} -> {r['mem'] / mb:.0f}"
        if r["cuda_mem"] is not None:
            mem += f" (alloc {host_cuda / mb:.0f} -> {r['cuda_mem'] / mb:.0f})"
        extra = r["flops"] - host_flops
        out.append(
            f"| {r['kind']} | {r['points']} | {r['params'] / 1e3:.0f} k | {100 * r['params'] / n_host:.2f} % | "
            f"{r['host_ms']:.1f} | {r['prior_ms']:.1f} | {100 * r['overhead']:+.1f} % | "
            f"{extra / 2e9:.3f} ({100 * extra / host_flops:.1f} %) | {mem} |"
        )
    for r in rows:
        if any(t is not None for t in r["tokens"].values()):
            out += ["", f"{r['kind']}, token size (pixels) per attach point: "
                    + ", ".join(f"{path.replace('__', '.')}={t}" for path, t in r["tokens"].items())]
    if scaling:
        a, b = scaling
        out += [
            "",
            "cross_attention, extra cost of the branch against the image size:",
            "",
            "| size | pixels | extra GMAC | extra peak MiB | extra ms |",
            "|---|---|---|---|---|",
        ]
        for s in scaling:
            out.append(f"| {s['size']} | {s['size'] ** 2} | {s['extra_flops'] / 2e9:.3f} | "
                       f"{s['extra_mem'] / mb:.1f} | {s['extra_ms']:.1f} |")
        out.append(f"| ratio | {b['size'] ** 2 / a['size'] ** 2:.1f}x | {b['extra_flops'] / a['extra_flops']:.2f}x | "
                   f"{b['extra_mem'] / max(a['extra_mem'], 1):.2f}x | {b['extra_ms'] / a['extra_ms']:.2f}x |")
    return "\n".join(out)


def _parse_kw(item: str):
    key, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"--kw takes KEY=VALUE, got {item!r}")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=None, help="timed pairs per kind (default 9 CPU, 20 CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed pairs first (default 1 CPU, 5 CUDA)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: CPU time = latency)")
    parser.add_argument("--kinds", nargs="*", help="fusion kinds (default: all registered)")
    parser.add_argument("--check", action="store_true", help="first check identity at init and training steps")
    parser.add_argument("--kw", nargs="*", default=[], metavar="KEY=VALUE",
                        help="keyword arguments for attach_prior's blocks (int, float or string), e.g. token_size=1")
    args = parser.parse_args(argv)
    args.kw = dict(_parse_kw(item) for item in args.kw)
    cuda = args.device.startswith("cuda")
    args.reps = args.reps or (20 if cuda else 9)
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    if args.check:
        print(check(torch.device(args.device), getattr(torch, args.dtype)), flush=True)
    print(run(args))


if __name__ == "__main__":
    main()
