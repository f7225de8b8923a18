"""Self-test of flaky_server.py (needs no ringflow binary)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

from flaky_server import FlakyServer, Reply


def _req(port, method, path, body=None, headers=None, conn=None, timeout=5.0):
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        raw = r.read()
        doc = json.loads(raw) if r.getheader("content-type", "").startswith("application/json") and raw else raw
        return r.status, doc
    finally:
        if own:
            c.close()


def test_script_sequence_last_repeats(flaky):
    flaky.script("/pay", [503, 503, 200])
    got = [_req(flaky.port, "POST", "/pay", {"i": i})[0] for i in range(5)]
    assert got == [503, 503, 200, 200, 200]
    assert flaky.calls("/pay") == 5
    assert flaky.calls("/other") == 0
    # re-scripting starts the new script at the next call; counts go on
    flaky.script("/pay", [500, 201])
    assert [_req(flaky.port, "GET", "/pay")[0] for _ in range(3)] == [500, 201, 201]
    assert flaky.calls("/pay") == 8


def test_echo_body_and_call_numbers(flaky):
    st, doc = _req(flaky.port, "POST", "/echo?x=1", {"order": 7}, {"Content-Type": "application/json"})
    assert st == 200
    assert doc == {"path": "/echo", "method": "POST", "body": {"order": 7}, "call": 1, "key": None}
    st, doc = _req(flaky.port, "PUT", "/echo", b"not json")
    assert doc["body"] == "not json" and doc["call"] == 2 and doc["method"] == "PUT"
    st, doc = _req(flaky.port, "GET", "/echo")
    assert doc["body"] is None and doc["call"] == 3
    rec = flaky.requests("/echo")
    assert [r.n for r in rec] == [1, 2, 3]
    assert rec[0].query == "x=1" and rec[0].json == {"order": 7}
    assert rec[0].header("content-type") == "application/json"
    assert rec[0].status == 200 and not rec[0].disconnected


def test_reply_overrides(flaky):
    flaky.script("/r", [Reply(418, {"custom": True}, {"X-Test": "1"}), Reply(200, "plain")])
    st, doc = _req(flaky.port, "GET", "/r")
    assert st == 418 and doc == {"custom": True}
    st, doc = _req(flaky.port, "GET", "/r")
    assert st == 200 and doc == b"plain"


def test_counts_per_idempotency_key(flaky):
    for key in ["a/x", "a/x", "b/x", None]:
        _req(flaky.port, "POST", "/k", {}, {"Idempotency-Key": key} if key else {})
    _req(flaky.port, "POST", "/other", {}, {"Idempotency-Key": "a/x"})
    assert flaky.calls_by_key() == {"a/x": 3, "b/x": 1}
    assert flaky.calls_by_key("/k") == {"a/x": 2, "b/x": 1}


def test_keep_alive_reuses_one_connection(flaky):
    c = http.client.HTTPConnection("127.0.0.1", flaky.port, timeout=5)
    try:
        for i in range(5):
            st, doc = _req(flaky.port, "POST", "/ka", {"i": i}, conn=c)
            assert st == 200 and doc["body"] == {"i": i}
    finally:
        c.close()
    assert flaky.connections == 1


def test_chunked_request_body(flaky):
    with socket.create_connection(("127.0.0.1", flaky.port), timeout=5) as s:
        s.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/json\r\n\r\n"
                  b"4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
    assert data.startswith(b"HTTP/1.1 200")
    assert flaky.requests("/c")[0].json == {"a": 1}


def test_delay(flaky):
    flaky.delay("/slow", 0.5)
    t0 = time.monotonic()
    st, _ = _req(flaky.port, "GET", "/slow")
    assert st == 200 and 0.45 <= time.monotonic() - t0 < 3.0
    flaky.delay("/slow", None)
    t0 = time.monotonic()
    _req(flaky.port, "GET", "/slow")
    assert time.monotonic() - t0 < 0.4


def test_client_disconnect_mid_delay(flaky):
    flaky.delay("/slow", 10.0)
    s = socket.create_connection(("127.0.0.1", flaky.port), timeout=5)
    s.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nIdempotency-Key: r/s\r\nContent-Length: 2\r\n\r\n{}")
    assert flaky.wait_calls("/slow", 1, 3.0)
    s.close()
    t0 = time.monotonic()
    assert flaky.wait_disconnect("/slow", 3.0), flaky.requests("/slow")
    assert time.monotonic() - t0 < 2.0
    call = flaky.requests("/slow")[0]
    assert call.status is None and call.key == "r/s"
    # still serving, and the abandoned call counted
    flaky.delay("/slow", None)
    assert _req(flaky.port, "GET", "/slow")[0] == 200
    assert flaky.calls("/slow") == 2
    assert flaky.calls_by_key() == {"r/s": 1}


def test_concurrent_clients(flaky):
    flaky.delay("/p", 0.2)
    results = []

    def worker(i):
        results.append(_req(flaky.port, "POST", "/p", {"i": i}, {"Idempotency-Key": f"k{i}"})[0])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200] * 20
    assert time.monotonic() - t0 < 3.0, "calls were not served concurrently"
    assert len(flaky.calls_by_key()) == 20


def test_stop_is_clean_with_idle_and_delayed_connections():
    srv = FlakyServer().start()
    srv.delay("/slow", 30.0)
    idle = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    idle.request("GET", "/x")
    idle.getresponse().read()  # keep-alive connection left idle
    hung = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    hung.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert srv.wait_calls("/slow", 1, 3.0)
    port = srv.port
    t0 = time.monotonic()
    problems = srv.stop(timeout=5.0)
    assert problems == [] and srv.errors == []
    assert time.monotonic() - t0 < 3.0
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise AssertionError("still accepting after stop()")
    except ConnectionRefusedError:
        pass
    hung.settimeout(2)
    assert hung.recv(100) == b""  # closed without an answer
    hung.close()
    idle.close()

