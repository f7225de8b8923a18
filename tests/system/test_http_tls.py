"""TLS (--tls-cert/--tls-key): HTTP/1.1 and HTTP/2 by ALPN over one port, TLS 1.2+, session
resumption, start-up errors for bad files, and SIGHUP reloading the certificate without dropping
open connections. Certificates are self-signed, made by the test with the openssl CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from engine_client import chain
from h2client import H2Client

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None,
                                reason="needs the openssl CLI and curl")


def make_cert(dir: Path, name: str, cn: str = "localhost") -> tuple[Path, Path]:
    cert, key = dir / f"{name}.crt", dir / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={cn}"], check=True, capture_output=True)
    return cert, key


def client_ctx(alpn: list[str] | None = None, **kw) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def wait_tls_ready(d, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert d.alive(), d.log_tail()
        r = curl(d, "/health/ready", "--http1.1")
        if r.returncode == 0 and r.stdout.endswith("200"):
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready over TLS: {d.log_tail()}")


def curl(d, path: str, *flags: str, method: str = "GET", body: str | None = None):
    args = ["curl", "-sk", "-X", method, "-w", "\n%{http_version} %{http_code}", *flags]
    if body is not None:
        args += ["-H", "content-type: application/json", "--data-binary", body]
    return subprocess.run(args + [f"https://127.0.0.1:{d.port}{path}"], capture_output=True,
                          text=True, timeout=10)


def tls_launch(launch, tmp_path, *extra):
    cert, key = make_cert(tmp_path, "a")
    d = launch("--tls-cert", str(cert), "--tls-key", str(key), *extra, ready=False)
    wait_tls_ready(d)
    return d, cert, key


def fingerprint(sock: ssl.SSLSocket) -> str:
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def h1_request(sock: ssl.SSLSocket, path: str) -> tuple[int, bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                  if ln.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1]), rest


def test_curl_http2_and_http11_over_tls(launch, tmp_path):
    d, _, _ = tls_launch(launch, tmp_path)
    for path in ("/health", "/v1/workflows", "/metrics", "/v1/openapi.json"):
        r = curl(d, path, "--http2")
        assert r.stdout.endswith("\n2 200"), (path, r.stdout[-80:], r.stderr)
        r = curl(d, path, "--http1.1")
        assert r.stdout.endswith("\n1.1 200"), (path, r.stdout[-80:], r.stderr)
    r = curl(d, "/v1/workflows/tlsflow", "--http2", method="PUT", body=json.dumps(chain("a", "b")))
    assert r.stdout.endswith(" 201") or r.stdout.endswith(" 200"), r.stdout
    r = curl(d, "/v1/workflows/tlsflow/runs?wait=10s", "--http2", method="POST",
             body=json.dumps({"input": {"t": 1}}))
    assert r.stdout.endswith("\n2 201"), r.stdout
    run = json.loads(r.stdout.rsplit("\n", 1)[0])
    assert run["status"] == "succeeded", run
    r = curl(d, f"/v1/runs/{run['id']}", "--http1.1")
    assert r.stdout.endswith("\n1.1 200") and run["id"] in r.stdout
    # plain HTTP to the TLS port: no answer, and the daemon goes on
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = s.recv(65536)
    s.close()
    assert not data.startswith(b"HTTP/1.1 200"), data
    assert curl(d, "/health", "--http2").stdout.endswith("\n2 200")


def test_h2_streams_over_tls_and_no_alpn_is_http11(launch, tmp_path):
    d, _, _ = tls_launch(launch, tmp_path)
    with H2Client(d.port, tls=client_ctx(["h2", "http/1.1"])) as c:
        sids = [c.request("GET", "/health") for _ in range(30)]
        for s in sids:
            assert c.response(s).status == 200
    raw = client_ctx().wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                                   server_hostname="localhost")
    assert raw.selected_alpn_protocol() is None
    assert h1_request(raw, "/health")[0] == 200
    raw.close()


def test_tls12_accepted_tls11_refused(launch, tmp_path):
    d, _, _ = tls_launch(launch, tmp_path)
    ctx = client_ctx(["http/1.1"], maximum_version=ssl.TLSVersion.TLSv1_2)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                        server_hostname="localhost")
    assert s.version() == "TLSv1.2" and s.cipher()[0].startswith("ECDHE-"), s.cipher()
    assert h1_request(s, "/health")[0] == 200
    s.close()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{d.port}", "-tls1_1",
                        "-cipher", "DEFAULT@SECLEVEL=0"], input="", capture_output=True,
                       text=True, timeout=10)
    assert "Cipher is (NONE)" in r.stdout or "alert protocol version" in r.stderr, \
        (r.stdout[-300:], r.stderr[-300:])


def test_session_resumption(launch, tmp_path):
    d, _, _ = tls_launch(launch, tmp_path)
    ctx = client_ctx(["http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                        server_hostname="localhost")
    assert h1_request(s, "/health")[0] == 200  # TLS 1.3 tickets arrive after the handshake
    session = s.session
    s.close()
    assert session is not None
    s2 = ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                         server_hostname="localhost", session=session)
    assert h1_request(s2, "/health")[0] == 200
    assert s2.session_reused, "the ticket was not accepted"
    s2.close()
    r = curl(d, "/metrics", "--http1.1")
    resumed = sum(float(ln.split()[-1]) for ln in r.stdout.splitlines()
                  if ln.startswith("rf_http_tls_resumed_total{"))
    assert resumed >= 1, r.stdout


def run_bin(rf_bin, tmp_path, *args):
    return subprocess.run([str(rf_bin), "serve", "--listen", "127.0.0.1:0", "--data-dir",
                           str(tmp_path / "d"), *args], capture_output=True, text=True, timeout=20)


def test_bad_cert_or_key_at_start(rf_bin, tmp_path):
    cert, key = make_cert(tmp_path, "a")
    _, other_key = make_cert(tmp_path, "b")
    r = run_bin(rf_bin, tmp_path, "--tls-cert", str(tmp_path / "missing.crt"), "--tls-key", str(key))
    assert r.returncode == 2, r
    assert "missing.crt" in r.stderr and "No such file" in r.stderr, r.stderr
    r = run_bin(rf_bin, tmp_path, "--tls-cert", str(cert), "--tls-key", str(other_key))
    assert r.returncode == 2 and "does not match" in r.stderr, r.stderr
    (tmp_path / "junk.crt").write_text("not a certificate\n")
    r = run_bin(rf_bin, tmp_path, "--tls-cert", str(tmp_path / "junk.crt"), "--tls-key", str(key))
    assert r.returncode == 2 and "cannot load TLS certificate" in r.stderr, r.stderr
    r = run_bin(rf_bin, tmp_path, "--tls-cert", str(cert))
    assert r.returncode == 2 and "go together" in r.stderr, r.stderr


def test_sighup_reloads_certificate_keeping_connections(launch, tmp_path):
    d, cert, key = tls_launch(launch, tmp_path)
    h1 = client_ctx(["http/1.1"]).wrap_socket(
        socket.create_connection(("127.0.0.1", d.port), timeout=5), server_hostname="localhost")
    assert h1_request(h1, "/health")[0] == 200
    old = fingerprint(h1)
    h2c = H2Client(d.port, tls=client_ctx(["h2"]))
    assert h2c.response(h2c.request("GET", "/health")).status == 200

    new_cert, new_key = make_cert(tmp_path, "b", cn="renewed")
    shutil.copy(new_cert, cert)
    shutil.copy(new_key, key)
    d.signal(1)  # SIGHUP
    deadline = time.monotonic() + 5
    while "TLS certificate reloaded" not in d.log_text():
        assert time.monotonic() < deadline, d.log_tail()
        time.sleep(0.05)

    # the open connections go on, on the certificate they started with
    assert h1_request(h1, "/health")[0] == 200 and fingerprint(h1) == old
    assert h2c.response(h2c.request("GET", "/v1/workflows")).status == 200
    # a new connection gets the new certificate
    s = client_ctx(["http/1.1"]).wrap_socket(
        socket.create_connection(("127.0.0.1", d.port), timeout=5), server_hostname="localhost")
    assert fingerprint(s) != old and h1_request(s, "/health")[0] == 200
    renewed = fingerprint(s)
    s.close()

    # a broken key on the next reload keeps the renewed certificate
    key.write_text("garbage\n")
    d.signal(1)
    deadline = time.monotonic() + 5
    while "TLS reload failed" not in d.log_text():
        assert time.monotonic() < deadline, d.log_tail()
        time.sleep(0.05)
    s = client_ctx(["http/1.1"]).wrap_socket(
        socket.create_connection(("127.0.0.1", d.port), timeout=5), server_hostname="localhost")
    assert fingerprint(s) == renewed and h1_request(s, "/health")[0] == 200
    s.close()
    assert h1_request(h1, "/health")[0] == 200
    h1.close()
    h2c.close()
    assert d.alive()


def test_pending_handshake_does_not_stall_others(launch, tmp_path):
    d, _, _ = tls_launch(launch, tmp_path)
    idle = [socket.create_connection(("127.0.0.1", d.port), timeout=5) for _ in range(20)]
    half = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
    for _ in range(5):
        assert curl(d, "/health", "--http2").stdout.endswith("\n2 200")
    for s in idle + [half]:
        s.close()
