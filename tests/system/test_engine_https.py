"""http steps over https (our TLS client on the shard's ring, src/http/client + src/tls).

A private CA signs a certificate for IP 127.0.0.1 and DNS localhost (test_store_tls.Certs); a
local HTTPS server (Python's ssl, HTTP/1.1 keep-alive) answers the steps and counts connections.

Invariants checked here:
* With --http-ca-file CA an https step succeeds with the server's answer; three calls of one
  run share one TLS connection (one handshake, rf_http_client_tls_handshakes_total).
* The name is checked: a URL host the certificate does not list fails the step with the
  verification reason, as does a CA that did not sign it (the system bundle, or another CA);
  each counts in rf_http_client_tls_failures_total and the daemon goes on serving.
* A plain HTTP server behind an https URL fails the step with a TLS error, not a hang.
* A --http-ca-file that cannot be read stops the start with exit 2 and says why.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading

import pytest

from engine_client import must_put, start, step
from rfclient import metric_sum, scrape
from test_store_tls import certs  # noqa: F401 (a fixture)

FAST_RETRY = {"max_attempts": 1}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = b'{"ok":true,"path":"' + self.path.encode() + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpsServer:
    def __init__(self, cert: str | None, key: str | None):
        self.connections = 0
        outer = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                conn, addr = super().get_request()
                outer.connections += 1
                return conn, addr

        self.httpd = Server(("127.0.0.1", 0), _Handler)
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def https(certs):  # noqa: F811
    s = HttpsServer(certs.server, certs.server_key)
    yield s
    s.close()


def run_calls(d, name, urls):
    steps = []
    for i, url in enumerate(urls):
        s = {"id": f"c{i}", "type": "http", "request": {"method": "GET", "url": url},
             "retry": FAST_RETRY, "timeout_ms": 5000}
        if i:
            s["depends_on"] = [f"c{i - 1}"]
        steps.append(s)
    must_put(d, name, {"steps": steps})
    st, run = start(d, name, wait="20s")
    assert st == 201, (st, run)
    return run


def tls_metric(d, what):
    return metric_sum(scrape(d.port), f"rf_http_client_tls_{what}_total")


def test_https_steps_verify_the_server_and_keep_the_connection(launch, certs, https):  # noqa: F811
    d = launch("--http-ca-file", certs.ca)
    base = f"https://127.0.0.1:{https.port}"
    run = run_calls(d, "secure", [f"{base}/a", f"{base}/b?x=1", f"{base}/c"])
    assert run["status"] == "succeeded", run
    assert step(run, "c1")["output"]["body"] == {"ok": True, "path": "/b?x=1"}, step(run, "c1")
    assert https.connections == 1, "three calls should share one kept-alive TLS connection"
    assert tls_metric(d, "handshakes") == 1 and tls_metric(d, "failures") == 0
    # A host name the certificate lists is verified too (resolved by the daemon, sent as SNI).
    run = run_calls(d, "byname", [f"https://localhost:{https.port}/n"])
    assert run["status"] == "succeeded", run


def test_a_certificate_that_does_not_verify_fails_the_step(launch, rf_bin, certs, tmp_path):  # noqa: F811
    only_ip = HttpsServer(certs.redis, certs.redis_key)  # IP:127.0.0.1 only, no DNS name
    try:
        d = launch("--http-ca-file", certs.ca)
        run = run_calls(d, "wrongname", [f"https://localhost:{only_ip.port}/x"])
        assert run["status"] == "failed", run
        err = step(run, "c0")["attempts"][0]["error"]
        assert "TLS handshake with localhost" in err and "certificate verify failed" in err, err

        other = launch("--http-ca-file", certs.other)
        run = run_calls(other, "otherca", [f"https://127.0.0.1:{only_ip.port}/x"])
        err = step(run, "c0")["attempts"][0]["error"]
        assert run["status"] == "failed" and "certificate verify failed" in err, err
        assert tls_metric(other, "failures") == 1

        system = launch()  # the system bundle does not hold the private CA
        run = run_calls(system, "system", [f"https://127.0.0.1:{only_ip.port}/x"])
        err = step(run, "c0")["attempts"][0]["error"]
        assert run["status"] == "failed" and "certificate verify failed" in err, err
        # Each daemon still serves.
        assert run_calls(d, "plain-ok", [f"https://127.0.0.1:{only_ip.port}/fine"])["status"] == "succeeded"
    finally:
        only_ip.close()


def test_plain_http_behind_an_https_url_fails_clearly(launch, certs):  # noqa: F811
    plain = HttpsServer(None, None)
    try:
        d = launch("--http-ca-file", certs.ca)
        run = run_calls(d, "notls", [f"https://127.0.0.1:{plain.port}/x"])
        assert run["status"] == "failed", run
        err = step(run, "c0")["attempts"][0]["error"]
        assert "TLS handshake with 127.0.0.1" in err, err
    finally:
        plain.close()
    # A server that accepts and never answers the handshake: the step's timeout ends it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        must_put(d, "silent", {"steps": [{"id": "c0", "type": "http", "timeout_ms": 500,
                                          "retry": FAST_RETRY, "request": {
                                              "url": f"https://127.0.0.1:{silent.getsockname()[1]}/"}}]})
        st, run = start(d, "silent", wait="10s")
        assert st == 201 and run["status"] == "failed", run
        assert "timeout" in step(run, "c0")["attempts"][0]["error"], step(run, "c0")
    finally:
        silent.close()


def test_an_unreadable_ca_file_stops_the_start(rf_bin, tmp_path):
    p = subprocess.run([str(rf_bin), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                        "--http-ca-file", str(tmp_path / "missing.pem")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--http-ca-file" in p.stderr and "missing.pem" in p.stderr, p.stderr
