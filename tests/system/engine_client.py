"""Helpers for the engine API (/v1) system tests, over rfclient's raw HTTP client.

Every call takes ``d``: a running rfclient.Daemon (or a bare port number).
Tuple helpers return ``ApiReply``: it unpacks as ``(status, json)`` and keeps the
full response in ``.resp`` (headers, raw body). ``json`` is None when the body is
empty or not JSON.

Error codes: src/api/README.md names the 404/409/422 codes only. For the others
the tests pin the codes the API code emits (src/api/detail): 400 ``invalid_json``
(the body does not parse) and ``invalid_argument`` (a bad value: query
parameter, body field, header, path id); 405 ``method_not_allowed`` and 404
``not_found`` (no route) from the HTTP layer; 413 ``payload_too_large``; 415
``unsupported_media_type``. See the ERR_* constants; they belong in the README.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import rfclient
from rfclient import Conn, NoResponse

# Error codes the tests expect.
ERR_INVALID_JSON = "invalid_json"                  # 400: the body is not JSON
ERR_INVALID_ARGUMENT = "invalid_argument"          # 400: bad query value, body field, header, id
ERR_NOT_FOUND = "not_found"                        # 404: no route (HTTP layer)
ERR_WORKFLOW_NOT_FOUND = "workflow_not_found"      # 404
ERR_RUN_NOT_FOUND = "run_not_found"                # 404
ERR_STEP_NOT_FOUND = "step_not_found"              # 404
ERR_METHOD_NOT_ALLOWED = "method_not_allowed"      # 405 (HTTP layer)
ERR_CONFLICT = "conflict"                          # 409
ERR_TOO_LARGE = "payload_too_large"                # 413
ERR_UNSUPPORTED_MEDIA = "unsupported_media_type"   # 415
ERR_INVALID_DEFINITION = "invalid_definition"      # 422

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
RUN_STATUSES = frozenset({"queued", "pending", "running", "waiting", "succeeded", "failed",
                          "cancelled"})
STEP_STATUSES = frozenset({"pending", "running", "retrying", "waiting", "succeeded", "failed",
                           "skipped", "cancelled"})
# UUIDv7 in canonical lowercase form (src/store/run_id.h).
RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# Well-formed but never issued (unix ms 0).
UNKNOWN_RUN_ID = "00000000-0000-7000-8000-000000000000"


def _port(d) -> int:
    return d if isinstance(d, int) else d.port


class ApiReply(tuple):
    """(status, json) with the response attached."""

    resp: rfclient.Response

    def __new__(cls, resp: rfclient.Response):
        doc = None
        if resp.body:
            try:
                doc = json.loads(resp.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                doc = None
        obj = super().__new__(cls, (resp.status, doc))
        obj.resp = resp
        return obj

    @property
    def status(self) -> int:
        return self[0]

    @property
    def json(self):
        return self[1]

    def __repr__(self) -> str:
        return f"ApiReply({self.resp!r})"


def request(d, method: str, path: str, body=None, headers: dict | None = None,
            timeout: float = 10.0, content_type: str | None = "application/json") -> rfclient.Response:
    """One request on a fresh connection. body: None (no body), bytes/str (sent as is) or any
    other value (sent as JSON). Content-Type is content_type when there is a body (None: no
    Content-Type header); an explicit header in `headers` wins."""
    hdrs: dict = {}
    raw = b""
    if body is not None:
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = json.dumps(body).encode()
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        hdrs["Content-Length"] = str(len(raw))
    if headers:
        hdrs.update(headers)
    c = Conn(_port(d), timeout=timeout)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n".encode()
        for k, v in hdrs.items():
            if v is not None:
                head += f"{k}: {v}\r\n".encode("latin-1")
        try:
            c.send(head + b"\r\n" + raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # rejected before the whole body was read; the answer may be there
        return c.read_response(head_request=(method == "HEAD"), timeout=timeout)
    finally:
        c.close()


def call(d, method: str, path: str, body=None, headers: dict | None = None,
         timeout: float = 10.0, content_type: str | None = "application/json") -> ApiReply:
    return ApiReply(request(d, method, path, body, headers, timeout, content_type))


def post(d, path: str, body=None, headers: dict | None = None, timeout: float = 10.0) -> ApiReply:
    return call(d, "POST", path, body, headers, timeout)


def get_json(d, path: str, timeout: float = 10.0) -> ApiReply:
    return call(d, "GET", path, timeout=timeout)


# --------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------


def chain(*ids, **extra) -> dict:
    """A definition of noop steps, each depending on the previous one; extra top-level keys
    (description=..., retry=...) are added as given."""
    steps = []
    for i, sid in enumerate(ids):
        s = {"id": sid, "type": "noop"}
        if i:
            s["depends_on"] = [ids[i - 1]]
        steps.append(s)
    d = {"steps": steps}
    d.update(extra)
    return d


def now_ms() -> int:
    return int(time.time() * 1000)


def put_workflow(d, name: str, definition, timeout: float = 10.0) -> ApiReply:
    """definition: a dict (sent as JSON) or the exact text/bytes to send."""
    return call(d, "PUT", f"/v1/workflows/{name}", definition, timeout=timeout)


def get_workflow(d, name: str, version: int | None = None) -> ApiReply:
    q = f"?version={version}" if version is not None else ""
    return get_json(d, f"/v1/workflows/{name}{q}")


def list_workflows(d) -> ApiReply:
    return get_json(d, "/v1/workflows")


def delete_workflow(d, name: str) -> ApiReply:
    return call(d, "DELETE", f"/v1/workflows/{name}")


def must_put(d, name: str, definition) -> int:
    """PUT that must create a version (201); returns the version."""
    st, doc = put_workflow(d, name, definition)
    assert st == 201, f"PUT {name}: {st} {doc}"
    return doc["version"]


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------

_UNSET = object()


def wait_seconds(wait) -> float:
    """'250ms' / '5s' / '1m' / a number of seconds -> seconds."""
    if wait is None:
        return 0.0
    if isinstance(wait, (int, float)):
        return float(wait)
    m = re.fullmatch(r"(\d+)(ms|s|m)", wait)
    if not m:
        return 0.0
    n = int(m.group(1))
    return n / 1000 if m.group(2) == "ms" else n if m.group(2) == "s" else n * 60


def _wait_param(wait) -> str:
    if isinstance(wait, (int, float)):
        return f"{int(round(wait * 1000))}ms"
    return str(wait)


def start(d, name: str, input=_UNSET, key: str | None = None, wait=None,
          priority: str | None = None, body=_UNSET, timeout: float | None = None) -> ApiReply:
    """POST /v1/workflows/{name}/runs. Without input and priority no body is sent; `body`
    overrides the body entirely. wait: '5s' style or seconds."""
    path = f"/v1/workflows/{name}/runs"
    if wait is not None:
        path += "?wait=" + quote(_wait_param(wait), safe="")
    if body is _UNSET:
        b = {}
        if input is not _UNSET:
            b["input"] = input
        if priority is not None:
            b["priority"] = priority
        body = b or None
    headers = {"Idempotency-Key": key} if key is not None else None
    t = timeout if timeout is not None else 10.0 + wait_seconds(wait)
    return call(d, "POST", path, body, headers, timeout=t)


def partition_of(run_id: str) -> int:
    """The partition a run id names (store/run_id.h: the id's byte 7)."""
    return int(run_id.replace("-", "")[14:16], 16)


def get_run(d, run_id: str) -> ApiReply:
    return get_json(d, f"/v1/runs/{run_id}")


def must_start(d, name: str, **kw) -> dict:
    st, doc = start(d, name, **kw)
    assert st in (200, 201, 202), f"start {name}: {st} {doc}"
    return doc


def list_runs(d, **params) -> ApiReply:
    q = urlencode({k: v for k, v in params.items() if v is not None})
    return get_json(d, "/v1/runs" + (f"?{q}" if q else ""))


def list_all_runs(d, page: int = 1000, max_pages: int = 1000, path: str = "/v1/runs",
                  **params) -> list[dict]:
    """Follows next_cursor to the end (bounded)."""
    out: list[dict] = []
    cursor = None
    for _ in range(max_pages):
        q = {k: v for k, v in params.items() if v is not None}
        q["limit"] = page
        if cursor is not None:
            q["cursor"] = cursor
        st, doc = get_json(d, f"{path}?{urlencode(q)}")
        assert st == 200, f"GET {path}: {st} {doc}"
        out.extend(doc["runs"])
        cursor = doc["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError(f"{path} pagination did not end within {max_pages} pages")


def cancel(d, run_id: str) -> ApiReply:
    return post(d, f"/v1/runs/{run_id}/cancel")


def retry_run(d, run_id: str) -> ApiReply:
    return post(d, f"/v1/runs/{run_id}/retry")


def signal_run(d, run_id: str, name: str, payload=_UNSET) -> ApiReply:
    """payload omitted: an empty body (the signal's payload is then null)."""
    body = None if payload is _UNSET else json.dumps(payload).encode()
    return call(d, "POST", f"/v1/runs/{run_id}/signals/{name}", body)


def wait_until(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls pred() until it returns something truthy; returns it. AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


def wait_status(d, run_id: str, statuses, timeout: float = 10.0) -> dict:
    """Polls GET /v1/runs/{id} until its status is in `statuses`; returns the run."""
    if isinstance(statuses, str):
        statuses = {statuses}
    deadline = time.monotonic() + timeout
    doc = None
    while True:
        st, doc = get_run(d, run_id)
        assert st == 200, f"GET run {run_id}: {st} {doc}"
        if doc["status"] in statuses:
            return doc
        if time.monotonic() >= deadline:
            raise AssertionError(f"run {run_id} not in {sorted(statuses)} within {timeout}s: {doc}")
        time.sleep(0.05)


def wait_terminal(d, run_id: str, timeout: float = 10.0) -> dict:
    return wait_status(d, run_id, TERMINAL, timeout)


def wait_step_status(d, run_id: str, step_id: str, statuses, timeout: float = 10.0) -> dict:
    if isinstance(statuses, str):
        statuses = {statuses}
    deadline = time.monotonic() + timeout
    while True:
        st, doc = get_run(d, run_id)
        assert st == 200, f"GET run {run_id}: {st} {doc}"
        s = step(doc, step_id)
        if s["status"] in statuses:
            return doc
        if time.monotonic() >= deadline:
            raise AssertionError(f"step {step_id} of {run_id} not in {sorted(statuses)} "
                                 f"within {timeout}s: {doc}")
        time.sleep(0.05)


def step(run: dict, step_id: str) -> dict:
    """The step `step_id` of a run document (steps are listed in execution order, so look
    them up by id)."""
    for s in run["steps"]:
        if s["id"] == step_id:
            return s
    raise AssertionError(f"no step {step_id!r} in run {run.get('id')}: {[s['id'] for s in run['steps']]}")


def check_run_shape(run: dict) -> None:
    """The run document's fields and types as src/api/README.md lists them."""
    for k in ("id", "workflow", "version", "status", "priority", "input", "created_ms",
              "updated_ms", "finished_ms", "steps"):
        assert k in run, f"run lacks {k!r}: {run}"
    assert RUN_ID.fullmatch(run["id"]), run["id"]
    assert run["status"] in RUN_STATUSES, run
    assert run["priority"] in ("critical", "default", "low"), run
    assert isinstance(run["version"], int) and run["version"] >= 1, run
    assert isinstance(run["created_ms"], int) and isinstance(run["updated_ms"], int), run
    assert run["updated_ms"] >= run["created_ms"], run
    if run["status"] in TERMINAL:
        assert isinstance(run["finished_ms"], int) and run["finished_ms"] >= run["created_ms"], run
    else:
        assert run["finished_ms"] is None, run
    if run["status"] == "succeeded":
        assert "output" in run, run
    if run["status"] == "failed":
        assert isinstance(run.get("error"), dict) and isinstance(run["error"].get("message"), str), run
    for s in run["steps"]:
        assert s["status"] in STEP_STATUSES, s
        assert isinstance(s["attempts"], list), s
        for a in s["attempts"]:
            assert isinstance(a["started_ms"], int) and a["started_ms"] >= run["created_ms"], (a, run)
            if a["finished_ms"] is not None:
                assert a["finished_ms"] >= a["started_ms"], a
        if s["status"] == "succeeded":
            assert "output" in s, s


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def assert_error(reply, status: int, code: str, field: str | None = None) -> dict:
    """The one error shape with this status and code (and field, if given). Returns error."""
    resp = reply.resp if isinstance(reply, ApiReply) else reply
    doc = rfclient.assert_json_error(resp, status)
    err = doc["error"]
    assert err["code"] == code, f"expected code {code!r}, got {err['code']!r}: {doc}"
    if field is not None:
        assert err.get("field") == field, f"expected field {field!r}: {doc}"
    return err


def validation_errors(reply) -> list[dict]:
    """422 invalid_definition: the `errors` list [{field, message}] (where the README puts it:
    inside `error`; also accepted at the top level of the body)."""
    err = assert_error(reply, 422, ERR_INVALID_DEFINITION)
    doc = reply.json
    errors = err.get("errors", doc.get("errors"))
    assert isinstance(errors, list) and errors, f"422 without an errors list: {doc}"
    for e in errors:
        assert isinstance(e.get("field"), str), f"error entry without field: {e}"
        assert isinstance(e.get("message"), str) and e["message"], f"error entry without message: {e}"
    return errors


# --------------------------------------------------------------------------
# Server-Sent Events
# --------------------------------------------------------------------------


@dataclass
class SseFrame:
    kind: str  # "event" or "comment"
    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None

    @property
    def json(self):
        return json.loads(self.data) if self.data is not None else None


class SseStream:
    """GET an SSE path on its own connection and parse frames incrementally.

    Handles chunked and close-delimited bodies. ``ended``: the body is complete (terminal
    chunk, or EOF); ``eof``: the server closed the connection."""

    def __init__(self, d, path: str, last_event_id=None, timeout: float = 5.0,
                 headers: dict | None = None):
        self.conn = Conn(_port(d), timeout=timeout)
        hdrs = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = str(last_event_id)
        if headers:
            hdrs.update(headers)
        self.conn.request("GET", path, headers=hdrs)
        self.resp = self.conn.read_head(timeout)
        self.status = self.resp.status
        te = (self.resp.header("transfer-encoding") or "").lower()
        self.chunked = "chunked" in te
        cl = self.resp.header("content-length")
        self.remaining = int(cl) if cl is not None else None
        self.ended = False
        self.frames: list[SseFrame] = []
        self._text = ""
        self._cur: dict = {}
        self._chunk_left = 0  # bytes left in the current chunk (+2 for its CRLF)
        self.body = b""  # raw decoded body so far (for error responses)

    @property
    def eof(self) -> bool:
        return self.conn.eof

    @property
    def content_type(self) -> str:
        return (self.resp.header("content-type") or "").lower()

    def events(self) -> list[SseFrame]:
        return [f for f in self.frames if f.kind == "event"]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- decoding ----------------------------------------------------------
    def _take_body(self) -> bytes:
        """Moves decoded body bytes out of the connection buffer."""
        c = self.conn
        if not self.chunked:
            if self.remaining is None:
                out, c.buf = c.buf, b""
                if c.eof:
                    self.ended = True
                return out
            out, c.buf = c.buf[:self.remaining], c.buf[self.remaining:]
            self.remaining -= len(out)
            if self.remaining == 0:
                self.ended = True
            return out
        out = b""
        while not self.ended:
            if self._chunk_left > 0:
                if not c.buf:
                    break
                take = c.buf[:self._chunk_left]
                c.buf = c.buf[len(take):]
                self._chunk_left -= len(take)
                # the last two bytes of each chunk are its CRLF, not data
                data_part = take
                if self._chunk_left < 2:
                    data_part = take[:len(take) - (2 - self._chunk_left)]
                out += data_part
                continue
            if b"\r\n" not in c.buf:
                break
            line, rest = c.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                if b"\r\n" not in rest:
                    break  # wait for the (empty) trailer section
                c.buf = rest.split(b"\r\n", 1)[1] if rest.startswith(b"\r\n") else rest
                self.ended = True
                break
            c.buf = rest
            self._chunk_left = size + 2
        if c.eof and not self.ended:
            self.ended = True  # closed mid-stream: nothing more will come
        return out

    def _feed(self, data: bytes) -> list[SseFrame]:
        self.body += data
        self._text += data.decode("utf-8", errors="replace")
        new: list[SseFrame] = []
        while True:
            idx = self._text.find("\n")
            if idx < 0:
                break
            line, self._text = self._text[:idx], self._text[idx + 1:]
            if line.endswith("\r"):
                line = line[:-1]
            if line == "":
                if self._cur:
                    f = SseFrame("event", id=self._cur.get("id"), event=self._cur.get("event"),
                                 data="\n".join(self._cur["data"]) if "data" in self._cur else None)
                    new.append(f)
                    self._cur = {}
                continue
            if line.startswith(":"):
                text = line[1:]
                new.append(SseFrame("comment", comment=text[1:] if text.startswith(" ") else text))
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._cur.setdefault("data", []).append(value)
            elif name in ("id", "event", "retry"):
                self._cur[name] = value
        self.frames.extend(new)
        return new

    def poll(self, timeout: float) -> list[SseFrame]:
        """Reads what arrives within `timeout` (at most one recv); returns new frames."""
        new = self._feed(self._take_body())
        if new or self.ended:
            return new
        try:
            self.conn._fill(time.monotonic() + max(timeout, 0.001))
        except NoResponse:
            return []
        return self._feed(self._take_body())

    def read_until(self, pred, timeout: float) -> SseFrame | None:
        """Reads until a new frame satisfies pred (returned), the body ends or the timeout
        passes (None)."""
        deadline = time.monotonic() + timeout
        while True:
            for f in self.poll(max(0.0, min(0.2, deadline - time.monotonic()))):
                if pred(f):
                    return f
            if self.ended or time.monotonic() >= deadline:
                return None

    def read_for(self, seconds: float) -> list[SseFrame]:
        """Everything that arrives within `seconds` (or until the body ends)."""
        start = len(self.frames)
        deadline = time.monotonic() + seconds
        while not self.ended and time.monotonic() < deadline:
            self.poll(max(0.001, min(0.2, deadline - time.monotonic())))
        return self.frames[start:]

    def read_to_end(self, timeout: float) -> bool:
        """Reads until the body ends; True if it did within `timeout`."""
        self.read_for(timeout)
        return self.ended


class SseResult(list):
    """A list of SseFrame plus how the stream went."""
    status: int
    resp: rfclient.Response
    ended: bool  # the server finished the body / closed within the timeout
    eof: bool

    def events(self) -> list[SseFrame]:
        return [f for f in self if f.kind == "event"]

    def comments(self) -> list[str]:
        return [f.comment for f in self if f.kind == "comment"]


def sse_events(d, path: str, last_event_id=None, timeout: float = 10.0) -> SseResult:
    """Every frame of an SSE response until the server ends it or `timeout` passes."""
    with SseStream(d, path, last_event_id=last_event_id, timeout=min(timeout, 10.0)) as s:
        if s.status == 200:
            s.read_to_end(timeout)
        else:
            s.read_to_end(min(timeout, 5.0))
        out = SseResult(s.frames)
        out.status, out.resp, out.ended, out.eof = s.status, s.resp, s.ended, s.eof
        out.resp.body = s.body
        return out


def check_event_frames(frames, run_id: str | None = None) -> list[dict]:
    """The framing of each event (id == data.seq, event == data.type, data.run), returns the
    parsed data objects."""
    out = []
    for f in frames:
        if f.kind != "event":
            continue
        assert f.data is not None, f"event without data: {f}"
        doc = f.json
        for k in ("seq", "type", "run", "at_ms"):
            assert k in doc, f"event data lacks {k!r}: {doc}"
        assert f.id == str(doc["seq"]), f"id: {f.id!r} vs data.seq {doc['seq']!r}"
        assert f.event == doc["type"], f"event: {f.event!r} vs data.type {doc['type']!r}"
        if run_id is not None:
            assert doc["run"] == run_id, doc
        assert isinstance(doc["at_ms"], int), doc
        out.append(doc)
    return out


# --------------------------------------------------------------------------
# Daemons
# --------------------------------------------------------------------------


def data_dir(d: rfclient.Daemon) -> str:
    """The --data-dir the daemon was started with (the last one wins)."""
    args = d.args
    dirs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--data-dir"]
    assert dirs, args
    return dirs[-1]


def relaunch(launch, d: rfclient.Daemon, *flags: str, **kw) -> rfclient.Daemon:
    """A new daemon (new port) on d's data dir; d must have exited."""
    assert not d.alive(), "relaunch: the old daemon is still running"
    return launch(*flags, "--data-dir", data_dir(d), **kw)


def kill9(d: rfclient.Daemon) -> None:
    """SIGKILL, as a crash; marked so the launcher does not report it as one."""
    d.killed = True
    os.kill(d.pid, signal.SIGKILL)
    assert d.wait(10.0) is not None, "SIGKILLed daemon did not exit"


def term(d: rfclient.Daemon, timeout: float = 15.0) -> None:
    """Graceful stop (SIGTERM); it must exit 0."""
    rc = d.stop(term_timeout=timeout)
    assert rc == 0, f"ringflow exited {rc} on SIGTERM\n{d.log_tail()}"
