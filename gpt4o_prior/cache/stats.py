"""Counts, cost, confidence and coverage of a prior cache, read from its sidecars.

Example:
    >>> import tempfile
    >>> from gpt4o_prior.cache import PriorCache
    >>> cache_stats(PriorCache(tempfile.mkdtemp()))["entries"]
    0
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from ..data.io import list_images

__all__ = ["cache_stats"]


def cache_stats(cache: Any, inputs: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
            set_name: str | None = None) -> dict[str, Any]:
    """Counts and cost of ``cache``, from the sidecars (the truth): what :meth:`PriorCache.stats
    <gpt4o_prior.cache.PriorCache.stats>` returns.

    Args:
        inputs: a folder of input images, or a list of image files: count those without a usable prior
            (needs ``set_name``).
        set_name: restrict the counts to one set.

    Returns:
        dict with ``entries``, ``refused``, ``by_set`` (set -> {ok, refused}), ``by_provider``, ``by_model``,
        ``by_label``, ``cost_usd`` (sum over entries whose cost is recorded), ``cost_unknown`` (entries
        without one), ``confidence`` (set -> {``with_confidence``: priors that have a confidence map,
        ``mean``: mean confidence over the set's priors, those without a map counting as 1}), and with
        ``inputs``: ``inputs``, ``found``, ``missing`` (file list), ``refused_inputs``.
    """
    labels = {s.name: s.label for s in cache.list_sets()}
    out: dict[str, Any] = {"root": str(cache.root), "entries": 0, "refused": 0, "by_set": {}, "by_provider": {},
                           "by_model": {}, "by_label": {}, "cost_usd": 0.0, "cost_unknown": 0}
    conf: dict[str, list[float]] = {}
    for e in cache.iter_entries():
        sets = {s.get("set_name") for s in e.meta.get("sources") or []}
        if set_name is not None and set_name not in sets:
            continue
        out["entries"] += 1
        out["refused"] += e.status != "ok"
        for name in sets:
            if set_name is not None and name != set_name:
                continue
            d = out["by_set"].setdefault(name, {"ok": 0, "refused": 0})
            d["ok" if e.ok else "refused"] += 1
            if e.ok:
                conf.setdefault(name, [0, 0, 0.0])
            lab = labels.get(name, "unregistered")
            out["by_label"][lab] = out["by_label"].get(lab, 0) + 1
        if e.ok:  # from the sidecar (the mean is recorded at write time): no image is read
            files = e.meta.get("files") or {}
            for link in e.meta.get("sources") or []:
                name = link.get("set_name")
                if name not in conf:
                    continue
                cinfo = files.get((files.get(link.get("file")) or {}).get("confidence")) or {}
                mean = cinfo.get("mean")
                acc = conf[name]
                acc[0] += 1
                if isinstance(mean, (int, float)):
                    acc[1] += 1
                    acc[2] += float(mean)
                else:
                    acc[2] += 1.0
        prov = str(e.meta.get("provider"))
        model = str(e.meta.get("model"))
        out["by_provider"][prov] = out["by_provider"].get(prov, 0) + 1
        out["by_model"][model] = out["by_model"].get(model, 0) + 1
        cost = e.meta.get("cost_usd")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            out["cost_usd"] += float(cost)
        else:
            out["cost_unknown"] += 1
    out["cost_usd"] = round(out["cost_usd"], 6)
    out["confidence"] = {name: {"with_confidence": n_conf, "mean": round(total / n, 4) if n else None}
                         for name, (n, n_conf, total) in sorted(conf.items())}
    if inputs is not None:
        if set_name is None:
            raise ValueError("stats(inputs=...) needs set_name= to know which priors to look for")
        if isinstance(inputs, (str, os.PathLike)):
            folder = Path(inputs)
            if not folder.is_dir():
                raise NotADirectoryError(f"stats: input folder {folder} does not exist")
            files = list_images(folder, recursive=True, required=False)
        else:
            files = [Path(p) for p in inputs]
        missing, refused = [], []
        for p in files:
            rec = cache.record_for(set_name, cache.input_sha256(p))
            if rec is None:
                missing.append(str(p))
            elif rec.get("status") != "ok":
                refused.append(str(p))
        out.update({"inputs": len(files), "found": len(files) - len(missing) - len(refused),
                    "missing": missing, "refused_inputs": refused})
    return out
