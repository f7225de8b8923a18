"""A scriptable local HTTP/1.1 server for the engine's http steps.

It runs inside the test process (one thread accepting, one thread per
connection), binds 127.0.0.1 on a free port and is controlled by plain method
calls; no control endpoint exists.

    flaky.script("/pay", [503, 503, 200])   # i-th call gets the i-th status, the last repeats
    flaky.delay("/slow", 5.0)               # sleep before answering every call to /slow
    flaky.url("/pay")                       # "http://127.0.0.1:<port>/pay"
    flaky.calls("/pay")                     # calls received on /pay
    flaky.calls_by_key()                    # {Idempotency-Key: count} over every path
    flaky.requests("/pay")                  # [Call(...)], headers and bodies as received

Every answer (unless a script entry overrides it) is JSON:
``{"path", "method", "body": <parsed request body or null>, "call": n, "key"}``
where n is the 1-based number of the call on that path and body is the request
body parsed as JSON (the raw text when it is not JSON, null when empty).

A call is counted once its request (head and body) has been read completely,
before any delay, so a call the client abandons during a delay still counts
and is marked ``disconnected``. A client that goes away during a delay is
noticed within ~50 ms; the handler then drops the connection without writing.

Keys in paths: the query string is not part of the path (``/pay?x=1`` counts on
``/pay``); it is kept in ``Call.query``.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOST = "127.0.0.1"


@dataclass
class Reply:
    """A scripted answer. ``body`` None: the default echo JSON; bytes/str: sent as is
    (text/plain for str, application/octet-stream for bytes); anything else: JSON."""
    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    delay: float | None = None  # seconds, replaces the path's delay for this call


@dataclass
class Call:
    n: int  # 1-based, per path
    path: str
    query: str
    method: str
    headers: list  # [(name, value)] as received
    body: bytes
    json: object  # parsed body, the text if not JSON, None if empty
    key: str | None  # Idempotency-Key
    started: float  # time.monotonic() when the request was complete
    status: int | None = None  # status sent (None: nothing was sent)
    finished: float | None = None
    disconnected: bool = False  # the client went away before the answer

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def _parse_body(raw: bytes):
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client asks to close
    server_version = "flaky/1"
    timeout = 60  # idle keep-alive connections are closed after this

    # -- quiet -------------------------------------------------------------
    def log_message(self, fmt, *args):  # noqa: D401 - no stderr noise
        pass

    # -- methods -----------------------------------------------------------
    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- body --------------------------------------------------------------
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("EOF inside a chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.read(2)
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise ConnectionError("EOF inside the body")
        return data

    # -- waiting -----------------------------------------------------------
    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False if the client disconnected or the server is stopping."""
        owner: FlakyServer = self.server.owner
        deadline = time.monotonic() + seconds
        watch = True  # stop polling the socket once it holds pipelined bytes
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if owner._stopping.is_set():
                return False
            step = min(remaining, 0.05)
            if not watch:
                owner._stopping.wait(step)
                continue
            try:
                r, _, _ = select.select([self.connection], [], [], step)
            except (OSError, ValueError):
                return False
            if not r:
                continue
            try:
                peek = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                return False
            if not peek:
                return False  # EOF: the client closed (or half-closed) its side
            watch = False

    # -- one request -------------------------------------------------------
    def _serve(self):
        owner: FlakyServer = self.server.owner
        body = self._read_body()
        split = urlsplit(self.path)
        call = owner._record(self.command, split.path, split.query,
                             list(self.headers.items()), body)
        reply, delay = owner._plan(split.path, call.n)
        if delay and delay > 0 and not self._wait(delay):
            call.disconnected = not owner._stopping.is_set()
            call.finished = time.monotonic()
            self.close_connection = True
            return
        status = reply.status
        if reply.body is None:
            payload = json.dumps({"path": split.path, "method": self.command, "body": call.json,
                                  "call": call.n, "key": call.key}).encode()
            ctype = "application/json"
        elif isinstance(reply.body, bytes):
            payload, ctype = reply.body, "application/octet-stream"
        elif isinstance(reply.body, str):
            payload, ctype = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = json.dumps(reply.body).encode(), "application/json"
        no_body = status in (204, 304) or 100 <= status < 200
        try:
            self.send_response(status)
            hdrs = {"Content-Type": ctype}
            hdrs.update(reply.headers)
            for k, v in hdrs.items():
                self.send_header(k, v)
            if not no_body:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if not no_body and self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            call.disconnected = True
            call.finished = time.monotonic()
            self.close_connection = True
            return
        call.status = status
        call.finished = time.monotonic()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, owner: "FlakyServer"):
        self.owner = owner
        super().__init__((HOST, 0), _Handler)

    def process_request(self, request, client_address):
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                             name="flaky-conn", daemon=True)
        with self.owner._lock:
            self.owner._socks.add(request)
            self.owner._threads = [x for x in self.owner._threads if x.is_alive()]
            self.owner._threads.append(t)
            self.owner.connections += 1
        t.start()

    def shutdown_request(self, request):
        with self.owner._lock:
            self.owner._socks.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return  # clients going away (or idling out) is normal here
        if self.owner._stopping.is_set() and isinstance(exc, OSError):
            return  # sockets shut down by stop()
        self.owner.errors.append(traceback.format_exc())


class FlakyServer:
    """See the module docstring. Thread-safe; every wait is bounded."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._socks: set = set()
        self._threads: list[threading.Thread] = []
        self._scripts: dict[str, tuple[list, int]] = {}  # path -> (entries, calls when set)
        self._delays: dict[str, float] = {}
        self._calls: list[Call] = []
        self._per_path: dict[str, int] = {}
        self.errors: list[str] = []  # unexpected handler exceptions (tracebacks)
        self.connections = 0  # connections accepted
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "FlakyServer":
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, name="flaky-accept",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stops accepting, wakes delayed handlers, closes every connection and joins the
        threads. Returns a list of problems (threads that did not finish); [] when clean."""
        if self._server is None:
            return []
        self._stopping.set()
        self._server.shutdown()
        self._thread.join(timeout)
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._server.server_close()
        self._server = None
        stuck = [t for t in threads if t.is_alive()]
        return [f"{len(stuck)} flaky connection thread(s) still running after stop"] if stuck else []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "flaky server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- behaviour ---------------------------------------------------------
    def script(self, path: str, entries) -> None:
        """From the next call on `path`: the i-th call gets entries[i] (an int status or a
        Reply); the last entry repeats. Call numbers (and counts) are not reset."""
        entries = list(entries)
        assert entries, "a script needs at least one entry"
        for e in entries:
            assert isinstance(e, (int, Reply)), f"script entry {e!r}: int status or Reply"
        with self._lock:
            self._scripts[path] = (entries, self._per_path.get(path, 0))

    def delay(self, path: str, seconds: float | None) -> None:
        """Sleep `seconds` before answering each call on `path` (None or 0: no delay)."""
        with self._lock:
            if seconds:
                self._delays[path] = float(seconds)
            else:
                self._delays.pop(path, None)

    def reset(self) -> None:
        """Forget scripts, delays and recorded calls."""
        with self._lock:
            self._scripts.clear()
            self._delays.clear()
            self._calls.clear()
            self._per_path.clear()

    # -- observation -------------------------------------------------------
    def calls(self, path: str | None = None) -> int:
        with self._lock:
            if path is None:
                return len(self._calls)
            return self._per_path.get(path, 0)

    def calls_by_key(self, path: str | None = None) -> dict[str, int]:
        """Idempotency-Key -> number of calls carrying it (calls without one are left out)."""
        out: dict[str, int] = {}
        with self._lock:
            for c in self._calls:
                if c.key is not None and (path is None or c.path == path):
                    out[c.key] = out.get(c.key, 0) + 1
        return out

    def requests(self, path: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if path is None or c.path == path]

    def wait_calls(self, path: str | None, n: int, timeout: float) -> bool:
        """True once at least n calls were received on `path` (None: any), False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.calls(path) >= n:
                return True
            time.sleep(0.01)
        return self.calls(path) >= n

    def wait_disconnect(self, path: str, timeout: float) -> bool:
        """True once some call on `path` was abandoned by its client."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(c.disconnected for c in self.requests(path)):
                return True
            time.sleep(0.02)
        return any(c.disconnected for c in self.requests(path))

    # -- internals (handler threads) ---------------------------------------
    def _record(self, method, path, query, headers, body) -> Call:
        key = None
        for k, v in headers:
            if k.lower() == "idempotency-key":
                key = v
        with self._lock:
            n = self._per_path.get(path, 0) + 1
            self._per_path[path] = n
            call = Call(n=n, path=path, query=query, method=method, headers=headers, body=body,
                        json=_parse_body(body), key=key, started=time.monotonic())
            self._calls.append(call)
        return call

    def _plan(self, path: str, n: int) -> tuple[Reply, float | None]:
        with self._lock:
            entries, base = self._scripts.get(path, ([200], 0))
            delay = self._delays.get(path)
        i = min(max(n - base - 1, 0), len(entries) - 1)
        e = entries[i]
        reply = e if isinstance(e, Reply) else Reply(status=e)
        return reply, (reply.delay if reply.delay is not None else delay)
