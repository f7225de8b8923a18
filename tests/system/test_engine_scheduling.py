"""Worker scheduling and stream back-pressure, seen from outside.

- With one http slot per shard, queued http steps start in the 6:3:1 shares of
  critical:default:low, not strictly by priority and not first come first served.
- An SSE client that stops reading is cut off at --sse-buffer and counted in
  /metrics, while the shard keeps serving everyone else.
"""

from __future__ import annotations

import socket
import threading
import time

import rfclient
from engine_client import must_put, must_start, start, wait_terminal, wait_until
from flaky_server import Reply


def test_queued_http_steps_start_in_6_3_1_shares(launch, flaky):
    d = launch("--http-concurrency", "1", shards=1)
    url = flaky.url("/p")
    must_put(d, "p", {"steps": [{"id": "call", "type": "http",
                                 "request": {"method": "POST", "url": url,
                                             "body": {"prio": "{{input.prio}}"}}}]})
    # The first call holds the only slot while the others queue up behind it.
    flaky.script("/p", [Reply(delay=1.5), Reply()])
    blocker = must_start(d, "p", input={"prio": "blocker"})
    assert flaky.wait_calls("/p", 1, 10.0), "the blocking call never arrived"
    runs = []
    for prio in ("low", "default", "critical"):  # queued lowest first: order alone cannot explain
        for _ in range(10):
            runs.append(must_start(d, "p", input={"prio": prio}, priority=prio)["id"])
    for rid in [blocker["id"], *runs]:
        assert wait_terminal(d, rid, timeout=30.0)["status"] == "succeeded"
    order = [c.json["prio"] for c in flaky.requests("/p")][1:]
    assert len(order) == 30
    # Rounds of up to 6 critical, 3 default, 1 low (the blocker, a default run, used one
    # default credit of the first round): C6 D2 L1 | C4 D3 L1 | D3 L1 | ...
    # Strict priority would give C10 D10 L0 in the first 20, FIFO would start with low.
    first10, first20 = order[:10], order[:20]
    assert 6 <= first10.count("critical") <= 7, order
    assert first10.count("default") >= 2 and first10.count("low") >= 1, order
    assert first20.count("critical") == 10, order
    assert first20.count("low") >= 2, order


def test_a_stream_that_stops_reading_is_cut_off_and_counted(launch):
    d = launch("--sse-buffer", "4096", shards=1)
    must_put(d, "big", {"steps": [{"id": "a", "type": "noop"},
                                  {"id": "b", "type": "noop", "depends_on": ["a"]}]})
    # A subscriber with a tiny receive window that never reads.
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(10.0)
    stalled.connect(("127.0.0.1", d.port))
    stalled.sendall(b"GET /v1/events?workflow=big HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        time.sleep(0.3)  # subscribed once the request is handled
        payload = "x" * 16384  # each event carries it (input, outputs): the socket fills fast
        stop = threading.Event()
        errors: list[str] = []

        def load():
            try:
                while not stop.is_set():
                    st, doc = start(d, "big", input={"blob": payload})
                    if st != 201:
                        errors.append(f"{st} {doc}")
                        return
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: rfclient.metric_sum(rfclient.scrape(d.port), "rf_sse_dropped_total") >= 1,
                       timeout=60.0, what="the stalled stream to be cut off")
        finally:
            stop.set()
            for t in threads:
                t.join(30.0)
        assert not errors, errors[:3]
        # The shard still answers while the stalled client holds its socket.
        run = must_start(d, "big", input={"small": 1}, wait=5)
        assert run["status"] == "succeeded"
        # The server closed the stream: draining what was buffered ends in EOF.
        stalled.settimeout(10.0)
        deadline = time.monotonic() + 20.0
        eof = False
        while time.monotonic() < deadline:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                eof = True
                break
        assert eof, "the cut-off stream was not closed"
        samples = rfclient.scrape(d.port)
        assert rfclient.metric_sum(samples, "rf_sse_subscribers") == 0
    finally:
        stalled.close()
