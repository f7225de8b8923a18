"""Timeouts, connection caps, body limits and many concurrent connections."""

from __future__ import annotations

import errno
import selectors
import socket
import time

from rfclient import (HOST, IMF_FIXDATE, Conn, NoResponse, assert_json_error, get, metric_sum, raise_nofile,
                      scrape)

# ---------------------------------------------------------------- timeouts


def test_slowloris_gets_408_and_close(short_header_timeout):
    """--header-timeout 500ms; headers trickle in one byte per 100 ms and never complete."""
    d = short_header_timeout
    trickle = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 60
    with Conn(d.port, timeout=10.0) as c:
        sent = 0
        for b in trickle:  # at most ~8 s; the server should cut us off after ~0.5 s
            if c.readable_within(0):
                break
            try:
                c.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(0.1)
        assert sent < len(trickle), "whole trickle sent (~8 s) without the server timing out"
        r = c.read_response(timeout=5.0)
        assert_json_error(r, 408)
        closed, extra = c.wait_closed(3.0)
        assert closed and not extra, f"connection not closed after 408 (extra={extra!r})"
    assert get(d.port, "/health").status == 200


def test_header_timeout_on_second_keepalive_request(short_header_timeout):
    d = short_header_timeout
    with Conn(d.port, timeout=10.0) as c:
        c.request("GET", "/health/live")
        assert c.read_response().status == 200
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never completed
        r = c.read_response(timeout=8.0)
        assert_json_error(r, 408)
        closed, _ = c.wait_closed(3.0)
        assert closed


def test_header_timeout_does_not_hit_fast_clients(short_header_timeout):
    d = short_header_timeout
    with Conn(d.port) as c:
        for _ in range(3):  # keep-alive requests well within 500 ms each
            c.request("GET", "/health/live")
            assert c.read_response().status == 200


def test_idle_keepalive_closed_without_bytes(short_idle_timeout):
    d = short_idle_timeout  # --idle-timeout 1s
    with Conn(d.port, timeout=10.0) as c:
        c.request("GET", "/health/live")
        assert c.read_response().status == 200
        closed, extra = c.wait_closed(8.0)
        assert closed, "idle keep-alive connection still open 8 s after a 1 s idle-timeout"
        assert extra == b"", f"idle close must not send response bytes, got {extra[:200]!r}"
    assert get(d.port, "/health").status == 200


# ---------------------------------------------------------------- body limits


def test_413_content_length_over_max_body(small_max_body):
    d = small_max_body  # --max-body 1KiB
    with Conn(d.port) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
        assert_json_error(c.read_response(), 413)
        closed, extra = c.wait_closed(3.0)
        assert closed and not extra, "connection not closed after 413"


def test_body_exactly_max_body_accepted(small_max_body):
    d = small_max_body
    with Conn(d.port) as c:
        c.request("POST", "/health", body=b"y" * 1024)
        assert_json_error(c.read_response(), 405)  # body read, then routed
        c.request("GET", "/health")
        assert c.read_response().status == 200


def test_413_chunked_body_over_max_body(small_max_body):
    d = small_max_body
    with Conn(d.port) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(8):  # 8 x 256 = 2 KiB > 1 KiB
                c.send(b"100\r\n" + b"c" * 256 + b"\r\n")
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert_json_error(c.read_response(), 413)
        closed, _ = c.wait_closed(3.0)
        assert closed, "connection not closed after chunked 413"
    assert get(d.port, "/health").status == 200


def test_chunked_body_within_max_body_accepted(small_max_body):
    d = small_max_body
    with Conn(d.port) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + (b"100\r\n" + b"c" * 256 + b"\r\n") * 4 + b"0\r\n\r\n")
        assert c.read_response().status == 405
        c.request("GET", "/health")
        assert c.read_response().status == 200


def test_small_chunks_under_max_body_accepted(server):
    """700 KiB in 8-byte chunks: the data is under the default 1 MiB --max-body, so it is
    accepted even though the chunk framing makes the wire size larger than 1 MiB."""
    chunk = b"8\r\n" + b"d" * 8 + b"\r\n"
    n = 700 * 1024 // 8
    with Conn(server.port, timeout=20.0) as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(n // 1024):
                c.send(chunk * 1024)
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response(timeout=20.0)
        assert r.status == 405, f"700 KiB chunked body (limit 1 MiB) rejected: {r!r}"
        c.request("GET", "/health")
        assert c.read_response().status == 200


# ---------------------------------------------------------------- connection cap


def test_max_connections_rejects_with_503(small_max_connections):
    d = small_max_connections  # --max-connections 4
    cap, extra = 4, 4
    conns, statuses = [], []
    try:
        for _ in range(cap + extra):
            c = Conn(d.port)
            conns.append(c)
            try:
                c.request("GET", "/health/live")
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                r = c.read_response(timeout=5.0)
            except NoResponse as e:
                raise AssertionError(f"connection #{len(conns)} got no response: {e}") from None
            statuses.append(r.status)
            if r.status == 503:
                assert_json_error(r, 503)
                assert IMF_FIXDATE.fullmatch(r.header("date") or ""), f"503 without Date: {r!r}"
                closed, _ = c.wait_closed(3.0)
                assert closed, "rejected connection not closed after 503"
            else:
                assert r.status == 200, r
        assert statuses.count(200) <= cap, statuses
        assert statuses.count(503) >= extra, statuses
        assert statuses[0] == 200, statuses
    finally:
        for c in conns:
            c.close()
    # the slots are given back once those connections close
    deadline = time.monotonic() + 5
    while True:
        r = get(d.port, "/health/live")
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status == 200, f"slots not released after closing: {r!r}"
    assert metric_sum(scrape(d.port), "rf_http_connections_rejected_total") >= extra


# ---------------------------------------------------------------- many connections


def test_2000_concurrent_connections(server):
    n = 2000
    assert raise_nofile(n + 500) >= n + 100, "cannot raise RLIMIT_NOFILE for this test"
    req = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    sel = selectors.DefaultSelector()
    socks, bufs, status = [], {}, {}
    deadline = time.monotonic() + 30
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((HOST, server.port))
            assert rc in (0, errno.EINPROGRESS), errno.errorcode.get(rc, rc)
            socks.append(s)
            bufs[s] = b""
            sel.register(s, selectors.EVENT_WRITE)
        pending = n
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                if key.events == selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        status[s] = f"connect: {errno.errorcode.get(err, err)}"
                    elif s.send(req) != len(req):
                        status[s] = "short send"
                    else:
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                else:
                    try:
                        chunk = s.recv(4096)
                    except OSError as e:
                        chunk, status[s] = b"", f"recv: {e}"
                    bufs[s] += chunk
                    head, sep, body = bufs[s].partition(b"\r\n\r\n")
                    if sep:
                        cl = [ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                              if ln.lower().startswith(b"content-length:")]
                        if cl and len(body) >= int(cl[0]):
                            status[s] = int(head.split(b" ", 2)[1])
                    if not chunk and s not in status:
                        status[s] = f"closed early: {bufs[s][:100]!r}"
                    if s not in status:
                        continue
                sel.unregister(s)  # keep the socket open: all must be concurrent
                pending -= 1
        bad = [v for v in status.values() if v != 200]
        assert len(status) == n, f"only {len(status)}/{n} answered within 30 s"
        assert not bad, f"{len(bad)} non-200 results, e.g. {bad[:5]}"
        # all 2000 are still open: the gauge must see them
        open_now = metric_sum(scrape(server.port), "rf_http_connections_open")
        assert open_now >= n, f"rf_http_connections_open={open_now} with {n} open connections"
    finally:
        sel.close()
        for s in socks:
            s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        open_now = metric_sum(scrape(server.port), "rf_http_connections_open")
        if open_now < 50:
            break
        time.sleep(0.2)
    assert open_now < 50, f"rf_http_connections_open stuck at {open_now} after closing all"


def test_fd_exhaustion_does_not_spin_or_flood_the_log(launch):
    """With RLIMIT_NOFILE 64 and 150 clients, accept() hits EMFILE. The daemon must keep
    serving the connections it has, not busy-loop on accept or flood its log, and recover."""
    d = launch(nofile=64)
    socks = []
    try:
        for _ in range(150):
            socks.append(socket.create_connection((HOST, d.port), timeout=5))
        time.sleep(0.5)
        lines0, cpu0 = len(d.log_text().splitlines()), d.cpu_seconds()
        time.sleep(1.0)
        lines1, cpu1 = len(d.log_text().splitlines()), d.cpu_seconds()
        assert lines1 - lines0 < 100, f"{lines1 - lines0} log lines in 1 s while at the fd limit:" \
                                      f"\n{d.log_tail(3)}"
        assert cpu1 - cpu0 < 0.25, f"{cpu1 - cpu0:.2f} s CPU in 1 s while clients just wait"
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            if get(d.port, "/health", timeout=2).status == 200:
                break
        except (OSError, NoResponse):
            pass
        assert time.monotonic() < deadline, "not serving again after the fds were released"
        time.sleep(0.2)


def test_idle_daemon_does_not_busy_poll(launch):
    d = launch()
    time.sleep(0.5)
    cpu0 = d.cpu_seconds()
    time.sleep(2.0)
    used = d.cpu_seconds() - cpu0
    assert used < 0.3, f"idle daemon used {used:.2f} s CPU in 2 s"
