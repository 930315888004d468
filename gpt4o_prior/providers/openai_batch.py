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

Resuming from a bare batch id (``batch_...``): :func:`resolve_job` finds the local job that holds it, or, when there
is none (job file lost, or the batch was submitted on another machine), rebuilds the job from the API alone
(:func:`recover_job`): the batch's metadata carries the request settings and the set, and each line of its input
file carries what the cache key and the way back to the input need: the image as sent (its sha256 is part of the
key) in the body, and in the ``custom_id`` (:func:`make_custom_id`) the sha256 of the original input file and its
size. Jobs written before this scheme used the bare request key as ``custom_id``; they are still read.

Example:
    >>> line = request_line("k" * 64, b"PNG", {"model": "m", "prompt": "p", "size": "1024x1024"})
    >>> line["url"], sorted(line["body"])
    ('/v1/images/edits', ['images', 'model', 'prompt', 'size'])
    >>> cid = make_custom_id("ab" * 32, (480, 640))
    >>> len(cid), parse_custom_id(cid) == ("ab" * 32, (480, 640))
    (57, True)
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from PIL import Image

from ..data.io import decode_rgb
from ..pricing import BATCH_DISCOUNT, Price, cost_from_usage, get_price, load_price_table
from .openai_images import (EditResult, OpenAIImagesProvider, PreparedInput, batch_job_files, batch_pending,
                            prepare_input, redact, store_answer)

__all__ = ["MAX_REQUESTS", "MAX_BYTES", "BatchJob", "CollectSummary", "request_line", "split_lines", "submit", "status",
           "collect", "load_job", "job_path", "make_custom_id", "parse_custom_id", "find_job", "recover_job",
           "resolve_job"]

#: Per-file limits of the Batch API input file (requests per file, bytes per file); we stay a little under.
MAX_REQUESTS = 50_000
MAX_BYTES = 190 * 1024 * 1024
ENDPOINT = "/v1/images/edits"
_FINAL = ("completed", "failed", "expired", "cancelled")
_CUSTOM_ID_PREFIX = "g2-"
_OLD_CUSTOM_ID = re.compile(r"[0-9a-f]{64}")


def make_custom_id(source_sha256: str, input_hw: tuple[int, int]) -> str:
    """The ``custom_id`` of one batch request: the original input's sha256 and (H, W), in 57 URL-safe characters.

    With the image as sent (in the body) and the job's settings (in the batch's metadata), this is all that is
    needed to rebuild the cache key, find the input by content and undo the send-time fit, from the API alone.
    """
    raw = bytes.fromhex(source_sha256) + struct.pack(">II", int(input_hw[0]), int(input_hw[1]))
    return _CUSTOM_ID_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_custom_id(custom_id: str) -> tuple[str, tuple[int, int]] | None:
    """``(source_sha256, (H, W))`` of a :func:`make_custom_id` id, or None for another id (e.g. the bare request
    key older jobs used)."""
    if not isinstance(custom_id, str) or not custom_id.startswith(_CUSTOM_ID_PREFIX):
        return None
    text = custom_id[len(_CUSTOM_ID_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 40:
        return None
    h, w = struct.unpack(">II", raw[32:])
    return raw[:32].hex(), (h, w)


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
        batches: one dict per JSONL file: ``file`` (local; None in a job rebuilt from the API), ``keys``,
            ``file_id``, ``batch_id``, ``status``, ``collected``.
        ids: ``custom_id -> key`` (a custom_id not listed is the key itself, as in older jobs).
        recovered_from: the batch id a job was rebuilt from (:func:`recover_job`), else None.
    """

    name: str
    set_name: str
    provider: dict[str, Any]
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: list[dict[str, Any]] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    recovered_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "set_name": self.set_name, "provider": self.provider, "requests": self.requests,
                "batches": self.batches, "ids": self.ids, "recovered_from": self.recovered_from}


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


def _metadata(bj: BatchJob) -> dict[str, str]:
    """The batch's metadata: enough, with the input file, to rebuild the job from the API (:func:`recover_job`)."""
    settings = json.dumps(bj.provider, separators=(",", ":"), sort_keys=True)
    if len(settings) > 512:         # the API's limit per metadata value
        raise ValueError(f"the request settings do not fit the batch metadata (512 characters): {settings[:80]}...")
    return {"gpt4o_prior_set": bj.set_name, "gpt4o_prior_job": bj.name, "gpt4o_prior_settings": settings}


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
        cid = make_custom_id(prep.source_sha256, prep.input_hw)
        line = (json.dumps(request_line(cid, prep.sent_png, provider.request_kwargs(size=prep.size))) + "\n"
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
        bj.ids[cid] = prep.key
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
                                            metadata=_metadata(bj))
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
                key = bj.ids.get(line.get("custom_id"), line.get("custom_id"))
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
                    out.missing[req["source_name"] or f"key {key[:16]}"] = str(reason)
        for key in set(b["keys"]) - answered:
            out.failed += 1
            out.missing[bj.requests[key]["source_name"] or f"key {key[:16]}"] = f"batch {b['status']}: no answer"
        b["collected"] = True
        _save(cache, bj)
    return out


def _ingest(cache: Any, bj: BatchJob, provider: OpenAIImagesProvider, key: str, req: dict[str, Any],
            line: dict[str, Any], price: Price | None) -> tuple[str, Any]:
    resp = line.get("response") or {}
    body = resp.get("body") or {}
    prepared = PreparedInput(source_name=req["source_name"], source_sha256=req["source_sha256"], input_hw=(0, 0),
                             size=req["size"], sent_png=b"", transform=req["transform"], key=key)
    input_path = Path(req.get("input_path") or "")
    if req.get("input_path") and input_path.is_file():
        prepared.image = decode_rgb(input_path.read_bytes(), req["source_name"])
    extra = {"endpoint": "batch", "batch_request_id": line.get("id")}
    if resp.get("status_code") == 200 and body.get("data"):
        png = base64.b64decode(body["data"][0]["b64_json"])
        usage = body.get("usage")
        cost = cost_from_usage(usage, price, discount=BATCH_DISCOUNT)
        with Image.open(io.BytesIO(png)) as im:
            returned = f"{im.size[0]}x{im.size[1]}"
        res = EditResult(status="ok", png=png, usage=usage, cost_usd=cost, request_id=resp.get("request_id"),
                         attempts=1, returned_size=returned)
        if req.get("source_sha256") is None:
            # rebuilt from an older job's batch: the key is known, the input is not. Keep the paid answer under its
            # key; the next `generate` / `batch submit` with the same settings links it to its input for free.
            cache.put(key, png, meta={"provider": provider.name, "model": provider.model, "usage": usage,
                                      "cost_usd": cost, "returned_size": returned, **extra})
            return "done", cost
        store_answer(cache, set_name=bj.set_name, provider=provider, prepared=prepared, result=res, extra_meta=extra)
        return "done", cost
    err = body.get("error") or line.get("error") or {}
    code = err.get("code")
    if req.get("source_sha256") is None:
        return "failed", f"{code}: {redact(str(err.get('message')))}"
    if code in ("moderation_blocked", "content_policy_violation") or err.get("type") == "image_generation_user_error":
        res = EditResult(status="refused", code=code or "moderation_blocked", reason=redact(str(err.get("message"))),
                         request_id=resp.get("request_id"), attempts=1)
        store_answer(cache, set_name=bj.set_name, provider=provider, prepared=prepared, result=res, extra_meta=extra)
        return "refused", code
    return "failed", f"{code}: {redact(str(err.get('message')))}"


# --- resuming from a bare batch id ----------------------------------------------------------------------------

def find_job(cache: Any, batch_id: str) -> str | None:
    """The name of the local job of ``cache`` that holds batch ``batch_id``, or None."""
    for name, raw in batch_job_files(cache):
        if any(b.get("batch_id") == batch_id for b in raw.get("batches", [])):
            return name
    return None


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def recover_job(cache: Any, batch_id: str, *, client: Any, set_name: str | None = None,
                inputs: Iterable[str | Path] | None = None) -> BatchJob:
    """Rebuild the job of batch ``batch_id`` from the API alone and save it to the cache's job folder.

    ``batches.retrieve`` gives the batch's metadata (the set, the job name, the request settings) and its input
    file; each line of that file gives the image as sent (its sha256 and the settings make the cache key, which is
    recomputed, not trusted) and, in its ``custom_id``, the original input's sha256 and size (to link the answer to
    its input by content and undo the send-time fit). Lines of older jobs (``custom_id`` = the key as paid, no
    settings in the metadata) are matched to ``inputs`` by the pixels sent (each input fitted as ``pad``,
    ``resize`` or ``crop`` to the line's size; the PNG bytes themselves may differ between versions) and stored
    under that key, linked to the input; without a match they are kept under their key only.

    Args:
        cache: a :class:`gpt4o_prior.cache.PriorCache`.
        batch_id: the batch id (``batch_...``).
        client: a sync ``openai.OpenAI`` / ``AzureOpenAI`` client.
        set_name: the set to fill; default the one recorded in the batch's metadata.
        inputs: optional image files of the dataset: inputs found among them by content are registered to their
            answers (without them the answers are only brought back to the input's geometry) and named; older
            jobs' lines need them to be linked to their inputs at all.

    Returns:
        the rebuilt :class:`BatchJob` (named after the original job, or after the batch id if that name is taken).

    Raises:
        ValueError: the batch carries no request settings and no set name (not submitted by gpt4o-prior, or by
            an older version: then pass ``set_name``), or a line cannot be read.
    """
    import numpy as np

    from ..fit import fit_to_size
    from ..cache import PriorSet, request_key, sha256_file, sha256_pixels

    try:
        got = client.batches.retrieve(batch_id)
    except Exception as e:  # noqa: BLE001 - an SDK error (unknown id, key, network): say what, without the key
        raise RuntimeError(f"cannot retrieve batch {batch_id}: {redact(f'{type(e).__name__}: {e}')}") from None
    meta = dict(_field(got, "metadata") or {})
    set_name = set_name or meta.get("gpt4o_prior_set")
    if not set_name:
        raise ValueError(f"batch {batch_id} has no gpt4o_prior_set in its metadata: pass --set NAME")
    settings = meta.get("gpt4o_prior_settings")
    provider = OpenAIImagesProvider(**json.loads(settings)) if settings else None
    input_file = _field(got, "input_file_id")
    if not input_file:
        raise ValueError(f"batch {batch_id} has no input file")
    inputs = [Path(p) for p in inputs] if inputs is not None else None
    by_sha = {sha256_file(p): p for p in inputs} if inputs is not None else {}
    fitted: dict[tuple[str, str], dict[str, tuple[Path, str, dict[str, Any]]]] = {}
    decoded: dict[Path, Any] = {}  # each input read and decoded once, whatever sizes and fit modes are tried
    old_fit: str | None = None

    def old_match(png: bytes, size: str) -> tuple[str, tuple[Path, str, dict[str, Any]]] | None:
        """(fit mode, (path, source sha256, transform)) of the input whose fitted pixels were sent, or None."""
        sent = sha256_pixels(decode_rgb(png, "sent image"))
        sw, sh = (int(v) for v in size.split("x"))
        for mode in ("pad", "resize", "crop"):
            if (size, mode) not in fitted:
                index = fitted[(size, mode)] = {}
                for src, p in by_sha.items():
                    if p not in decoded:
                        decoded[p] = decode_rgb(p.read_bytes(), p.name)
                    arr, rec = fit_to_size(decoded[p], (sw, sh), mode=mode)
                    index[sha256_pixels(np.ascontiguousarray(arr))] = (p, src, rec)
            if sent in fitted[(size, mode)]:
                return mode, fitted[(size, mode)][sent]
        return None

    requests: dict[str, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    first_body: dict[str, Any] | None = None
    try:
        content = _download(client, input_file)
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"cannot download the input file {input_file} of batch {batch_id}: "
                           f"{redact(f'{type(e).__name__}: {e}')}") from None
    for n, raw in enumerate(content.decode().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            cid, body = line["custom_id"], line["body"]
            png = base64.b64decode(body["images"][0]["image_url"].split(",", 1)[1])
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise ValueError(f"batch {batch_id}: line {n} of its input file is not an image-edit request ({e})") \
                from None
        first_body = first_body or body
        parsed = parse_custom_id(cid)
        if parsed is not None and provider is None:
            raise ValueError(f"batch {batch_id}: its metadata lacks gpt4o_prior_settings, which the cache key needs")
        if parsed is None:
            if not _OLD_CUSTOM_ID.fullmatch(cid):
                raise ValueError(f"batch {batch_id}: line {n} has custom_id {cid!r}, which gpt4o-prior did not write")
            # an older job: custom_id = the key as paid. Find the input among `inputs` whose fitted pixels are the
            # pixels sent (the PNG bytes may differ between versions), else keep the answer under its key only
            hit = old_match(png, str(body.get("size"))) if inputs is not None else None
            if hit is None:
                requests[cid] = {"source_name": None, "source_sha256": None, "size": body.get("size"),
                                 "transform": None, "input_path": None}
            else:
                old_fit, (path, src, transform) = hit
                requests[cid] = {"source_name": path.name, "source_sha256": src, "size": body.get("size"),
                                 "transform": transform, "input_path": str(path.resolve())}
            continue
        src, (h, w) = parsed
        sw, sh = (int(v) for v in str(body["size"]).split("x"))
        sent = decode_rgb(png, f"batch {batch_id}: line {n}'s image")
        if sent.shape[:2] != (sh, sw):
            raise ValueError(f"batch {batch_id}: line {n} sends a {sent.shape[1]}x{sent.shape[0]} image for size "
                             f"{body['size']}")
        key = request_key(**provider.key_fields(), input_sha256=sha256_pixels(sent))
        _, transform = fit_to_size(_zeros(h, w), (sw, sh), mode=provider.fit)
        path = by_sha.get(src)
        requests[key] = {"source_name": path.name if path else f"sha256:{src[:16]}", "source_sha256": src,
                         "size": body["size"], "transform": transform,
                         "input_path": str(path.resolve()) if path else None}
        ids[cid] = key
    if provider is None:
        if first_body is None:
            raise ValueError(f"batch {batch_id}: its input file is empty")
        # an older job: no settings recorded; describe the provider from a request body (for the sidecars)
        provider = _provider_from_body(first_body, fit=old_fit or "pad")
        if any(r["source_sha256"] for r in requests.values()):
            try:
                cache.get_set(set_name)
            except KeyError:
                cache.register_set(PriorSet(name=set_name, **provider.set_fields()))
    else:
        cache.register_set(PriorSet(name=set_name, **provider.set_fields()))
    name = meta.get("gpt4o_prior_job") or batch_id
    try:
        taken = job_path(cache, name).is_file()
    except ValueError:
        taken = True
    bj = BatchJob(name=batch_id if taken else name, set_name=set_name, provider=_provider_kwargs(provider),
                  requests=requests, ids=ids, recovered_from=batch_id,
                  batches=[{"file": None, "keys": list(requests), "file_id": input_file, "batch_id": batch_id,
                            "status": None, "collected": False}])      # None: the next status() refreshes it
    _save(cache, bj)
    return bj


def _zeros(h: int, w: int) -> Any:
    import numpy as np

    return np.zeros((h, w, 3), np.uint8)


def _provider_from_body(body: dict[str, Any], *, fit: str = "pad") -> OpenAIImagesProvider:
    """The settings of an older batch, as far as a request body tells them (used to label stored answers)."""
    from ..prompts import PROMPTS

    task, version = "restore", None
    for prompt in (p for versions in PROMPTS.values() for p in versions):
        if prompt.text == body.get("prompt"):
            task, version = prompt.id, prompt.version
    fid = body.get("input_fidelity")
    return OpenAIImagesProvider(model=body["model"], task=task, prompt_version=version, size=body.get("size", "auto"),
                                quality=body.get("quality", "auto"), input_fidelity=fid, fit=fit,
                                background=body.get("background"))


def resolve_job(cache: Any, *, job: str | None = None, batch_id: str | None = None, client: Any = None,
                set_name: str | None = None, inputs: Iterable[str | Path] | None = None) -> str:
    """The job name to work on, from a job name or a bare batch id.

    A batch id (``batch_id``, or a ``job`` that starts with ``batch_`` and is no job's name) is looked up in the
    cache's jobs (:func:`find_job`); if no job holds it, the job is rebuilt from the API (:func:`recover_job`).

    Example:
        >>> import tempfile
        >>> from gpt4o_prior.cache import PriorCache
        >>> resolve_job(PriorCache(tempfile.mkdtemp()), job="ohaze-1")
        'ohaze-1'
    """
    if job and batch_id:
        raise ValueError("give either --job or --batch, not both")
    if job and not batch_id:
        if not job.startswith("batch_") or job_path(cache, job).is_file():
            return job
        batch_id = job
    if not batch_id:
        raise ValueError("give --job NAME or --batch BATCH_ID")
    found = find_job(cache, batch_id)
    if found is not None:
        return found
    if client is None:
        raise ValueError(f"no local job holds batch {batch_id}; a client is needed to rebuild it from the API")
    return recover_job(cache, batch_id, client=client, set_name=set_name, inputs=inputs).name
