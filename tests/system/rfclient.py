"""Small helpers for the ringflow system tests.

* a raw-socket HTTP/1.1 client (``Conn``) that sends exactly the bytes given
  and parses responses strictly enough to notice framing bugs;
* ``Daemon``: start/stop a ringflow process on a loopback port;
* a tiny Prometheus text-format parser.

Everything here talks to 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = "build/release/src/app/ringflow"
HOST = "127.0.0.1"


def binary_path() -> Path:
    """RINGFLOW_BIN if set (relative paths are relative to the cwd), else the release build."""
    env = os.environ.get("RINGFLOW_BIN")
    if env:
        return Path(env).resolve()
    return REPO_ROOT / DEFAULT_BIN


def raise_nofile(want: int = 65536) -> int:
    """Raise the soft RLIMIT_NOFILE (inherited by daemons started later); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------


class NoResponse(AssertionError):
    """The server did not send a complete response in time (or closed early)."""


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def connection_tokens(self) -> set[str]:
        v = self.header("connection") or ""
        return {t.strip().lower() for t in v.split(",") if t.strip()}

    def __repr__(self) -> str:  # short, useful in assertion messages
        return (f"Response({self.status} {self.reason!r}, headers={self.headers!r}, "
                f"body={self.body[:300]!r})")


def _parse_head(head: bytes) -> Response:
    lines = head.split(b"\r\n")
    m = re.fullmatch(rb"(HTTP/\d\.\d) (\d{3}) ?(.*)", lines[0])
    if not m:
        raise NoResponse(f"bad status line: {lines[0]!r}")
    headers = []
    for ln in lines[1:]:
        if not ln:
            continue
        if b":" not in ln:
            raise NoResponse(f"bad response header line: {ln!r}")
        k, v = ln.split(b":", 1)
        headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    return Response(m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1"),
                    headers, raw_head=head)


class Conn:
    """One TCP connection with a receive buffer."""

    def __init__(self, port: int, timeout: float = 5.0, host: str = HOST):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.reset = False

    # -- sending ---------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, headers: dict | None = None,
                body: bytes = b"", version: str = "HTTP/1.1") -> None:
        hdrs = {"Host": "localhost"}
        if headers:
            hdrs.update(headers)
        if body and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        out = f"{method} {path} {version}\r\n".encode()
        for k, v in hdrs.items():
            if v is None:
                continue
            out += f"{k}: {v}\r\n".encode()
        self.send(out + b"\r\n" + body)

    # -- receiving -------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        """Read more bytes into buf. False on EOF/reset; NoResponse on timeout."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoResponse(f"timed out; received so far: {self.buf[:500]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise NoResponse(f"timed out; received so far: {self.buf[:500]!r}") from None
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise NoResponse(f"connection closed after {len(self.buf)}/{n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_line(self, deadline: float) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill(deadline):
                raise NoResponse(f"connection closed inside chunked body: {self.buf[:200]!r}")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_head(self, timeout: float | None = None) -> Response:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise NoResponse(
                    f"connection closed before a response head (reset={self.reset}); "
                    f"received: {self.buf[:500]!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return _parse_head(head)

    def read_response(self, head_request: bool = False, timeout: float | None = None,
                      allow_1xx: bool = False) -> Response:
        """Read one complete response. 1xx interim responses raise unless allow_1xx."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        resp = self.read_head(timeout=max(0.01, deadline - time.monotonic()))
        if 100 <= resp.status < 200:
            if not allow_1xx:
                raise NoResponse(f"unexpected interim response {resp!r}")
            return resp
        if head_request or resp.status in (204, 304):
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if "chunked" in te:
            body = b""
            for _ in range(100000):
                size = int(self._read_line(deadline).split(b";")[0], 16)
                if size == 0:
                    while self._read_line(deadline):
                        pass
                    break
                body += self._read_exact(size, deadline)
                if self._read_exact(2, deadline) != b"\r\n":
                    raise NoResponse("bad chunk terminator in response")
            resp.body = body
        elif cl is not None:
            resp.body = self._read_exact(int(cl), deadline)
        else:
            while self._fill(deadline):
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def wait_closed(self, timeout: float = 3.0) -> tuple[bool, bytes]:
        """Wait for EOF/RST. Returns (closed, extra bytes received meanwhile)."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except NoResponse:
            extra, self.buf = self.buf, b""
            return False, extra
        extra, self.buf = self.buf, b""
        return True, extra

    def readable_within(self, timeout: float) -> bool:
        if self.buf or self.eof:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(port: int, path: str, method: str = "GET", headers: dict | None = None,
        body: bytes = b"", timeout: float = 5.0) -> Response:
    """One request on a fresh connection (closed afterwards)."""
    with Conn(port, timeout=timeout) as c:
        c.request(method, path, headers=headers, body=body)
        return c.read_response(head_request=(method == "HEAD"))


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> tuple[Response, Conn]:
    """Send raw bytes on a new connection and read one response; caller closes."""
    c = Conn(port, timeout=timeout)
    try:
        c.send(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may reject before reading everything; the response may still be there
    return c.read_response(), c


IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT")


def assert_json_error(resp: Response, status: int) -> dict:
    """Status matches and the body is {"error":{"code":str,"message":str}} as application/json."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    ctype = (resp.header("content-type") or "").lower()
    assert ctype.startswith("application/json"), f"error Content-Type: {ctype!r} in {resp!r}"
    try:
        doc = resp.json()
    except ValueError as e:
        raise AssertionError(f"error body is not JSON: {resp.body[:300]!r}") from e
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), f"error shape: {doc!r}"
    err = doc["error"]
    assert isinstance(err.get("code"), str) and err["code"], f"error.code: {doc!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error.message: {doc!r}"
    return doc


# --------------------------------------------------------------------------
# Daemon process
# --------------------------------------------------------------------------


@dataclass
class Daemon:
    binary: Path
    workdir: Path
    args: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    affinity: set[int] | None = None  # CPU affinity mask for the daemon
    nofile: int | None = None  # RLIMIT_NOFILE for the daemon
    proc: subprocess.Popen | None = None
    killed: bool = False  # True if *we* had to SIGKILL it

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / "stderr.log"

    def start(self) -> "Daemon":
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        for k in list(env):  # never let the outer environment configure the daemon
            if k.startswith("RINGFLOW_") and k != "RINGFLOW_BIN":
                del env[k]
        env.update(self.env)
        with open(self.log_path, "wb") as err, open(self.workdir / "stdout.log", "wb") as out:
            cpus, nofile = self.affinity, self.nofile

            def pre():
                if cpus:
                    os.sched_setaffinity(0, cpus)
                if nofile:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            self.proc = subprocess.Popen([str(self.binary), *self.args], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=env, cwd=self.workdir,
                                         preexec_fn=pre)
        return self

    def cpu_seconds(self) -> float:
        """user+system CPU time the daemon has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_records(self) -> list[dict]:
        out = []
        for ln in self.log_text().splitlines():
            try:
                out.append(json.loads(ln))
            except ValueError:
                out.append({"_unparsed": ln})
        return out

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(
                    f"ringflow exited with {self.proc.returncode} before becoming ready; "
                    f"args={self.args}\nstderr tail:\n{self.log_tail()}")
            try:
                r = get(self.port, "/health/ready", timeout=1.0)
                if r.status == 200:
                    return
                last = f"status {r.status}"
            except (OSError, NoResponse) as e:
                last = repr(e)
            time.sleep(0.05)
        raise AssertionError(f"ringflow not ready on port {self.port} within {timeout}s ({last});"
                             f" args={self.args}\nstderr tail:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, term_timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after term_timeout. Returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            if self.wait(term_timeout) is None:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def crash_report(self) -> str | None:
        """None if the exit was fine, else a description."""
        rc = self.proc.returncode if self.proc else 0
        if rc is None:
            return None
        if rc < 0 and not (self.killed and rc == -signal.SIGKILL):
            return (f"ringflow (pid {self.pid}, args {self.args}) died from signal "
                    f"{signal.Signals(-rc).name}\nstderr tail:\n{self.log_tail()}")
        for marker in ("AddressSanitizer", "UndefinedBehaviorSanitizer", "terminate called",
                       "runtime error:", "Segmentation fault"):
            if marker in self.log_text():
                return f"crash marker {marker!r} in stderr:\n{self.log_tail()}"
        return None


# --------------------------------------------------------------------------
# Prometheus text format
# --------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for ln in text.splitlines():
        if not ln.strip() or ln.startswith("#"):
            continue
        m = _SAMPLE.match(ln)
        if not m:
            raise AssertionError(f"unparsable metrics line: {ln!r}")
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric_sum(samples, name: str, **labels) -> float:
    return sum(v for n, lab, v in samples
               if n == name and all(lab.get(k) == want for k, want in labels.items()))


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    r = get(port, "/metrics")
    assert r.status == 200, r
    return parse_metrics(r.body.decode())
