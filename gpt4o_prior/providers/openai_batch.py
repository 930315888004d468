"""GPT-image priors for whole datasets through the OpenAI Batch API (half the price, answers within 24 h).

Three steps, each resumable, all recorded in a job file (``<cache>/batches/<job>.json``):

1. :func:`submit` prepares every input that has no prior yet (same fitting and request key as the synchronous
   path, so both fill the same cache entries), writes JSONL request files (``/v1/images/edits`` lines with a JSON
   body and the image as a data URL), split so that no file passes the per-file limits (:data:`MAX_REQUESTS`
   lines, :data:`MAX_BYTES` bytes), uploads each, and creates one batch per file. Run it again after an
   interruption and it only submits what is not yet submitted;
2. :func:`status` polls the batches;
3. :func:`collect` downloads the finished output and error files and ingests each answer into the cache (aligned
   like synchronous answers; refusals recorded as refused). Collecting twice is harmless.

Example:
    >>> line = request_line("k" * 64, b"PNG", {"model": "m", "prompt": "p", "size": "1024x1024"})
    >>> line["url"], sorted(line["body"])
    ('/v1/images/edits', ['images', 'model', 'prompt', 'size'])
"""
from __future__ import annotations

import base64
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from PIL import Image

from ..pricing import BATCH_DISCOUNT, Price, cost_from_usage, get_price, load_price_table
from .openai_images import (EditResult, OpenAIImagesProvider, PreparedInput, _decode, _store, batch_pending,
                            prepare_input, redact)

__all__ = ["MAX_REQUESTS", "MAX_BYTES", "BatchJob", "CollectSummary", "request_line", "split_lines", "submit", "status", "collect",
           "load_job", "job_path"]

#: Per-file limits of the Batch API input file (requests per file, bytes per file); we stay a little under.
MAX_REQUESTS = 50_000
MAX_BYTES = 190 * 1024 * 1024
ENDPOINT = "/v1/images/edits"
_FINAL = ("completed", "failed", "expired", "cancelled")


def request_line(custom_id: str, png: bytes, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One JSONL request line: ``POST /v1/images/edits`` with a JSON body, the image as a PNG data URL."""
    body = {k: v for k, v in kwargs.items()}
    body["images"] = [{"image_url": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}]
    return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}


def split_lines(lines: Iterable[bytes], *, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES
                ) -> list[list[bytes]]:
    """Group encoded JSONL lines (each ending in a newline) into files within both limits.

    Raises:
        ValueError: one line alone is larger than ``max_bytes`` (the image is too large for a batch file).

    Example:
        >>> [len(c) for c in split_lines([b"x" * 10 + b"\\n"] * 5, max_requests=2)]
        [2, 2, 1]
        >>> [len(c) for c in split_lines([b"x" * 10 + b"\\n"] * 5, max_bytes=25)]
        [2, 2, 1]
    """
    chunks: list[list[bytes]] = []
    cur: list[bytes] = []
    size = 0
    for line in lines:
        if len(line) > max_bytes:
            raise ValueError(f"one batch request is {len(line)} bytes, over the per-file limit of {max_bytes}: "
                             "use a smaller --size or the synchronous `generate`")
        if cur and (len(cur) >= max_requests or size + len(line) > max_bytes):
            chunks.append(cur)
            cur, size = [], 0
        cur.append(line)
        size += len(line)
    if cur:
        chunks.append(cur)
    return chunks


@dataclass
class BatchJob:
    """The job file: what was submitted, so that every step can be resumed.

    Attributes:
        name: job name (file ``<cache>/batches/<name>.json``).
        set_name: the prior set filled.
        provider: the provider settings (keyword arguments of :class:`OpenAIImagesProvider`).
        requests: ``key -> {source_name, source_sha256, size, transform, input_path}``.
        batches: one dict per JSONL file: ``file`` (local), ``keys``, ``file_id``, ``batch_id``, ``status``,
            ``collected``.
    """

    name: str
    set_name: str
    provider: dict[str, Any]
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "set_name": self.set_name, "provider": self.provider, "requests": self.requests,
                "batches": self.batches}


def job_path(cache: Any, name: str) -> Path:
    """Where the job file of ``name`` lives."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"batch job name must be a plain file name, got {name!r}")
    return Path(cache.root) / "batches" / f"{name}.json"


def _save(cache: Any, job: BatchJob) -> None:
    path = job_path(cache, job.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(job.to_json(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_job(cache: Any, name: str) -> BatchJob:
    """Read a job file, or raise a clear error listing the jobs there are."""
    path = job_path(cache, name)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"no batch job {name!r} in {path.parent} (known: {', '.join(known) or 'none'}); "
                                "create it with `gpt4o-prior batch submit`")
    raw = json.loads(path.read_text())
    return BatchJob(**raw)


def _provider_kwargs(p: OpenAIImagesProvider) -> dict[str, Any]:
    return {"model": p.model, "task": p.prompt_id, "prompt_version": p.prompt_version, "size": p.size,
            "quality": p.quality, "input_fidelity": p.input_fidelity, "fit": p.fit, "background": p.background,
            "name": p.name}


def submit(inputs: Iterable[str | Path], *, cache: Any, set_name: str, provider: OpenAIImagesProvider, client: Any,
           job: str, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES, dry_run: bool = False,
           api_key: str | None = None, progress: bool = False) -> BatchJob:
    """Prepare, write, upload and create batches for every input without a prior (resumable).

    Args:
        inputs: image files.
        cache: a :class:`gpt4o_prior.cache.PriorCache`.
        set_name: the set to fill (registered here if new).
        provider: request settings (the same as for ``generate``, so the keys agree).
        client: a sync ``openai.OpenAI`` / ``AzureOpenAI`` client (None allowed with ``dry_run``).
        job: job name.
        max_requests, max_bytes: per-file limits.
        dry_run: write the JSONL files and the job file, upload nothing.
        api_key: only to scrub it from messages.

    Returns:
        the :class:`BatchJob` (also saved to its job file).
    """
    from ..cache import PriorSet, sha256_file

    cache.register_set(PriorSet(name=set_name, **provider.set_fields()))
    path = job_path(cache, job)
    if path.is_file():
        bj = load_job(cache, job)
        if bj.set_name != set_name:
            raise ValueError(f"batch job {job!r} fills set {bj.set_name!r}, not {set_name!r}; choose another --job")
    else:
        bj = BatchJob(name=job, set_name=set_name, provider=_provider_kwargs(provider))
    # keys of every batch not collected yet (submitted, or written and still to submit), in this job or any other
    # job of this cache, are never written again: each would be paid when its batch runs
    pending = set(batch_pending(cache)) | {k for b in bj.batches if not b.get("collected") for k in b["keys"]}
    inputs = [Path(p) for p in inputs]
    if progress:
        from tqdm import tqdm
        inputs = tqdm(inputs, unit="img", desc="prepare batch")
    folder = path.parent / job
    folder.mkdir(parents=True, exist_ok=True)
    part: dict[str, Any] = {}              # the JSONL file being written: streamed, never held in memory

    def close_part() -> None:
        if part:
            part["fh"].close()
            bj.batches.append({"file": part["file"], "keys": part["keys"], "file_id": None, "batch_id": None,
                               "status": "written", "collected": False})
            part.clear()

    written: set[str] = set()
    for p in inputs:
        found = cache.find(set_name, sha256_file(p))
        if found is not None and found.status in ("ok", "refused"):
            continue
        prep: PreparedInput = prepare_input(p.read_bytes(), provider=provider, source_name=p.name)
        if prep.key in pending or prep.key in written:
            continue
        entry = cache.entry(prep.key)
        if entry is not None and entry.status == "ok":
            continue
        line = (json.dumps(request_line(prep.key, prep.sent_png, provider.request_kwargs(size=prep.size))) + "\n"
                ).encode()
        split_lines([line], max_bytes=max_bytes)        # raises if one request alone is over the limit
        if part and (len(part["keys"]) >= max_requests or part["bytes"] + len(line) > max_bytes):
            close_part()
        if not part:
            fname = folder / f"part{len(bj.batches):04d}.jsonl"
            part.update(file=str(fname), keys=[], bytes=0, fh=open(fname, "wb"))
        part["fh"].write(line)
        part["keys"].append(prep.key)
        part["bytes"] += len(line)
        written.add(prep.key)
        bj.requests[prep.key] = {"source_name": prep.source_name, "source_sha256": prep.source_sha256,
                                 "size": prep.size, "transform": prep.transform, "input_path": str(p.resolve())}
    close_part()
    _save(cache, bj)
    if dry_run:
        return bj
    for b in bj.batches:
        if b.get("batch_id"):
            continue
        try:
            if not b.get("file_id"):
                with open(b["file"], "rb") as fh:
                    f = client.files.create(file=(Path(b["file"]).name, fh, "application/jsonl"), purpose="batch")
                b["file_id"] = f.id
                _save(cache, bj)
            created = client.batches.create(input_file_id=b["file_id"], endpoint=ENDPOINT, completion_window="24h",
                                            metadata={"gpt4o_prior_set": set_name, "gpt4o_prior_job": job})
        except Exception as e:  # noqa: BLE001 - report without the key; the job file keeps what was done
            _save(cache, bj)
            raise RuntimeError(f"batch submit of {b['file']} failed: {redact(str(e), api_key)}; run the same "
                               "command again to resume") from None
        b["batch_id"], b["status"] = created.id, created.status
        _save(cache, bj)
    return bj


def status(*, cache: Any, job: str, client: Any) -> BatchJob:
    """Refresh the status of each batch of ``job`` (saved to the job file)."""
    bj = load_job(cache, job)
    for b in bj.batches:
        if b.get("batch_id") and b.get("status") not in _FINAL:
            got = client.batches.retrieve(b["batch_id"])
            b["status"] = got.status
            b["output_file_id"] = getattr(got, "output_file_id", None)
            b["error_file_id"] = getattr(got, "error_file_id", None)
            counts = getattr(got, "request_counts", None)
            b["request_counts"] = counts.model_dump() if counts is not None else None
    _save(cache, bj)
    return bj


def _download(client: Any, file_id: str) -> bytes:
    content = client.files.content(file_id)
    return content.content if hasattr(content, "content") else content.read()


@dataclass
class CollectSummary:
    """What :func:`collect` did: answers stored, refused, failed (listed in ``missing`` with the reason), requests
    still pending in unfinished batches, and the cost of the stored answers (batch price)."""

    done: int = 0
    refused: int = 0
    failed: int = 0
    pending: int = 0
    cost_usd: float = 0.0
    missing: dict[str, str] = field(default_factory=dict)


def collect(*, cache: Any, job: str, client: Any, wait: bool = False, poll_s: float = 30.0,
            timeout_s: float | None = None, price_table: dict[str, Price] | None = None) -> CollectSummary:
    """Ingest every finished batch of ``job`` into the cache.

    Args:
        wait: poll until every batch is final (or ``timeout_s`` passes).
        poll_s: seconds between polls.
        price_table: prices; batch answers are billed at :data:`gpt4o_prior.pricing.BATCH_DISCOUNT`.

    Returns:
        counts of answers stored, refused, failed, and requests still pending.
    """
    price_table = price_table if price_table is not None else load_price_table()
    t0 = time.monotonic()
    while True:
        bj = status(cache=cache, job=job, client=client)
        open_ = [b for b in bj.batches if b.get("batch_id") and b["status"] not in _FINAL]
        if not wait or not open_ or (timeout_s is not None and time.monotonic() - t0 > timeout_s):
            break
        time.sleep(poll_s)
    provider = OpenAIImagesProvider(**bj.provider)
    price = get_price(provider.model, price_table)
    out = CollectSummary()
    for b in bj.batches:
        if b.get("collected"):
            continue
        if b.get("status") not in _FINAL:
            out.pending += len(b["keys"])
            continue
        answered: set[str] = set()
        for fid_name in ("output_file_id", "error_file_id"):
            fid = b.get(fid_name)
            if not fid:
                continue
            for raw in _download(client, fid).decode().splitlines():
                if not raw.strip():
                    continue
                line = json.loads(raw)
                key = line.get("custom_id")
                req = bj.requests.get(key)
                if req is None:
                    continue
                answered.add(key)
                outcome, reason = _ingest(cache, bj, provider, key, req, line, price)
                if outcome == "done":
                    out.done += 1
                    out.cost_usd += reason or 0.0
                elif outcome == "refused":
                    out.refused += 1
                else:
                    out.failed += 1
                    out.missing[req["source_name"]] = str(reason)
        for key in set(b["keys"]) - answered:
            out.failed += 1
            out.missing[bj.requests[key]["source_name"]] = f"batch {b['status']}: no answer"
        b["collected"] = True
        _save(cache, bj)
    return out


def _ingest(cache: Any, bj: BatchJob, provider: OpenAIImagesProvider, key: str, req: dict[str, Any],
            line: dict[str, Any], price: Price | None) -> tuple[str, Any]:
    resp = line.get("response") or {}
    body = resp.get("body") or {}
    prepared = PreparedInput(source_name=req["source_name"], source_sha256=req["source_sha256"], input_hw=(0, 0),
                             size=req["size"], sent_png=b"", transform=req["transform"], key=key)
    input_path = Path(req.get("input_path", ""))
    if input_path.is_file():
        prepared.image = _decode(input_path.read_bytes(), req["source_name"])
    extra = {"endpoint": "batch", "batch_request_id": line.get("id")}
    if resp.get("status_code") == 200 and body.get("data"):
        png = base64.b64decode(body["data"][0]["b64_json"])
        usage = body.get("usage")
        cost = cost_from_usage(usage, price, discount=BATCH_DISCOUNT)
        with Image.open(io.BytesIO(png)) as im:
            returned = f"{im.size[0]}x{im.size[1]}"
        res = EditResult(status="ok", png=png, usage=usage, cost_usd=cost, request_id=resp.get("request_id"),
                         attempts=1, returned_size=returned)
        _store(cache, set_name=bj.set_name, provider=provider, prepared=prepared, result=res, extra_meta=extra)
        return "done", cost
    err = body.get("error") or line.get("error") or {}
    code = err.get("code")
    if code in ("moderation_blocked", "content_policy_violation") or err.get("type") == "image_generation_user_error":
        res = EditResult(status="refused", code=code or "moderation_blocked", reason=redact(str(err.get("message"))),
                         request_id=resp.get("request_id"), attempts=1)
        _store(cache, set_name=bj.set_name, provider=provider, prepared=prepared, result=res, extra_meta=extra)
        return "refused", code
    return "failed", f"{code}: {redact(str(err.get('message')))}"
