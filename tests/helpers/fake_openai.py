"""A fake OpenAI server for the tests: a real HTTP server on 127.0.0.1 that the real SDK talks to.

It implements what gpt4o-prior calls:

* ``POST /v1/images/edits`` (multipart, as the SDK sends it) and the Azure form
  ``POST /openai/deployments/{deployment}/images/edits?api-version=...``;
* ``POST /v1/files`` (multipart upload), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``;
* ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``.

An edit returns the input image resized to the requested size with a small brightness change, as ``b64_json``,
with a ``usage`` block. Faults can be injected per request:

* ``latency`` seconds before each edit answers;
* ``script``: a list of actions consumed one per edit request, in arrival order: ``"ok"``, ``"429"`` (with a
  ``retry-after`` header), ``"500"``, ``"hang"`` (sleep ``hang_s`` then drop), ``"drop"`` (close the connection
  without an answer), ``"moderation"`` (400 ``moderation_blocked``);
* ``fail_rate``: the fraction of edits (seeded, random) that fail with 429 or 500 when the script is empty;
* ``refuse_sha256``: input images (sha256 of the bytes received) that are always refused with
  ``moderation_blocked``;
* ``echo=False``: answer every request of one size with the same canned image (computed once), so that the
  server's own image work stays out of client throughput measurements.

Every request is recorded in ``server.requests`` (path, fields, input hash, status); the Authorization header is
checked against ``api_key`` but never recorded. ``server.paid(sha)`` counts the successful (billed) edits of an
input.

Usage as a fixture: ``fake_openai`` in ``tests/gpt4o_prior/providers/conftest.py``; or standalone for the benchmark::

    with FakeOpenAI(latency=1.0) as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url)
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

__all__ = ["FakeOpenAI", "RecordedRequest", "parse_multipart", "fake_edit_png"]


@dataclass
class RecordedRequest:
    method: str
    path: str
    status: int = 0
    action: str = "ok"
    fields: dict[str, str] = field(default_factory=dict)
    image_sha256: str | None = None
    authorized: bool = False
    time: float = 0.0
    t_end: float = 0.0


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    """Split a multipart/form-data body into text fields and files ``name -> (filename, content_type, data)``.

    A plain byte-level parser (RFC 7578: parts between ``--boundary`` lines, headers, a blank line, the data):
    several times faster than the ``email`` package on megabyte images, which matters because this server shares
    the machine with the client it measures. Raises ValueError on a body that is not multipart/form-data.
    """
    boundary = None
    for param in content_type.split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.lower() == "boundary":
            boundary = v.strip().strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise ValueError(f"not multipart/form-data with a boundary: {content_type!r}")
    delim = b"--" + boundary.encode("latin-1")
    pieces = body.split(b"\r\n" + delim)
    first = pieces[0]
    if not first.startswith(delim):
        raise ValueError("multipart body does not start with its boundary")
    pieces[0] = first[len(delim):]
    if not pieces[-1].startswith(b"--"):
        raise ValueError("multipart body has no closing boundary")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for piece in pieces[:-1]:
        head, sep, data = piece.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without a blank line after its headers")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        disp = headers.get("content-disposition", "")
        params = {}
        for item in disp.split(";")[1:]:
            k, _, v = item.strip().partition("=")
            v = v.strip()
            params[k.lower()] = v[1:-1].replace('\\"', '"') if len(v) >= 2 and v[0] == v[-1] == '"' else v
        name = params.get("name")
        if name is None:
            raise ValueError(f"multipart part without a name: {disp!r}")
        if "filename" in params:
            files[name] = (params["filename"], headers.get("content-type", "application/octet-stream"), data)
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def fake_edit_png(image_bytes: bytes, size: str | None) -> tuple[bytes, tuple[int, int]]:
    """The fake model: the input, resized to ``size`` ("WxH") and brightened a little, as PNG bytes."""
    img = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    if size and size != "auto":
        w, h = (int(v) for v in size.lower().split("x"))
        img = img.resize((w, h), Image.BILINEAR)
    arr = np.asarray(img).astype(np.int16) + 8
    out = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue(), img.size


def _usage(prompt: str, size: tuple[int, int], quality: str) -> dict[str, Any]:
    text = max(1, len(prompt.split()))
    out = int({"low": 272, "medium": 1056}.get(quality, 4160) * size[0] * size[1] / (1024 * 1024))
    return {"input_tokens": text + 500, "output_tokens": out, "total_tokens": text + 500 + out,
            "input_tokens_details": {"text_tokens": text, "image_tokens": 500},
            "output_tokens_details": {"image_tokens": out, "text_tokens": 0}}


class FakeOpenAI:
    """The fake server; a context manager (``with FakeOpenAI() as s: ... s.base_url``)."""

    def __init__(self, *, api_key: str = "sk-test-fake", latency: float = 0.0, script: list[str] | None = None,
                 fail_rate: float = 0.0, seed: int = 0, hang_s: float = 5.0, retry_after: float = 0.05,
                 refuse_sha256: set[str] | None = None, batch_polls: int = 1, echo: bool = True):
        self.api_key = api_key
        self.latency = latency
        self.script = list(script or [])
        self.fail_rate = fail_rate
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.refuse_sha256 = set(refuse_sha256 or ())
        self.batch_polls = batch_polls
        self.echo = echo
        self._canned: dict[str, tuple[bytes, tuple[int, int]]] = {}
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self._server: ThreadingHTTPServer | None = None

    # lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "FakeOpenAI":
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        """This process's environment plus what a subprocess needs to talk to this server (its key and URL,
        loopback outside any proxy, one OpenMP thread)."""
        env = dict(os.environ)
        env.update({"OPENAI_API_KEY": self.api_key, "OPENAI_BASE_URL": self.base_url,
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "OMP_NUM_THREADS": "1"})
        return env

    # queries for tests -------------------------------------------------------------------------------------
    def edits(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/images/edits")]

    def paid(self, sha: str | None = None) -> int:
        """Number of billed (200) edits, of one input hash or of all."""
        return sum(1 for r in self.edits() if r.status == 200 and (sha is None or r.image_sha256 == sha))

    def paid_per_input(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.edits():
            if r.status == 200:
                counts[r.image_sha256] = counts.get(r.image_sha256, 0) + 1
        return counts

    # behaviour ---------------------------------------------------------------------------------------------
    def next_action(self, image_sha: str | None) -> str:
        with self._lock:
            if image_sha is not None and image_sha in self.refuse_sha256:
                return "moderation"
            if self.script:
                return self.script.pop(0)
            if self.fail_rate and self._rng.random() < self.fail_rate:
                return self._rng.choice(["429", "500"])
            return "ok"

    def edit_response(self, fields: dict[str, str], image: bytes) -> dict[str, Any]:
        if self.echo:
            png, size = fake_edit_png(image, fields.get("size"))
        else:  # one canned answer per size: the server's own CPU time stays out of client benchmarks
            req = fields.get("size") or "auto"
            if req not in self._canned:
                self._canned[req] = fake_edit_png(image, req)
            png, size = self._canned[req]
        return {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(png).decode()}],
                "output_format": fields.get("output_format", "png"), "quality": fields.get("quality", "auto"),
                "size": f"{size[0]}x{size[1]}",
                "usage": _usage(fields.get("prompt", ""), size, fields.get("quality", "auto"))}

    def run_batch(self, batch: dict[str, Any]) -> None:
        """Complete a batch: answer every line of its input file into an output (and error) file."""
        lines = self.files[batch["input_file_id"]]["data"].decode().splitlines()
        out, err = [], []
        for line in lines:
            if not line.strip():
                continue
            req = json.loads(line)
            body = req["body"]
            url = body["images"][0]["image_url"]
            image = base64.b64decode(url.split(",", 1)[1])
            sha = hashlib.sha256(image).hexdigest()
            rec = RecordedRequest("BATCH", "/v1/images/edits", fields={k: str(v) for k, v in body.items()
                                                                        if k != "images"},
                                  image_sha256=sha, authorized=True, time=time.time())
            action = self.next_action(sha)
            rid = f"req_{uuid.uuid4().hex[:12]}"
            if action == "moderation":
                rec.status, rec.action = 400, action
                resp = {"status_code": 400, "request_id": rid, "body": {"error": {
                    "message": "Your request was rejected by the safety system.", "type": "image_generation_user_error",
                    "code": "moderation_blocked", "param": None}}}
                out.append({"id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": req["custom_id"],
                            "response": resp, "error": None})
            elif action in ("500", "429", "hang", "drop"):
                rec.status, rec.action = 500, action
                err.append({"id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": req["custom_id"],
                            "response": None, "error": {"code": "server_error", "message": "fake failure"}})
            else:
                rec.status = 200
                fields = {k: str(v) for k, v in body.items() if k != "images"}
                out.append({"id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": req["custom_id"],
                            "response": {"status_code": 200, "request_id": rid,
                                         "body": self.edit_response(fields, image)}, "error": None})
            self.requests.append(rec)
        batch["output_file_id"] = self.add_file("\n".join(json.dumps(o) for o in out).encode() + b"\n",
                                                "batch_output.jsonl", "batch_output")["id"] if out else None
        batch["error_file_id"] = self.add_file("\n".join(json.dumps(o) for o in err).encode() + b"\n",
                                               "batch_errors.jsonl", "batch_output")["id"] if err else None
        batch["status"] = "completed"
        batch["completed_at"] = int(time.time())
        batch["request_counts"] = {"total": len(out) + len(err),
                                   "completed": sum(1 for o in out if o["response"]["status_code"] == 200),
                                   "failed": len(err) + sum(1 for o in out if o["response"]["status_code"] != 200)}

    def add_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        fid = f"file-{uuid.uuid4().hex[:16]}"
        obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[fid] = {"meta": obj, "data": data}
        return obj


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients killed or timing out mid-request are part of the tests


class _Handler(BaseHTTPRequestHandler):
    server_owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # silent; and never logs headers
        pass

    # helpers -----------------------------------------------------------------------------------------------
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:12]}")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, *, code: str | None = None, etype: str = "invalid_request_error",
               headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": etype, "code": code, "param": None}},
                        headers)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _authorized(self) -> bool:
        key = self.server_owner.api_key
        auth = self.headers.get("Authorization", "")
        return auth == f"Bearer {key}" or self.headers.get("api-key", "") == key

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # routes ------------------------------------------------------------------------------------------------
    def _admit(self, method: str, path: str) -> RecordedRequest | None:
        """Record the request; answer 401 (and return None) when its key is wrong."""
        rec = RecordedRequest(method, path, authorized=self._authorized(), time=time.time())
        self.server_owner.requests.append(rec)
        if not rec.authorized:
            rec.status = 401
            self._error(401, "Incorrect API key provided.", code="invalid_api_key")
            return None
        return rec

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        body = self._body()
        owner = self.server_owner
        rec = self._admit("POST", path)
        if rec is None:
            return None
        if path.endswith("/images/edits"):
            return self._edit(rec, body)
        if path == "/v1/files":
            fields, files = parse_multipart(self.headers["Content-Type"], body)
            name, _, data = files["file"]
            rec.status = 200
            return self._send_json(200, owner.add_file(data, name, fields.get("purpose", "batch")))
        if path == "/v1/batches":
            req = json.loads(body)
            if req.get("input_file_id") not in owner.files:
                rec.status = 404
                return self._error(404, f"No such file: {req.get('input_file_id')}")
            bid = f"batch_{uuid.uuid4().hex[:16]}"
            batch = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "input_file_id": req["input_file_id"],
                     "completion_window": req.get("completion_window", "24h"), "status": "validating",
                     "created_at": int(time.time()), "metadata": req.get("metadata"),
                     "request_counts": {"total": 0, "completed": 0, "failed": 0}}
            owner.batches[bid] = batch
            owner._polls[bid] = 0
            rec.status = 200
            return self._send_json(200, batch)
        if path.startswith("/v1/batches/") and path.endswith("/cancel"):
            bid = path.split("/")[3]
            batch = owner.batches[bid]
            batch["status"] = "cancelled"
            rec.status = 200
            return self._send_json(200, batch)
        rec.status = 404
        return self._error(404, f"fake server: no route POST {path}")

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        owner = self.server_owner
        rec = self._admit("GET", path)
        if rec is None:
            return None
        parts = path.strip("/").split("/")
        rec.status = 200
        if len(parts) == 3 and parts[:2] == ["v1", "batches"] and parts[2] in owner.batches:
            batch = owner.batches[parts[2]]
            with owner._lock:
                owner._polls[parts[2]] += 1
                polls = owner._polls[parts[2]]
            if batch["status"] not in ("completed", "cancelled"):
                if polls >= owner.batch_polls:
                    owner.run_batch(batch)
                else:
                    batch["status"] = "in_progress"
            return self._send_json(200, batch)
        if len(parts) >= 3 and parts[:2] == ["v1", "files"] and parts[2] in owner.files:
            f = owner.files[parts[2]]
            if len(parts) == 4 and parts[3] == "content":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(f["data"])))
                self.end_headers()
                self.wfile.write(f["data"])
                return None
            return self._send_json(200, f["meta"])
        rec.status = 404
        return self._error(404, f"fake server: no route GET {path}")

    def _edit(self, rec: RecordedRequest, body: bytes) -> None:
        owner = self.server_owner
        try:
            fields, files = parse_multipart(self.headers["Content-Type"], body)
        except Exception as e:  # noqa: BLE001 - report any parse problem as a 400, like the API
            rec.status = 400
            return self._error(400, f"could not parse multipart body: {e}")
        image = files.get("image") or files.get("image[]")
        if image is None:
            rec.status = 400
            return self._error(400, "missing required parameter 'image'", code="missing_required_parameter")
        if image[1] not in ("image/png", "image/jpeg", "image/webp"):
            rec.status = 400
            return self._error(400, f"Invalid file: unsupported mimetype ('{image[1]}').",
                               code="invalid_image_format")
        rec.fields = fields
        if "deployments" in rec.path:
            rec.fields = {**fields, "model": rec.path.split("/")[3]}
        rec.image_sha256 = hashlib.sha256(image[2]).hexdigest()
        action = owner.next_action(rec.image_sha256)
        rec.action = action
        with owner._lock:
            owner.inflight += 1
            owner.max_inflight = max(owner.max_inflight, owner.inflight)
        try:
            return self._answer_edit(rec, action, fields, image[2])
        finally:
            with owner._lock:
                owner.inflight -= 1
            rec.t_end = time.time()

    def _answer_edit(self, rec: RecordedRequest, action: str, fields: dict[str, str], image: bytes) -> None:
        owner = self.server_owner
        if owner.latency:
            time.sleep(owner.latency)
        if action == "429":
            rec.status = 429
            return self._error(429, "Rate limit reached for images per minute.", code="rate_limit_exceeded",
                               etype="requests", headers={"retry-after": str(owner.retry_after),
                                                          "retry-after-ms": str(int(owner.retry_after * 1000))})
        if action == "500":
            rec.status = 500
            return self._error(500, "The server had an error while processing your request.", etype="server_error")
        if action == "hang":
            time.sleep(owner.hang_s)
            rec.status = -1
            return self._drop()
        if action == "drop":
            rec.status = -1
            return self._drop()
        if action == "moderation":
            rec.status = 400
            return self._error(400, "Your request was rejected as a result of our safety system.",
                               code="moderation_blocked", etype="image_generation_user_error")
        rec.status = 200
        return self._send_json(200, owner.edit_response(fields, image))
