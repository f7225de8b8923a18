"""Fanout of one workflow's events (GET /v1/events?workflow=) to many subscribers at once, over
HTTP/1.1 connections and HTTP/2 streams on two shards. Spec: src/api/README.md (Events),
src/fanout/README.md.

Readings:
- every subscriber receives every event of every run exactly once, and each run's events in
  seq order (1..n, no gap, no repeat), whichever shard it lives on and whichever protocol;
- a subscriber that stops reading is cut off at --sse-buffer (rf_sse_dropped_total) while the
  others keep receiving everything, in order.
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
import time

import rfclient
from engine_client import chain, must_put, must_start, sse_events, wait_until
from h2client import H2Client

H1_SUBSCRIBERS = 240
H2_CONNECTIONS = 4
H2_STREAMS = 30  # per connection: 120 HTTP/2 subscribers


def parse_events(data: bytes) -> list[dict]:
    """The event frames of an SSE body (heartbeats and partial frames left out)."""
    out = []
    for block in data.decode().split("\n\n")[:-1]:
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


class H1Subscribers:
    """Many HTTP/1.1 SSE connections read by one thread (selectors): each one's body bytes."""

    def __init__(self, port: int, path: str, n: int):
        self.sel = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []
        self.heads: list[bytes | None] = [None] * n
        self.bodies = [bytearray() for _ in range(n)]
        self.closed = [False] * n
        self.stop = threading.Event()
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10.0)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
            s.setblocking(False)
            self.socks.append(s)
            self.sel.register(s, selectors.EVENT_READ, i)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pending = {i: b"" for i in range(len(self.socks))}
        while not self.stop.is_set():
            for key, _ in self.sel.select(0.1):
                i = key.data
                try:
                    chunk = self.socks[i].recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                with self.lock:
                    if not chunk:
                        self.closed[i] = True
                        self.sel.unregister(self.socks[i])
                        continue
                    if self.heads[i] is None:
                        pending[i] += chunk
                        if b"\r\n\r\n" in pending[i]:
                            head, rest = pending[i].split(b"\r\n\r\n", 1)
                            self.heads[i] = head
                            self.bodies[i] += rest
                    else:
                        self.bodies[i] += chunk

    def all_heads(self) -> bool:
        with self.lock:
            return all(h is not None for h in self.heads)

    def events(self, i: int) -> list[dict]:
        with self.lock:
            return parse_events(bytes(self.bodies[i]))

    def close(self):
        self.stop.set()
        self.thread.join(5.0)
        for s in self.socks:
            s.close()


def check_runs(events: list[dict], want: dict[str, list[int]], who: str) -> None:
    """`events` has, for each run in `want`, exactly its seqs in order (and nothing else)."""
    got: dict[str, list[int]] = {}
    for e in events:
        got.setdefault(e["data"]["run"], []).append(int(e["id"]))
    assert set(got) == set(want), f"{who}: runs {sorted(got)} != {sorted(want)}"
    for rid, seqs in want.items():
        assert got[rid] == seqs, f"{who}: run {rid} seqs {got[rid]} != {seqs}"


def expected(d, rids: list[str]) -> dict[str, list[int]]:
    out = {}
    for rid in rids:
        hist = sse_events(d, f"/v1/runs/{rid}/events")
        out[rid] = [int(f.id) for f in hist if f.kind == "event"]
        assert out[rid] == list(range(1, len(out[rid]) + 1)), out[rid]
    return out


def test_hundreds_of_subscribers_over_http1_and_http2_get_every_event_once_in_order(launch):
    rfclient.raise_nofile(4096)
    d = launch(shards=2)
    must_put(d, "fan", chain("a", "b", "c"))
    path = "/v1/events?workflow=fan"
    h1 = H1Subscribers(d.port, path, H1_SUBSCRIBERS)
    h2s: list[tuple[H2Client, list[int]]] = []
    try:
        for _ in range(H2_CONNECTIONS):
            c = H2Client(d.port, timeout=10.0)
            c.conn.update_settings({3: 1000})  # SETTINGS_MAX_CONCURRENT_STREAMS on our side
            sids = [c.request("GET", path, headers={"accept": "text/event-stream"})
                    for _ in range(H2_STREAMS)]
            h2s.append((c, sids))
        wait_until(h1.all_heads, 20.0, what="every HTTP/1.1 subscriber's head")
        for c, sids in h2s:
            assert c.wait(lambda c=c, sids=sids: all(c.streams[s].status == 200 for s in sids), 20), \
                [c.streams[s].headers for s in sids]
        assert all(h.startswith(b"HTTP/1.1 200") for h in h1.heads), h1.heads[:3]
        total = H1_SUBSCRIBERS + H2_CONNECTIONS * H2_STREAMS
        wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_subscribers") >= total,
                   10.0, what="every subscriber counted")

        rids = [must_start(d, "fan", input={"i": i}, wait=10)["id"] for i in range(6)]
        want = expected(d, rids)
        n_events = sum(len(v) for v in want.values())

        def h1_done():
            return all(len(h1.events(i)) >= n_events for i in range(H1_SUBSCRIBERS))

        wait_until(h1_done, 30.0, what="every HTTP/1.1 subscriber to get every event")
        for i in range(H1_SUBSCRIBERS):
            check_runs(h1.events(i), want, f"http/1.1 subscriber {i}")
        for k, (c, sids) in enumerate(h2s):
            def h2_done(c=c, sids=sids):
                return all(len(parse_events(bytes(c.streams[s].data))) >= n_events for s in sids)
            assert c.wait(h2_done, 30), f"h2 connection {k}: not every event arrived"
            for s in sids:
                check_runs(parse_events(bytes(c.streams[s].data)), want, f"h2 conn {k} stream {s}")
        # Nothing more arrives (no duplicate after the last event).
        time.sleep(0.3)
        for i in range(H1_SUBSCRIBERS):
            assert len(h1.events(i)) == n_events, i
        # The frames were written in fewer writes than frames at least once (coalescing is
        # possible, not required): the counters add up to what was delivered.
        samples = rfclient.scrape(d.port)
        frames = rfclient.metric_sum(samples, "rf_sse_frames_total")
        assert frames >= n_events * total, (frames, n_events, total)
        assert 0 < rfclient.metric_sum(samples, "rf_sse_writes_total") <= frames
    finally:
        h1.close()
        for c, _ in h2s:
            c.close()


def test_one_http2_connection_with_100_event_streams_gets_every_event_in_order(launch):
    """Issue 13: the streams of one HTTP/2 connection share its writer. Each of 100 streams (the
    default --http2-max-streams) subscribed to the same workflow gets every event of many runs,
    in order, none reset or cut off, whichever stream was opened first."""
    d = launch(shards=2)
    must_put(d, "h2many", chain("a", "b", "c"))
    path = "/v1/events?workflow=h2many"
    streams = 100
    with H2Client(d.port, timeout=20.0, settings={4: 1 << 20}) as c:  # 1 MiB window per stream
        c.conn.update_settings({3: 1000})
        c.conn.increment_flow_control_window(1 << 26)  # and 64 MiB for the connection
        c.flush()
        sids = [c.request("GET", path, headers={"accept": "text/event-stream"})
                for _ in range(streams)]
        assert c.wait(lambda: all(c.streams[s].status == 200 for s in sids), 20), \
            [(s, c.streams[s].headers, c.streams[s].reset) for s in sids[:3]]
        wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_subscribers") >= streams,
                   10.0, what="every stream subscribed")
        dropped = rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_dropped_total")
        # Events of 1-2 KiB (the input rides in them): several MB for the connection in all, many
        # writer batches, while the client reads (and acknowledges) as it goes.
        rids = []
        for i in range(40):
            rids.append(must_start(d, "h2many", input={"i": i, "pad": "p" * 1024}, wait=10)["id"])
            c.pump(0.01)
        want = expected(d, rids)
        n_events = sum(len(v) for v in want.values())

        def done():
            return all(len(parse_events(bytes(c.streams[s].data))) >= n_events for s in sids)

        assert c.wait(done, 60), sorted(len(parse_events(bytes(c.streams[s].data))) for s in sids)[:10]
        for s in sids:
            st = c.streams[s]
            assert st.reset is None and not st.ended, (s, st.reset)
            check_runs(parse_events(bytes(st.data)), want, f"h2 stream {s}")
        assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_dropped_total") == dropped


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_backlog_on_100_http2_streams_is_shared_not_copied_per_stream(launch):
    """Issue 13: an HTTP/2 event stream that is behind holds references to the shared event
    chunks (as an HTTP/1.1 one does), not a copy of its backlog: nghttp2 reads the frames where
    they are. 100 streams on one connection get no flow-control window while 12 runs make ~600 KiB
    of events each stream must receive; then the window opens and every stream gets every event
    in order. Copying each backlog into its stream (the old way) cost 100 x 600 KiB of buffers,
    kept while the streams lived; the daemon's RSS shows which."""
    d = launch(shards=2)
    must_put(d, "h2backlog", chain("a", "b"))
    path = "/v1/events?workflow=h2backlog"
    streams = 100
    with H2Client(d.port, timeout=20.0, settings={4: 0}) as c:  # no DATA window for any stream
        c.conn.update_settings({3: 1000})
        c.conn.increment_flow_control_window(1 << 26)
        c.flush()
        sids = [c.request("GET", path, headers={"accept": "text/event-stream"})
                for _ in range(streams)]
        assert c.wait(lambda: all(c.streams[s].status == 200 for s in sids), 20)
        wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_subscribers") >= streams,
                   10.0, what="every stream subscribed")
        dropped = rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_dropped_total")
        blob = "x" * 16384
        rids = [must_start(d, "h2backlog", input={"i": i, "blob": blob}, wait=10)["id"] for i in range(12)]
        want = expected(d, rids)
        n_events = sum(len(v) for v in want.values())
        c.pump(0.2)
        assert all(len(c.streams[s].data) == 0 for s in sids)  # nothing could be sent yet
        before = rss_kib(d.pid)
        c.conn.update_settings({4: 1 << 22})  # every stream's window opens
        c.flush()

        def done():
            return all(len(parse_events(bytes(c.streams[s].data))) >= n_events for s in sids)

        assert c.wait(done, 60), sorted(len(parse_events(bytes(c.streams[s].data))) for s in sids)[:10]
        for s in sids:
            assert c.streams[s].reset is None, (s, c.streams[s].reset)
            check_runs(parse_events(bytes(c.streams[s].data)), want, f"h2 stream {s}")
        grown = rss_kib(d.pid) - before
        assert grown < 24 * 1024, f"delivering the backlogs grew the daemon by {grown} KiB"
        assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_dropped_total") == dropped


def test_a_stalled_subscriber_is_cut_off_while_the_others_get_everything(launch):
    rfclient.raise_nofile(4096)
    d = launch("--sse-buffer", "262144", shards=2)
    must_put(d, "big", chain("a", "b"))
    path = "/v1/events?workflow=big"
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(10.0)
    stalled.connect(("127.0.0.1", d.port))
    stalled.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    readers = H1Subscribers(d.port, path, 60)
    try:
        wait_until(readers.all_heads, 20.0, what="the readers' heads")
        wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_subscribers") >= 61,
                   10.0, what="every subscriber counted")
        payload = "x" * 16384  # in every event's data: the stalled socket fills fast
        rids: list[str] = []
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            rids.append(must_start(d, "big", input={"blob": payload}, wait=10)["id"])
            if rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_dropped_total") >= 1:
                break
        assert rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_dropped_total") == 1, \
            "the stalled subscriber was not cut off (or a reader was)"
        rids += [must_start(d, "big", input={"after": i}, wait=10)["id"] for i in range(2)]
        want = expected(d, rids)
        n_events = sum(len(v) for v in want.values())
        wait_until(lambda: all(len(readers.events(i)) >= n_events for i in range(60)), 60.0,
                   what="every reader to get every event")
        for i in range(60):
            check_runs(readers.events(i), want, f"reader {i}")
            assert not readers.closed[i], f"reader {i} was closed"
        # The stalled one: what it gets before EOF is a prefix, then the server closed it.
        stalled.settimeout(10.0)
        data = b""
        while True:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        body = data.split(b"\r\n\r\n", 1)[1]
        assert len(parse_events(body)) < n_events
        wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_subscribers") == 60,
                   10.0, what="the cut-off stream to be gone")
    finally:
        readers.close()
        stalled.close()


def test_idle_event_streams_hold_no_connection_buffers(launch):
    d = launch(shards=2)
    must_put(d, "quiet", chain("a"))
    before = rfclient.metric_sum(rfclient.scrape(d.port), "rf_http_connection_buffer_bytes")
    subs = H1Subscribers(d.port, "/v1/events?workflow=quiet", 50)
    try:
        wait_until(subs.all_heads, 20.0, what="the subscribers' heads")
        wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_subscribers") >= 50,
                   10.0, what="every subscriber counted")
        # A keep-alive connection keeps its input buffer (4 KiB at least); an idle event
        # stream gave its request and response buffers back once its head was sent.
        held = rfclient.metric_sum(rfclient.scrape(d.port), "rf_http_connection_buffer_bytes") - before
        assert held < 50 * 1024, f"50 idle streams hold {held} bytes of connection buffers"
        # ...and still deliver.
        rid = must_start(d, "quiet", wait=10)["id"]
        n = len(expected(d, [rid])[rid])
        wait_until(lambda: all(len(subs.events(i)) == n for i in range(50)), 10.0,
                   what="every stream to get the run's events")
    finally:
        subs.close()


def test_event_streams_over_tls_http1_and_http2(launch, tmp_path):
    # Over TLS the frames are encrypted into the connection's buffer instead of a vectored send.
    from test_http_tls import client_ctx, curl, tls_launch
    d, _, _ = tls_launch(launch, tmp_path)
    r = curl(d, "/v1/workflows/tlsfan", "--http1.1", method="PUT", body=json.dumps(chain("a", "b")))
    assert r.stdout.endswith(" 201") or r.stdout.endswith(" 200"), r.stdout
    path = "/v1/events?workflow=tlsfan"
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    h1 = client_ctx(["http/1.1"]).wrap_socket(raw, server_hostname="localhost")
    h1.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got1 = b""
    while b"\r\n\r\n" not in got1:
        got1 += h1.recv(65536)
    assert got1.startswith(b"HTTP/1.1 200"), got1
    got1 = got1.split(b"\r\n\r\n", 1)[1]
    with H2Client(d.port, tls=client_ctx(["h2"])) as c:
        sids = [c.request("GET", path) for _ in range(5)]
        assert c.wait(lambda: all(c.streams[s].status == 200 for s in sids), 10)
        # Subscribed once the heads arrived (the module docstring of test_engine_sse.py).
        r = curl(d, "/v1/workflows/tlsfan/runs?wait=10s", "--http1.1", method="POST", body="{}")
        assert r.stdout.endswith(" 201"), r.stdout
        run_id = json.loads(r.stdout.rsplit("\n", 1)[0])["id"]

        def done(events):
            return any(e["event"] == "run.succeeded" for e in events)

        assert c.wait(lambda: all(done(parse_events(bytes(c.streams[s].data))) for s in sids), 10)
        h1.settimeout(10)
        while not done(parse_events(got1)):
            chunk = h1.recv(65536)
            assert chunk, got1
            got1 += chunk
        first = parse_events(got1)
        assert [int(e["id"]) for e in first] == list(range(1, len(first) + 1)), first
        assert all(e["data"]["run"] == run_id for e in first)
        for s in sids:
            assert parse_events(bytes(c.streams[s].data)) == first
    h1.close()
