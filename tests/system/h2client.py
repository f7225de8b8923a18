"""A small HTTP/2 test client over python3-h2 (the protocol state machine) and a plain socket,
plus raw frame helpers for the abuse cases that h2 itself refuses to produce."""

from __future__ import annotations

import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

HOST = "127.0.0.1"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and error codes (RFC 9113).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = (
    0, 1, 2, 7, 8, 11)


class StreamState:
    def __init__(self):
        self.headers: dict[str, str] = {}
        self.data = bytearray()
        self.ended = False
        self.reset: int | None = None  # error code of a RST_STREAM from the server

    @property
    def status(self) -> int | None:
        s = self.headers.get(":status")
        return int(s) if s else None


class H2Client:
    """One HTTP/2 connection. `upgrade_path`: start with an HTTP/1.1 `Upgrade: h2c` GET of that
    path (stream 1) instead of the prior-knowledge preface."""

    def __init__(self, port: int, timeout: float = 5.0, upgrade_path: str | None = None,
                 settings: dict | None = None, tls: ssl.SSLContext | None = None):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        if tls is not None:  # HTTP/2 chosen by ALPN
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
            assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.timeout = timeout
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.streams: dict[int, StreamState] = {}
        self.no_ack: set[int] = set()  # streams whose DATA is not acknowledged (no WINDOW_UPDATE)
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.closed = False
        self.upgrade_head = b""
        if upgrade_path is None:
            self.conn.initiate_connection()
            if settings:
                self.conn.update_settings(settings)
            self.flush()
        else:
            b64 = self.conn.initiate_upgrade_connection(settings)
            if isinstance(b64, bytes):
                b64 = b64.decode()
            self.sock.sendall(
                (f"GET {upgrade_path} HTTP/1.1\r\nHost: localhost\r\n"
                 f"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                 f"HTTP2-Settings: {b64}\r\n\r\n").encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = self.sock.recv(65536)
                assert chunk, f"closed before the 101: {buf!r}"
                buf += chunk
            self.upgrade_head, rest = buf.split(b"\r\n\r\n", 1)
            self.streams[1] = StreamState()
            self.flush()
            if rest:
                self._feed(rest)

    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, end: bool = True) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "localhost")]
        if body is not None:
            hdrs.append(("content-type", "application/json"))
        for k, v in (headers or {}).items():
            hdrs.append((k.lower(), str(v)))
        self.streams[sid] = StreamState()
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    def _feed(self, data: bytes) -> None:
        for ev in self.conn.receive_data(data):
            sid = getattr(ev, "stream_id", None)
            st = self.streams.setdefault(sid, StreamState()) if sid else None
            if isinstance(ev, h2.events.ResponseReceived):
                st.headers.update(dict(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                st.data += ev.data
                if sid not in self.no_ack and ev.flow_controlled_length:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded):
                st.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                st.reset = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev
        try:
            self.flush()
        except OSError:
            self.closed = True

    def pump(self, timeout: float = 0.2) -> bool:
        """Reads once (up to timeout) and processes what came. False once the server closed."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except OSError:
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        self._feed(data)
        return True

    def wait(self, pred, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if pred():
                return True
            if not self.pump(min(0.2, max(0.01, deadline - time.monotonic()))) and not pred():
                return False
        return pred()

    def response(self, sid: int, timeout: float | None = None) -> StreamState:
        st = self.streams[sid]
        assert self.wait(lambda: st.ended or st.reset is not None, timeout), \
            f"stream {sid} got no complete response: {st.headers} {bytes(st.data)[:200]!r}"
        return st

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- raw frames -------------------------------------------------------------------------------

def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def read_frames(sock: socket.socket, timeout: float) -> tuple[list[tuple[int, int, int, bytes]], bool]:
    """Reads frames until the server closes or `timeout` passes. Returns (frames, closed)."""
    buf = b""
    deadline = time.monotonic() + timeout
    closed = False
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        if GOAWAY in [f[0] for f in _parse(buf)]:
            break
    return _parse(buf), closed


def _parse(buf: bytes) -> list[tuple[int, int, int, bytes]]:
    out = []
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        out.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
        buf = buf[9 + n:]
    return out


def goaway_code(frames) -> int | None:
    for t, _, _, p in frames:
        if t == GOAWAY:
            return int.from_bytes(p[4:8], "big")
    return None
