"""Any daemon accepts any API request: two daemons on one PostgreSQL database (the `pg`
fixture's private cluster), one holding every partition, the other a standby that forwards
starts, commands and GETs of live runs to the holder (found through partition_leases and the
instances table each daemon advertises itself in) and relays its answers. A request already
forwarded once is never forwarded again; once the holder is gone and its partitions taken
over, the former standby serves directly. Each test uses a database of its own."""

from __future__ import annotations

import os
import subprocess

import pytest

import rfclient
from engine_client import (call, cancel, get_json, get_run, kill9, must_put, start, wait_terminal,
                           wait_until)
from test_pg_store import fresh_db, launch_pg
from test_store_tls import certs  # noqa: F401 (a fixture)

DELAYED = {"steps": [{"id": "wait", "type": "delay", "ms": 60000},
                     {"id": "after", "type": "noop", "depends_on": ["wait"]}]}
QUICK = {"steps": [{"id": "a", "type": "noop"}]}


def held(d) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_partitions_held")


def forwarded(d, outcome: str) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_forward_requests_total", outcome=outcome)


def holder_and_standby(launch, pg):
    db, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    assert held(d1) == 256
    d2 = launch_pg(launch, url, "--standby", "true")
    assert held(d2) == 0
    must_put(d1, "delayed", DELAYED)
    must_put(d1, "quick", QUICK)
    wait_until(lambda: get_json(d2, "/v1/workflows/quick")[0] == 200
               and get_json(d2, "/v1/workflows/delayed")[0] == 200, 10.0, 0.1,
               "d2 knows the workflows made on d1")
    # Each daemon advertises its --listen address (the default).
    rows = pg.psql("SELECT advertise FROM instances ORDER BY advertise;", db=db).split()
    assert sorted(rows) == sorted([f"127.0.0.1:{d1.port}", f"127.0.0.1:{d2.port}"]), rows
    return d1, d2


def test_a_standby_forwards_starts_commands_and_gets_to_the_holder(launch, pg):
    d1, d2 = holder_and_standby(launch, pg)

    # A keyless start through the standby is started by the holder.
    st, doc = start(d2, "delayed")
    assert st == 201, (st, doc)
    rid = doc["id"]
    st, there = get_run(d1, rid)
    assert st == 200 and there["status"] in ("pending", "running", "waiting"), there

    # A GET of the live run through the standby.
    st, doc = get_run(d2, rid)
    assert st == 200 and doc["id"] == rid and doc["status"] in ("pending", "running", "waiting"), doc

    # The same Idempotency-Key twice through the standby: one run.
    first = start(d2, "quick", key="order-42")
    again = start(d2, "quick", key="order-42")
    assert first[0] == 201, first
    assert again[0] == 200 and again[1]["id"] == first[1]["id"], (first, again)

    # ?wait through the standby: the holder answers once the run is terminal.
    done = start(d2, "quick", wait="5s")
    assert done[0] == 201 and done[1]["status"] == "succeeded", done

    # A command through the standby.
    st, doc = cancel(d2, rid)
    assert st == 200 and doc["status"] == "cancelled", (st, doc)
    assert wait_terminal(d1, rid, 10.0)["status"] == "cancelled"
    # An error of the holder is relayed as it is.
    st, doc = cancel(d2, rid)
    assert st == 409 and doc["error"]["code"] == "conflict", (st, doc)

    assert forwarded(d2, "ok") >= 7
    assert forwarded(d1, "ok") == 0  # the holder served them itself


def test_a_request_forwarded_once_is_not_forwarded_again(launch, pg):
    _, d2 = holder_and_standby(launch, pg)
    reply = call(d2, "POST", "/v1/workflows/quick/runs", headers={"X-Ringflow-Forwarded": "1"})
    st, doc = reply
    assert st == 503, reply
    assert reply.resp.header("retry-after") == "1", reply.resp
    assert "held by another instance" in doc["error"]["message"], doc
    assert "not forwarded again" in doc["error"]["message"], doc
    assert forwarded(d2, "loop") == 1


def test_after_a_takeover_the_former_standby_serves_directly(launch, pg):
    d1, d2 = holder_and_standby(launch, pg)
    st, doc = start(d2, "delayed")
    assert st == 201, doc
    rid = doc["id"]
    kill9(d1)
    # Until its leases expire (4 s) d1 still holds the partitions: it does not answer, so 503.
    reply = start(d2, "quick")
    assert reply[0] == 503, reply
    assert reply.resp.header("retry-after") == "1", reply.resp
    assert "did not answer" in reply[1]["error"]["message"], reply
    assert forwarded(d2, "unreachable") >= 1
    wait_until(lambda: held(d2) == 256, 20.0, 0.2, "d2 holds every partition")
    before = forwarded(d2, "ok")
    st, doc = get_run(d2, rid)
    assert st == 200 and doc["status"] in ("pending", "running", "waiting"), doc
    st, doc = start(d2, "quick", wait="5s")
    assert st == 201 and doc["status"] == "succeeded", doc
    assert cancel(d2, rid)[0] == 200
    assert forwarded(d2, "ok") == before  # served here, not forwarded


def test_no_known_holder_answers_503(launch, pg):
    db, url = fresh_db(pg)
    d1 = launch_pg(launch, url, "--migrate", "true")
    must_put(d1, "quick", QUICK)
    d2 = launch_pg(launch, url, "--standby", "true")
    wait_until(lambda: get_json(d2, "/v1/workflows/quick")[0] == 200, 10.0, 0.1, "d2 knows quick")
    # An instance that never advertised itself holds every partition (d1 stops: fenced).
    pg.psql("UPDATE partition_leases SET owner = 'ghost', epoch = epoch + 1000, "
            "expires_at = now() + interval '1 hour';", db=db)
    assert d1.wait(10.0) == 75, d1.log_tail()
    reply = start(d2, "quick")
    assert reply[0] == 503, reply
    assert reply.resp.header("retry-after") == "1", reply.resp
    assert "no other instance holds it now" in reply[1]["error"]["message"], reply
    assert forwarded(d2, "no_holder") == 1


def _https(d, ca, method, path, body=None):
    """(status, json) over https, verifying the daemon's certificate with `ca`."""
    import json as _json
    import subprocess as _sp
    args = ["curl", "-s", "--cacert", ca, "-X", method, "-w", "\n%{http_code}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", _json.dumps(body)]
    p = _sp.run(args + [f"https://127.0.0.1:{d.port}{path}"], capture_output=True, text=True, timeout=20)
    text, _, code = p.stdout.rpartition("\n")
    return int(code or 0), (_json.loads(text) if text.strip() else None)


def test_daemons_serving_tls_forward_over_https(launch, pg, certs):
    """With --tls-cert every daemon speaks https only, so a standby forwards to the holder over
    https, verifying its certificate against --peer-ca-file; a CA that did not sign it makes the
    forward fail with 503 naming the reason, never a plain-HTTP attempt."""
    from test_http_tls import wait_tls_ready
    db, url = fresh_db(pg)
    tls = ["--tls-cert", certs.server, "--tls-key", certs.server_key]
    d1 = launch_pg(launch, url, "--migrate", "true", *tls, "--peer-ca-file", certs.ca, ready=False)
    wait_tls_ready(d1)
    d2 = launch_pg(launch, url, "--standby", "true", *tls, "--peer-ca-file", certs.ca, ready=False)
    wait_tls_ready(d2)
    assert _https(d1, certs.ca, "PUT", "/v1/workflows/quick", QUICK)[0] == 201
    wait_until(lambda: _https(d2, certs.ca, "GET", "/v1/workflows/quick")[0] == 200, 10.0, 0.1,
               "d2 knows the workflow")
    st, run = _https(d2, certs.ca, "POST", "/v1/workflows/quick/runs?wait=10s", {"input": {}})
    assert st == 201 and run["status"] == "succeeded", (st, run)
    st, again = _https(d2, certs.ca, "GET", f"/v1/runs/{run['id']}")
    assert st == 200 and again["id"] == run["id"], (st, again)
    # A standby that does not trust the holder's CA cannot forward: 503, with the reason.
    d3 = launch_pg(launch, url, "--standby", "true", *tls, "--peer-ca-file", certs.other, ready=False)
    wait_tls_ready(d3)
    st, err = _https(d3, certs.ca, "POST", "/v1/workflows/quick/runs", {"input": {}})
    assert st == 503 and "certificate verify failed" in err["error"]["message"], (st, err)


def _curl_internal(port: int, ca: str, *client: str) -> subprocess.CompletedProcess:
    """GET /health on an internal port, presenting `client` (--cert, --key) if given."""
    args = ["curl", "-s", "--cacert", ca, "-w", "\n%{http_code}", *client,
            f"https://127.0.0.1:{port}/health"]
    return subprocess.run(args, capture_output=True, text=True, timeout=20)


def test_the_internal_port_serves_peers_with_client_certificates_only(launch, pg, certs, rf_bin, tmp_path):
    """--internal-listen: forwarded requests go to a second port that asks for a client
    certificate chained to --internal-client-ca (mutual TLS); daemons present their --tls-cert.
    Without a certificate, or with one of another CA, the handshake fails there; the public port
    is unchanged."""
    from test_http_tls import wait_tls_ready
    db, url = fresh_db(pg)
    tls = ["--tls-cert", certs.peer, "--tls-key", certs.peer_key, "--peer-ca-file", certs.ca,
           "--internal-client-ca", certs.ca]
    p1, p2 = rfclient.free_port(), rfclient.free_port()
    d1 = launch_pg(launch, url, "--migrate", "true", *tls, "--internal-listen", f"127.0.0.1:{p1}", ready=False)
    wait_tls_ready(d1)
    d2 = launch_pg(launch, url, "--standby", "true", *tls, "--internal-listen", f"127.0.0.1:{p2}", ready=False)
    wait_tls_ready(d2)
    # Each daemon advertises its internal port.
    rows = pg.psql("SELECT advertise FROM instances ORDER BY advertise;", db=db).split()
    assert sorted(rows) == sorted([f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"]), rows

    assert _https(d1, certs.ca, "PUT", "/v1/workflows/quick", QUICK)[0] == 201
    wait_until(lambda: _https(d2, certs.ca, "GET", "/v1/workflows/quick")[0] == 200, 10.0, 0.1,
               "d2 knows the workflow")
    st, run = _https(d2, certs.ca, "POST", "/v1/workflows/quick/runs?wait=10s", {"input": {}})
    assert st == 201 and run["status"] == "succeeded", (st, run)
    st, again = _https(d2, certs.ca, "GET", f"/v1/runs/{run['id']}")
    assert st == 200 and again["id"] == run["id"], (st, again)

    # The internal port: the peer certificate gets in; none, or another CA's, does not.
    ok = _curl_internal(p1, certs.ca, "--cert", certs.peer, "--key", certs.peer_key)
    assert ok.returncode == 0 and ok.stdout.endswith("200"), ok
    bare = _curl_internal(p1, certs.ca)
    assert bare.returncode != 0 or not bare.stdout.endswith("200"), bare
    other = _curl_internal(p1, certs.ca, "--cert", certs.other, "--key", certs.other_key)
    assert other.returncode != 0 or not other.stdout.endswith("200"), other
    text = _metrics_text(d1, certs.ca)
    assert 'rf_http_tls_failures_total{shard="0",port="internal"}' in text or \
        'rf_http_tls_failures_total{shard="1",port="internal"}' in text, text[-2000:]
    failures = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("rf_http_tls_failures_total{") and 'port="internal"' in line)
    assert failures >= 2, text
    # A forwarded request arrived on the internal port: d1 counted it there.
    accepted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("rf_http_connections_accepted_total{") and 'port="internal"' in line)
    assert accepted >= 2, text  # the forward client's connection(s) and the curl probes


def _metrics_text(d, ca: str) -> str:
    p = subprocess.run(["curl", "-s", "--cacert", ca, f"https://127.0.0.1:{d.port}/metrics"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p
    return p.stdout


@pytest.mark.parametrize("args,message", [
    (["--internal-listen", "127.0.0.1:0"], "--internal-listen needs --tls-cert"),
    (["--internal-listen", "127.0.0.1:0", "--tls-cert", "{peer}", "--tls-key", "{peer_key}"],
     "--internal-listen needs --internal-client-ca"),
    (["--internal-listen", "localhost:9000"], "host must be an IP address"),
    (["--internal-listen", "127.0.0.1:0", "--tls-cert", "{peer}", "--tls-key", "{peer_key}",
      "--internal-client-ca", "/nonexistent/ca.pem"], "cannot read TLS client CA file /nonexistent/ca.pem"),
])
def test_internal_port_settings_are_checked(rf_bin, tmp_path, certs, args, message):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
    args = [a.format(peer=certs.peer, peer_key=certs.peer_key) for a in args]
    p = subprocess.run([str(rf_bin), "serve", "--data-dir", str(tmp_path / "data"),
                        "--listen", f"127.0.0.1:{rfclient.free_port()}", *args],
                       capture_output=True, text=True, env=e, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr[-800:])
    assert message in p.stderr, p.stderr[-800:]
