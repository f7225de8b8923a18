"""TLS to the stores (issue 12, deliverable 8): PostgreSQL through libpq's sslmode, Redis through
rediss:// on our own TLS client (src/tls over the shard's io_uring).

A private CA, a server certificate it signed (IP 127.0.0.1 and DNS localhost; the Redis one
IP 127.0.0.1 only) and an unrelated CA are made with `openssl` in a temp dir; PostgreSQL
(tools/pg.sh with PG_TLS_CERT/PG_TLS_KEY) and redis-server (tools/redis.sh with
REDIS_TLS_CERT/REDIS_TLS_KEY, tls-port) run with them.

Invariants checked here:
* serve with sslmode=verify-full&sslrootcert=CA commits and reads over TLS: every backend of its
  database reports TLS in pg_stat_ssl; after kill -9 the runs (one with a 600 KB input, read
  back in many TLS records) are read back through the same connections; a host *name*
  (localhost), which Connect resolves itself, is still verified against the certificate.
* A CA that did not sign the server's certificate stops serve and migrate with "certificate
  verify failed"; doctor shows the whole reason.
* doctor reports how the daemon's own PostgreSQL connection is secured.
* Through a TLS proxy that sends 16 KiB records (as PgBouncer may; PostgreSQL itself sends at
  most 8 KiB), large rows are written and read back after a restart. (pg_conn.cc also takes
  bytes OpenSSL holds decrypted before it waits for the socket, TlsPending; this test passes
  without that too: libpq's buffer sizing drained the records here.)
* rediss:// connects and PINGs over TLS with --redis-ca-file; a wrong CA, the system bundle (which
  does not hold the private CA), a name the certificate does not list, a plain port, and an
  unreadable CA file each fail with a message that says which; serve with rediss:// publishes
  its events through Redis over TLS.
"""

from __future__ import annotations

import select
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from engine_client import get_run, kill9, must_put, must_start, relaunch, wait_until
from pg_fixtures import PgCluster, PgError, pg_bindir
from redis_fixtures import RedisServer
from rfclient import metric_sum, scrape


def _openssl(*args: str, cwd: Path) -> None:
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"


class Certs:
    """ca.crt signed server.crt (IP:127.0.0.1, DNS:localhost), redis.crt (IP:127.0.0.1) and
    peer.crt (as server.crt, also for clients: a daemon's certificate for mutual TLS); other.crt
    is a CA that signed none of them."""

    def __init__(self, dir: Path):
        self.dir = dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", "/CN=ringflow test CA", cwd=dir)
        _openssl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other.crt", "-days", "2",
                 "-subj", "/CN=another CA", cwd=dir)
        for name, san, usage in (("server", "IP:127.0.0.1,DNS:localhost", "serverAuth"),
                                 ("redis", "IP:127.0.0.1", "serverAuth"),
                                 ("peer", "IP:127.0.0.1,DNS:localhost", "serverAuth,clientAuth")):
            (dir / f"{name}.ext").write_text(
                f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n")
            _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                     "-subj", f"/CN={name}", cwd=dir)
            _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                     "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                     "-extfile", f"{name}.ext", cwd=dir)
        # The servers run as other users (postgres when root): let them read the files.
        dir.chmod(0o755)
        for f in dir.iterdir():
            f.chmod(0o644)

        self.ca = str(dir / "ca.crt")
        self.other = str(dir / "other.crt")
        self.server, self.server_key = str(dir / "server.crt"), str(dir / "server.key")
        self.redis, self.redis_key = str(dir / "redis.crt"), str(dir / "redis.key")
        self.peer, self.peer_key = str(dir / "peer.crt"), str(dir / "peer.key")
        self.other_key = str(dir / "other.key")


@pytest.fixture(scope="module")
def certs():
    if shutil.which("openssl") is None:
        pytest.fail("openssl not found (the tests make their CA with it)", pytrace=False)
    d = Path(tempfile.mkdtemp(prefix="rf-tls-"))
    try:
        yield Certs(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_tls(certs):
    bindir = pg_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found: run tools/setup.sh", pytrace=False)
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="rf-pgtls-")), bindir)
    cluster.env["PG_TLS_CERT"] = certs.server
    cluster.env["PG_TLS_KEY"] = certs.server_key
    try:
        cluster.start()
    except PgError as e:
        pytest.fail(f"could not start PostgreSQL with TLS: {e}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_tls(certs):
    server = RedisServer(Path(tempfile.mkdtemp(prefix="rf-redistls-")),
                         env={"REDIS_TLS_CERT": certs.redis, "REDIS_TLS_KEY": certs.redis_key})
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


def _tls_port(server: RedisServer) -> int:
    return int((server.dir / "tls-port").read_text())


_dbs = iter(range(1000))


def _database(cluster: PgCluster, query: str, host: str = "127.0.0.1") -> tuple[str, str]:
    """A fresh database on the TLS cluster; (its name, its URL with `query`)."""
    db = f"rf_tls_{next(_dbs)}"
    cluster.psql(f"CREATE DATABASE {db};")
    return db, f"postgresql://ringflow@{host}:{cluster.port}/{db}?{query}"


def _doctor(rf_bin, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(rf_bin), "doctor", "--data-dir", str(tmp_path / "doc"), *args],
                          capture_output=True, text=True, timeout=60)


def _line(out: str, prefix: str) -> str:
    return next(l for l in out.splitlines() if l.startswith(prefix))


def _backends(cluster: PgCluster, db: str) -> list[str]:
    """ssl|version of every client backend of `db` but this query's own."""
    out = cluster.psql(
        "SELECT s.ssl, coalesce(s.version, '') FROM pg_stat_ssl s JOIN pg_stat_activity a "
        f"USING (pid) WHERE a.datname = '{db}' AND a.backend_type = 'client backend' "
        "AND a.pid <> pg_backend_pid();", db=db)
    return [l for l in out.splitlines() if l]


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_serve_commits_and_recovers_over_verified_tls(launch, pg_tls, certs, host):
    db, url = _database(pg_tls, f"sslmode=verify-full&sslrootcert={certs.ca}", host)
    store = ("--store", "postgres", "--database-url", url)
    d = launch(*store, "--migrate", "true")
    must_put(d, "tls", {"steps": [{"id": "a", "type": "noop"}]})
    big = "x" * 600_000
    ids = [must_start(d, "tls", input={"i": i, "big": big if i == 0 else ""}, wait="10s")["id"]
           for i in range(5)]
    backends = _backends(pg_tls, db)
    assert backends, "the daemon has no connection to its database"
    assert all(b.startswith("t|TLSv1.") for b in backends), backends

    kill9(d)
    d2 = relaunch(launch, d, *store)
    for i, run_id in enumerate(ids):
        st, run = get_run(d2, run_id)
        assert st == 200 and run["status"] == "succeeded", (st, run)
        assert len(run["input"]["big"]) == (600_000 if i == 0 else 0)
    assert all(b.startswith("t|TLSv1.") for b in _backends(pg_tls, db))


def test_a_wrong_ca_stops_serve_and_migrate_with_the_reason(rf_bin, tmp_path, pg_tls, certs):
    _, url = _database(pg_tls, f"sslmode=verify-full&sslrootcert={certs.other}")
    m = subprocess.run([str(rf_bin), "migrate", "up", "--database-url", url],
                       capture_output=True, text=True, timeout=60)
    assert m.returncode != 0
    assert "certificate verify failed" in m.stdout + m.stderr, m
    s = subprocess.run([str(rf_bin), "serve", "--listen", "127.0.0.1:0", "--data-dir",
                        str(tmp_path / "d"), "--store", "postgres", "--database-url", url],
                       capture_output=True, text=True, timeout=60)
    assert s.returncode == 1, s
    assert "certificate verify failed" in s.stderr, s.stderr


def test_doctor_reports_the_tls_of_the_postgres_connection(rf_bin, tmp_path, pg_tls, certs):
    _, url = _database(pg_tls, f"sslmode=verify-full&sslrootcert={certs.ca}")
    subprocess.run([str(rf_bin), "migrate", "up", "--database-url", url], check=True,
                   capture_output=True, timeout=60)
    r = _doctor(rf_bin, tmp_path, "--store", "postgres", "--database-url", url)
    line = _line(r.stdout, "postgres tls")
    assert "TLSv1.3, sslmode=verify-full (local)" in line and line.endswith(" ok"), line

    plain = url.split("?")[0] + "?sslmode=disable"
    line = _line(_doctor(rf_bin, tmp_path, "--store", "postgres", "--database-url", plain).stdout,
                 "postgres tls")
    assert "off, sslmode=disable (local)" in line, line

    bad = url.split("?")[0] + f"?sslmode=verify-full&sslrootcert={certs.other}"
    r = _doctor(rf_bin, tmp_path, "--store", "postgres", "--database-url", bad)
    assert r.returncode == 1
    assert _line(r.stdout, "store postgres ").endswith("FINDING")
    assert "SSL error: certificate verify failed" in r.stdout, r.stdout


class PgTlsProxy:
    """Answers PostgreSQL's SSLRequest with 'S', does TLS with the client (Python's ssl writes
    records of up to 16 KiB) and relays the plaintext to the server's port. One thread per
    client connection, which alone reads and writes its TLS socket."""

    SSL_REQUEST = struct.pack("!ii", 8, 80877103)

    def __init__(self, upstream: int, cert: str, key: str):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.upstream = upstream
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.big_records = 0  # relayed reads from the server over 8 KiB (sent as 16 KiB records)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket):
        try:
            if c.recv(8, socket.MSG_WAITALL) != self.SSL_REQUEST:
                return
            c.sendall(b"S")
            tls = self.ctx.wrap_socket(c, server_side=True)
            with socket.create_connection(("127.0.0.1", self.upstream)) as up, tls:
                while not self.stopping:
                    ready = [tls] if tls.pending() else select.select([tls, up], [], [], 0.2)[0]
                    if tls in ready:
                        data = tls.recv(65536)
                        if not data:
                            return
                        up.sendall(data)
                    if up in ready:
                        data = up.recv(1 << 20)
                        if not data:
                            return
                        if len(data) > 8192:
                            self.big_records += 1
                        tls.sendall(data)
        except (OSError, ssl.SSLError):
            return

    def close(self):
        self.stopping = True
        self.sock.close()


def test_large_results_arrive_through_a_proxy_that_sends_16k_tls_records(launch, pg, certs):
    """pg (the session's plain cluster) behind the proxy: TLS is the proxy's."""
    proxy = PgTlsProxy(pg.port, certs.server, certs.server_key)
    try:
        db = "rf_tls_proxy"
        pg.psql(f"CREATE DATABASE {db};")
        url = (f"postgresql://ringflow@127.0.0.1:{proxy.port}/{db}"
               f"?sslmode=verify-full&sslrootcert={certs.ca}")
        store = ("--store", "postgres", "--database-url", url)
        d = launch(*store, "--migrate", "true")
        must_put(d, "big", {"steps": [{"id": "a", "type": "noop"}]})
        big = "y" * 700_000
        ids = [must_start(d, "big", input={"big": big}, wait="10s")["id"] for _ in range(3)]
        kill9(d)
        d2 = relaunch(launch, d, *store)  # recovery and GETs read the large rows back
        for run_id in ids:
            st, run = get_run(d2, run_id)
            assert st == 200 and run["input"]["big"] == big, (st, run.get("status"))
        assert proxy.big_records > 0, "the proxy never sent a record over 8 KiB: no test"
    finally:
        proxy.close()


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------

def test_rediss_pings_over_tls_with_the_ca_file(rf_bin, tmp_path, redis_tls, certs):
    port = _tls_port(redis_tls)
    r = _doctor(rf_bin, tmp_path, "--redis-url", f"rediss://127.0.0.1:{port}/1",
                "--redis-ca-file", certs.ca)
    line = _line(r.stdout, "redis")
    assert line.startswith(f"redis 127.0.0.1:{port} ") and "PONG in" in line and "TLSv1.3" in line, line
    assert line.endswith(" ok"), line


@pytest.mark.parametrize("case", ["wrong_ca", "system_bundle", "wrong_name", "plain_port",
                                  "unreadable_ca"])
def test_rediss_refuses_what_it_cannot_verify_and_says_why(rf_bin, tmp_path, redis_tls, certs, case):
    port = _tls_port(redis_tls)
    url, ca, why = f"rediss://127.0.0.1:{port}", ["--redis-ca-file", certs.ca], ""
    if case == "wrong_ca":
        ca, why = ["--redis-ca-file", certs.other], "certificate verify failed: unable to get local issuer certificate"
    elif case == "system_bundle":
        ca, why = [], "certificate verify failed: unable to get local issuer certificate"
    elif case == "wrong_name":
        url, why = f"rediss://localhost:{port}", "certificate verify failed: hostname mismatch"
    elif case == "plain_port":
        url, why = f"rediss://127.0.0.1:{redis_tls.port}", "TLS handshake not finished by the deadline"
    else:
        ca, why = ["--redis-ca-file", str(tmp_path / "missing.pem")], "cannot read CA file"
    r = _doctor(rf_bin, tmp_path, "--redis-url", url, *ca)
    assert r.returncode == 1
    assert "FINDING" in _line(r.stdout, "redis"), r.stdout
    assert why in r.stdout, r.stdout


def test_serve_publishes_cluster_events_over_rediss(launch, rf_bin, tmp_path, pg_tls, redis_tls,
                                                    certs):
    _, url = _database(pg_tls, f"sslmode=verify-full&sslrootcert={certs.ca}")
    rediss = f"rediss://127.0.0.1:{_tls_port(redis_tls)}"
    common = ("--store", "postgres", "--database-url", url, "--migrate", "true",
              "--redis-url", rediss)
    # A CA file that cannot be read stops serve at once, naming it.
    s = subprocess.run([str(rf_bin), "serve", "--listen", "127.0.0.1:0", "--data-dir",
                        str(tmp_path / "bad"), *common, "--redis-ca-file", str(tmp_path / "no.pem")],
                       capture_output=True, text=True, timeout=60)
    assert s.returncode == 2 and "cannot read CA file" in s.stderr, s

    d = launch(*common, "--redis-ca-file", certs.ca)
    wait_until(lambda: metric_sum(scrape(d.port), "rf_cluster_events_up") == 1, 10.0,
               what="cluster events up over TLS")
    before = int(redis_tls.cli("XLEN", "ringflow:events") or 0)
    must_put(d, "ev", {"steps": [{"id": "a", "type": "noop"}]})
    must_start(d, "ev", wait="10s")
    wait_until(lambda: metric_sum(scrape(d.port), "rf_cluster_events_published_total") >= 1, 10.0,
               what="an event batch published")
    wait_until(lambda: int(redis_tls.cli("XLEN", "ringflow:events")) > before, 10.0,
               what="the batch in the stream")
    assert metric_sum(scrape(d.port), "rf_cluster_events_read_errors_total") == 0
