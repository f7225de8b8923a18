"""HTTP/2 cleartext (h2c): prior knowledge and `Upgrade: h2c` on the same port as HTTP/1.1, the
same routes and handlers, per-stream flow control, SSE as a stream, and the limits and
denial-of-service answers of src/http/h2/session.h. Clients: python3-h2 (h2client.py), raw
frames where h2 refuses to misbehave, and curl --http2-prior-knowledge."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading

import h2.config
import h2.connection
import pytest

from engine_client import chain, must_put, signal_run, start, wait_status
from h2client import (CANCEL, CONTINUATION, ENHANCE_YOUR_CALM, GOAWAY, HEADERS, PING, PREFACE,
                      REFUSED_STREAM, SETTINGS, H2Client, frame, goaway_code, read_frames)
from rfclient import get, metric_sum, scrape

APPROVAL = {"steps": [{"id": "prep", "type": "noop"},
                      {"id": "approve", "type": "approval", "depends_on": ["prep"]},
                      {"id": "after", "type": "noop", "depends_on": ["approve"]}]}


def jbody(st) -> dict:
    return json.loads(bytes(st.data))


def sse_frames(data: bytes) -> list[dict]:
    """The events of an SSE body: [{'id':..,'event':..,'data':{...}}]."""
    out = []
    for block in data.decode().split("\n\n"):
        f = {}
        for line in block.split("\n"):
            if line.startswith(":") or ": " not in line:
                continue
            k, v = line.split(": ", 1)
            f[k] = v
        if "data" in f:
            f["data"] = json.loads(f["data"])
            out.append(f)
    return out


def assert_serves(port: int) -> None:
    """A fresh client, HTTP/1.1 and HTTP/2, is answered."""
    assert get(port, "/health").status == 200
    with H2Client(port) as c:
        assert c.response(c.request("GET", "/health")).status == 200


# ---- the same routes over HTTP/2 --------------------------------------------------------------

def test_prior_knowledge_api_roundtrip(server):
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", "/health"))
        assert st.status == 200 and st.headers["content-type"] == "application/json", st.headers
        assert int(st.headers["content-length"]) == len(st.data)

        defn = json.dumps(chain("a", "b")).encode()
        st = c.response(c.request("PUT", "/v1/workflows/h2flow", body=defn))
        assert st.status in (200, 201), bytes(st.data)
        assert jbody(st)["name"] == "h2flow"

        st = c.response(c.request("POST", "/v1/workflows/h2flow/runs?wait=10s",
                                  body=json.dumps({"input": {"k": 7}}).encode()))
        assert st.status == 201, bytes(st.data)
        run = jbody(st)
        assert run["status"] == "succeeded" and run["output"] == {"b": {"k": 7}}, run

        st = c.response(c.request("GET", f"/v1/runs/{run['id']}"))
        assert st.status == 200 and jbody(st)["id"] == run["id"]

        st = c.response(c.request("GET", "/no/such/path"))
        assert st.status == 404 and jbody(st)["error"]["code"] == "not_found"
        st = c.response(c.request("DELETE", "/health"))
        assert st.status == 405 and "GET" in st.headers["allow"], st.headers
        # connection-specific fields never appear in HTTP/2 responses
        assert "connection" not in st.headers
        st = c.response(c.request("HEAD", "/health"))
        assert st.status == 200 and st.data == b"" and int(st.headers["content-length"]) > 0
    # HTTP/1.1 on the same port is unchanged
    r = get(server.port, "/health")
    assert r.status == 200 and r.header("content-length")


def test_upgrade_h2c(server):
    with H2Client(server.port, upgrade_path="/health") as c:
        assert c.upgrade_head.startswith(b"HTTP/1.1 101 "), c.upgrade_head
        assert b"upgrade: h2c" in c.upgrade_head.lower()
        st = c.response(1)  # the upgrade request is answered on stream 1
        assert st.status == 200 and jbody(st), st.headers
        # and the connection goes on as HTTP/2
        st = c.response(c.request("GET", "/v1/workflows"))
        assert st.status == 200, bytes(st.data)


def test_upgrade_without_settings_stays_http1(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    head = s.recv(65536)
    s.close()
    assert head.startswith(b"HTTP/1.1 200 "), head


def test_many_concurrent_streams_one_connection(server):
    with H2Client(server.port) as c:
        sids = [c.request("GET", "/health") for _ in range(60)]
        sids += [c.request("GET", "/v1/workflows") for _ in range(30)]
        for sid in sids:
            st = c.response(sid, timeout=10)
            assert st.status == 200, (sid, st.headers, st.reset)
        assert len({sid for sid in sids}) == 90


def test_too_many_concurrent_streams_refused(launch):
    d = launch("--http2-max-streams", "4")
    with H2Client(d.port) as c:
        # Six requests whose bodies are still to come, sent before the server's SETTINGS is
        # read (h2 would otherwise refuse to exceed the advertised limit itself).
        sids = [c.request("PUT", f"/v1/workflows/many{i}", body=b"", end=False) for i in range(6)]
        assert c.wait(lambda: sum(c.streams[s].reset == REFUSED_STREAM for s in sids) == 2, 5), \
            [(s, c.streams[s].reset) for s in sids]
        assert c.conn.remote_settings.max_concurrent_streams == 4
        open_sids = [s for s in sids if c.streams[s].reset is None]
        defn = json.dumps(chain("x")).encode()
        for s in open_sids:
            c.conn.send_data(s, defn, end_stream=True)
        c.flush()
        for s in open_sids:
            assert c.response(s).status in (200, 201)


def test_header_list_too_large_is_431(server):
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", "/health", headers={"x-big": "v" * 20000}))
        assert st.status == 431, (st.headers, st.reset)
        assert c.response(c.request("GET", "/health")).status == 200


def test_body_too_large_is_413(small_max_body):
    with H2Client(small_max_body.port) as c:
        st = c.response(c.request("PUT", "/v1/workflows/big", body=b"x" * 5000))
        assert st.status == 413 and jbody(st)["error"]["code"] == "payload_too_large"
        assert c.response(c.request("GET", "/health")).status == 200


# ---- SSE over an HTTP/2 stream ----------------------------------------------------------------

def test_sse_over_http2_and_last_event_id(launch):
    d = launch()
    must_put(d, "h2sse", APPROVAL)
    rid = start(d, "h2sse").json["id"]
    wait_status(d, rid, "waiting")
    path = f"/v1/runs/{rid}/events"
    with H2Client(d.port) as c:
        sse = c.request("GET", path, headers={"accept": "text/event-stream"})
        other = c.request("GET", "/health")
        st = c.streams[sse]
        assert c.wait(lambda: b"run.waiting" in st.data, 5), bytes(st.data)
        assert st.status == 200 and st.headers["content-type"] == "text/event-stream"
        assert c.response(other).status == 200  # the open event stream does not block others
        assert not st.ended
        assert signal_run(d, rid, "approve", {"ok": 1})[0] == 200
        assert c.wait(lambda: st.ended, 10), bytes(st.data)
        events = sse_frames(bytes(st.data))
        assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
        assert events[-1]["event"] == "run.succeeded", events[-1]
        # Last-Event-ID resume on the same connection: only what came after
        k = 3
        again = c.response(c.request("GET", path, headers={"last-event-id": str(k)}))
        assert again.status == 200 and again.ended
        assert sse_frames(bytes(again.data)) == events[k:]
        # HEAD on an event stream: the head only, the stream ends at once
        head = c.response(c.request("HEAD", path))
        assert head.status == 200 and head.data == b"" and head.ended


# ---- flow control -----------------------------------------------------------------------------

def test_slow_stream_does_not_block_others_and_stalls_are_reset(launch):
    d = launch("--idle-timeout", "1s")
    before = metric_sum(scrape(d.port), "rf_http2_streams_stalled_total")
    # A 1 KiB window per stream, and the big document's DATA is never acknowledged: its stream
    # stops at 1 KiB while the others go on.
    with H2Client(d.port, settings={4: 1024}) as c:  # SETTINGS_INITIAL_WINDOW_SIZE
        c.pump(0.2)  # the server SETTINGS
        slow = c.request("GET", "/v1/openapi.json")
        c.no_ack.add(slow)
        quick = [c.request("GET", "/health") for _ in range(5)]
        put = c.request("PUT", "/v1/workflows/flow", body=json.dumps(chain("a")).encode())
        for s in quick + [put]:
            assert c.response(s).status in (200, 201)
        st = c.streams[slow]
        assert c.wait(lambda: len(st.data) >= 1024, 3)
        assert not st.ended and len(st.data) <= 1024 + 16384, len(st.data)
        # stuck at a zero window past the stall timeout (--idle-timeout): reset, not held
        assert c.wait(lambda: st.reset is not None, 10), "stalled stream never reset"
        assert st.reset == CANCEL, st.reset
        assert c.response(c.request("GET", "/health")).status == 200  # the connection lives
    after = metric_sum(scrape(d.port), "rf_http2_streams_stalled_total")
    assert after >= before + 1


def test_idle_connection_gets_goaway(launch):
    d = launch("--idle-timeout", "1s")
    with H2Client(d.port) as c:
        assert c.response(c.request("GET", "/health")).status == 200
        assert c.wait(lambda: c.goaway is not None or c.closed, 8)
        assert c.goaway is not None and c.goaway.error_code == 0, c.goaway


# ---- denial-of-service patterns ---------------------------------------------------------------

def test_rapid_reset_gets_goaway(server):
    before = metric_sum(scrape(server.port), "rf_http2_goaways_sent_total")
    with H2Client(server.port) as c:
        for _ in range(10):
            for _ in range(100):
                sid = c.conn.get_next_available_stream_id()
                c.conn.send_headers(sid, [(":method", "GET"), (":path", "/health"),
                                          (":scheme", "http"), (":authority", "x")])
                c.conn.reset_stream(sid, error_code=CANCEL)
            try:
                c.flush()
            except OSError:
                break
            c.pump(0.01)
            if c.goaway or c.closed:
                break
        assert c.wait(lambda: c.goaway is not None or c.closed, 5)
        assert c.goaway is not None, "no GOAWAY after 1000 rapid resets"
        assert c.goaway.error_code != 0, c.goaway
    assert metric_sum(scrape(server.port), "rf_http2_goaways_sent_total") >= before + 1
    assert metric_sum(scrape(server.port), "rf_http2_resets_received_total") >= 200
    assert_serves(server.port)


def hpack_request() -> bytes:
    # :method GET, :path /, :scheme http (static table), :authority "x" (literal, indexed name)
    return bytes([0x82, 0x84, 0x86, 0x41, 0x01]) + b"x"


def test_continuation_flood_gets_goaway(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    out = PREFACE + frame(SETTINGS, 0, 0)
    out += frame(HEADERS, 0x1, 1, hpack_request())  # END_STREAM, no END_HEADERS
    field = bytes([0x00, 0x03]) + b"x-a" + bytes([0x01]) + b"b"  # literal, new name
    for _ in range(100):
        out += frame(CONTINUATION, 0, 1, field)
    try:
        s.sendall(out)
    except OSError:
        pass
    frames, closed = read_frames(s, 5)
    s.close()
    assert goaway_code(frames) == ENHANCE_YOUR_CALM, (frames[-3:], closed)
    assert all(not (t == HEADERS and sid == 1) for t, _, sid, _ in frames), "answered the flood"
    assert_serves(server.port)


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_ack_flood_from_a_peer_that_does_not_read(launch, kind):
    d = launch()
    before = metric_sum(scrape(d.port), "rf_http2_floods_total")
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    one = frame(PING, 0, 0, b"12345678") if kind == "ping" else frame(SETTINGS, 0, 0)
    batch = one * 20000
    s.sendall(PREFACE + frame(SETTINGS, 0, 0))
    cut = False
    how = "all sent"
    for k in range(200):  # never reading the acks
        try:
            s.sendall(batch)
        except OSError as e:
            cut = True
            how = f"{e!r} after {k} batches"
            break
    if not cut:  # everything went out: the server must close on its own anyway
        frames, closed = read_frames(s, 15)
        cut = closed
    s.close()
    assert cut, "the server kept a flooding peer's connection"
    # Seen once in CI: cut, yet no flood counted (not reproduced in 160 runs under CPU load).
    # What the server counted instead says which path closed the connection.
    after = scrape(d.port)
    assert metric_sum(after, "rf_http2_floods_total") >= before + 1, (
        how, [m for m in after if m[0].startswith(("rf_http2_", "rf_http_timeouts", "rf_http_conn"))],
        d.log_tail())
    assert_serves(d.port)


def test_bad_preface_after_prefix_closes(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(PREFACE + b"\x00\x00\x01\xff\x00\x00\x00\x00\x00")  # not a SETTINGS frame first
    frames, closed = read_frames(s, 5)
    s.close()
    assert goaway_code(frames) is not None or closed
    assert_serves(server.port)


# ---- curl ------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_http2_prior_knowledge(server):
    base = f"http://127.0.0.1:{server.port}"
    for path, want in [("/health", 200), ("/v1/workflows", 200), ("/metrics", 200),
                       ("/v1/openapi.json", 200), ("/v1/runs/nope", 400), ("/v1/nothing", 404)]:
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                              "--http2-prior-knowledge", base + path],
                             capture_output=True, text=True, timeout=10)
        assert out.stdout == f"2 {want}", (path, out.stdout, out.stderr)
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_version}", "--http2", base + "/health"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.endswith("\n2"), out.stdout  # curl's Upgrade: h2c
    m = scrape(server.port)
    assert metric_sum(m, "rf_http2_connections_total") >= 6
    assert metric_sum(m, "rf_http2_streams_total") >= 6


def test_parallel_h2_clients(server):
    errors = []

    def run():
        try:
            with H2Client(server.port) as c:
                sids = [c.request("GET", "/health") for _ in range(20)]
                for s in sids:
                    assert c.response(s, 10).status == 200
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=run) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_drain_sends_goaway_and_ends_event_streams(launch):
    d = launch("--drain-timeout", "5s")
    must_put(d, "h2drain", APPROVAL)
    rid = start(d, "h2drain").json["id"]
    wait_status(d, rid, "waiting")
    with H2Client(d.port) as c:
        sse = c.request("GET", f"/v1/runs/{rid}/events")
        st = c.streams[sse]
        assert c.wait(lambda: b"run.waiting" in st.data, 5)
        d.signal(15)  # SIGTERM: drain
        assert c.wait(lambda: c.goaway is not None and (st.ended or st.reset is not None), 5), \
            (c.goaway, st.ended, st.reset)
        assert c.goaway.error_code == 0, c.goaway
    assert d.wait(10) == 0, d.log_tail()


def test_unfinished_request_stream_is_reset(launch):
    # A request whose body never ends is reset after --header-timeout + --body-timeout, as an
    # HTTP/1.1 body that trickles in gets 408; the connection and other streams go on.
    d = launch("--header-timeout", "500ms", "--body-timeout", "1s")
    with H2Client(d.port) as c:
        slow = c.request("PUT", "/v1/workflows/never", body=b'{"steps":', end=False)
        assert c.wait(lambda: c.streams[slow].reset is not None, 8), "unfinished stream kept"
        assert c.streams[slow].reset == CANCEL
        assert c.response(c.request("GET", "/health")).status == 200
    assert metric_sum(scrape(d.port), "rf_http2_streams_stalled_total") >= 1


def test_upgrade_h2c_with_a_body(server):
    defn = json.dumps(chain("u")).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    # h2 by hand: the upgrade request carries a body, which H2Client's upgrade does not send
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                header_encoding="utf-8"))
    b64 = conn.initiate_upgrade_connection()
    b64 = b64.decode() if isinstance(b64, bytes) else b64
    s.sendall((f"PUT /v1/workflows/upgraded HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(defn)}\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               f"Upgrade: h2c\r\nHTTP2-Settings: {b64}\r\n\r\n").encode() + defn)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    s.sendall(conn.data_to_send())
    status, body, ended = None, b"", False
    data = rest
    while not ended:
        for ev in conn.receive_data(data):
            if getattr(ev, "stream_id", 0) == 1:
                if type(ev).__name__ == "ResponseReceived":
                    status = int(dict(ev.headers)[":status"])
                elif type(ev).__name__ == "DataReceived":
                    body += ev.data
                elif type(ev).__name__ == "StreamEnded":
                    ended = True
        s.sendall(conn.data_to_send())
        if not ended:
            data = s.recv(65536)
            assert data, "closed before the response on stream 1"
    s.close()
    assert status == 201 and json.loads(body)["name"] == "upgraded", (status, body)
