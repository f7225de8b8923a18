"""Outbound policy of http steps (issue 12, deliverable 6), through the real binary.

Invariants checked here:
* A daemon started without --egress-allow never connects to loopback, however the URL spells
  it (literal, a name resolving to it, decimal/hex/octal forms, IPv4-mapped IPv6): a local
  listener that counts accepted connections sees none.
* Each such run fails with `egress_denied: ...` after exactly one attempt, although its
  retry policy would allow more; every denial is counted in
  rf_http_client_egress_denied_total.
* With --egress-allow 127.0.0.1 the same calls succeed; a host pattern admits its name only.
* A bad --egress-allow / --egress-policy value stops the daemon with exit 2 and a message that
  names the key, the entry and what is wrong.
* A namespace's own allowlist ("egress_allow" in --quotas-file) admits its http steps only: the
  same call from another namespace is denied and never connects; SIGHUP replaces the lists; a
  bad entry stops the start (exit 2, naming the namespace) or, on SIGHUP, keeps the lists.
Spec: src/http/client/egress_policy.h, src/http/client/address_class.h, README (Security).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading

import pytest

from engine_client import call, must_put, start, step, wait_until
from rfclient import free_port, metric_sum, scrape

FAST_RETRY = {"max_attempts": 3, "initial_ms": 20, "max_ms": 100, "multiplier": 2, "jitter": 0}

# Every spelling of a loopback address the daemon must refuse by default ({port} filled in).
LOOPBACK_URLS = [
    "http://127.0.0.1:{port}/x",
    "http://localhost:{port}/x",
    "http://2130706433:{port}/x",
    "http://[::ffff:127.0.0.1]:{port}/x",
    "http://0x7f.0.0.1:{port}/x",
    "http://0177.0.0.1:{port}/x",
    "http://127.1:{port}/x",
]


class CountingListener:
    """A TCP listener on 127.0.0.1 that counts accepted connections and answers each with one
    `200 {"ok":true}` (Connection: close)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn):
        try:
            conn.settimeout(5.0)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            body = b'{"ok":true}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        finally:
            conn.close()

    def connections(self) -> int:
        with self._lock:
            return self.accepted

    def close(self):
        self._stop.set()
        self._thread.join(5.0)
        self.sock.close()


@pytest.fixture
def listener():
    lst = CountingListener()
    yield lst
    lst.close()


def run_call(d, name: str, url: str) -> dict:
    must_put(d, name, {"steps": [{"id": "call", "type": "http",
                                  "request": {"method": "GET", "url": url},
                                  "retry": FAST_RETRY, "timeout_ms": 3000}]})
    st, run = start(d, name, wait="15s")
    assert st == 201, (url, st, run)
    return run


def denied_total(d) -> float:
    return metric_sum(scrape(d.port), "rf_http_client_egress_denied_total")


def test_loopback_is_denied_by_default_in_every_spelling(launch, listener):
    d = launch(egress_allow=None)
    for i, template in enumerate(LOOPBACK_URLS):
        url = template.format(port=listener.port)
        run = run_call(d, f"loop{i}", url)
        assert run["status"] == "failed", (url, run)
        attempts = step(run, "call")["attempts"]
        assert len(attempts) == 1, (url, attempts)  # not retried, although 3 were allowed
        err = attempts[0].get("error", "")
        assert err.startswith("egress_denied: ") and "is loopback" in err, (url, err)
        assert "--egress-allow" in err, (url, err)
    assert listener.connections() == 0, "the daemon connected to a denied address"
    assert denied_total(d) == len(LOOPBACK_URLS)


def test_denial_names_the_address_the_host_and_the_range(launch, listener):
    d = launch(egress_allow=None)
    run = run_call(d, "byname", f"http://localhost:{listener.port}/x")
    err = step(run, "call")["attempts"][0]["error"]
    assert err == ("egress_denied: 127.0.0.1 (host 'localhost') is loopback; "
                   "allow it with --egress-allow"), err
    run = run_call(d, "metadata", "http://169.254.169.254/latest/meta-data/")
    err = step(run, "call")["attempts"][0]["error"]
    assert err == ("egress_denied: 169.254.169.254 is link-local (cloud metadata endpoint); "
                   "allow it with --egress-allow"), err
    run = run_call(d, "mapped", f"http://[::ffff:127.0.0.1]:{listener.port}/x")
    err = step(run, "call")["attempts"][0]["error"]
    assert "is loopback (IPv4-mapped 127.0.0.1)" in err, err
    for i, host in enumerate(["10.1.2.3", "192.168.0.1", "100.64.0.1", "[fd00::1]", "[fe80::1]",
                              "0.0.0.0", "224.0.0.1"]):
        run = run_call(d, f"priv{i}", f"http://{host}:{listener.port}/x")
        a = step(run, "call")["attempts"]
        assert len(a) == 1 and a[0]["error"].startswith("egress_denied: "), (host, a)
    assert listener.connections() == 0


def test_allowlisted_loopback_succeeds(launch, listener):
    d = launch("--egress-allow", "127.0.0.1")
    for i, template in enumerate(LOOPBACK_URLS):
        url = template.format(port=listener.port)
        run = run_call(d, f"ok{i}", url)
        assert run["status"] == "succeeded", (url, run)
        assert run["output"]["call"]["body"] == {"ok": True}, run
    assert listener.connections() == len(LOOPBACK_URLS)
    assert denied_total(d) == 0


def test_a_host_pattern_admits_its_name_not_the_address(launch, listener):
    d = launch("--egress-allow", "localhost")
    run = run_call(d, "name", f"http://localhost:{listener.port}/x")
    assert run["status"] == "succeeded", run
    run = run_call(d, "literal", f"http://127.0.0.1:{listener.port}/x")
    assert run["status"] == "failed", run
    assert step(run, "call")["attempts"][0]["error"].startswith("egress_denied: "), run
    assert listener.connections() == 1


def test_allow_all_turns_the_check_off(launch, listener):
    d = launch("--egress-policy", "allow-all", egress_allow=None)
    run = run_call(d, "any", f"http://127.0.0.1:{listener.port}/x")
    assert run["status"] == "succeeded", run
    assert listener.connections() == 1


def test_the_env_mirror_sets_the_allowlist(launch, listener):
    d = launch(env={"RINGFLOW_EGRESS_ALLOW": "127.0.0.0/8"}, egress_allow=None)
    run = run_call(d, "env", f"http://127.0.0.1:{listener.port}/x")
    assert run["status"] == "succeeded", run


@pytest.mark.parametrize("key,value,says", [
    ("egress-allow", "127.0.0.1:8080", "a port is not allowed"),
    ("egress-allow", "10.1.2.3/8", "did you mean 10.0.0.0/8?"),
    ("egress-allow", "10.0.0.0/40", "0..32"),
    ("egress-allow", "127.0.0.1,,localhost", "empty entry"),
    ("egress-allow", "*", "allow-all"),
    ("egress-allow", "2130706433", "not an IP address"),
    ("egress-allow", "a.*.example.com", "first label"),
    ("egress-policy", "open", "deny-private or allow-all"),
])
def test_bad_egress_values_stop_the_daemon_with_a_clear_error(rf_bin, tmp_path, key, value, says):
    p = subprocess.run([str(rf_bin), "serve", "--listen", f"127.0.0.1:{free_port()}",
                        "--data-dir", str(tmp_path / "data"), f"--{key}", value],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p
    assert key in p.stderr and says in p.stderr, p.stderr


def test_help_documents_the_egress_settings(rf_bin):
    p = subprocess.run([str(rf_bin), "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p
    assert "--egress-policy" in p.stdout and "--egress-allow" in p.stdout, p.stdout
    assert "[default: deny-private]" in p.stdout, p.stdout


def ns_run_call(d, ns: str, name: str, url: str) -> dict:
    wf = {"steps": [{"id": "call", "type": "http", "request": {"method": "GET", "url": url},
                     "retry": FAST_RETRY, "timeout_ms": 3000}]}
    st, doc = call(d, "PUT", f"/v1/namespaces/{ns}/workflows/{name}", wf)
    assert st in (200, 201), (st, doc)
    st, run = call(d, "POST", f"/v1/namespaces/{ns}/workflows/{name}/runs?wait=15s", {})
    assert st == 201, (st, run)
    return run


def test_a_namespace_allowlist_admits_its_own_steps_only(launch, listener, tmp_path):
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"namespaces": {"inner": {"egress_allow": ["127.0.0.1/32"]},
                                               "outer": {"live_runs": 100}}}))
    d = launch("--quotas-file", str(path), egress_allow=None)
    url = f"http://127.0.0.1:{listener.port}/x"
    run = ns_run_call(d, "inner", "call", url)
    assert run["status"] == "succeeded", run
    assert listener.connections() == 1
    for ns in ("outer", "default"):
        run = ns_run_call(d, ns, "call", url)
        err = step(run, "call")["attempts"][0]["error"]
        assert run["status"] == "failed" and err.startswith("egress_denied: 127.0.0.1"), (ns, run)
    assert listener.connections() == 1, "a namespace without the entry reached the listener"

    # SIGHUP: the list moves to another namespace.
    path.write_text(json.dumps({"namespaces": {"outer": {"egress_allow": "127.0.0.0/8,localhost"}}}))
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: "quotas reloaded" in d.log_tail(200), 10.0, 0.1, "the reload")
    assert ns_run_call(d, "outer", "again", url)["status"] == "succeeded"
    assert ns_run_call(d, "inner", "again", url)["status"] == "failed"
    assert listener.connections() == 2
    # A bad entry on SIGHUP: logged, the lists in force stay.
    path.write_text(json.dumps({"namespaces": {"outer": {"egress_allow": ["127.0.0.1:80"]}}}))
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: "cannot reload the quotas" in d.log_tail(200), 10.0, 0.1, "the reload error")
    assert "/namespaces/outer/egress_allow" in d.log_tail(200)
    assert ns_run_call(d, "outer", "third", url)["status"] == "succeeded"


@pytest.mark.parametrize("doc,says", [
    ({"namespaces": {"a": {"egress_allow": ["10.0.0.0/33"]}}}, "/namespaces/a/egress_allow"),
    ({"namespaces": {"a": {"egress_allow": ["*"]}}}, "/namespaces/a/egress_allow"),
    ({"namespaces": {"a": {"egress_allow": [1]}}}, "/namespaces/a/egress_allow/0"),
    ({"namespaces": {"a": {"egress_allow": {"x": 1}}}}, "/namespaces/a/egress_allow"),
    ({"default": {"egress_allow": ["10.0.0.1"]}}, "/default/egress_allow: only a namespace"),
])
def test_a_bad_namespace_allowlist_stops_the_start(rf_bin, tmp_path, doc, says):
    path = tmp_path / "q.json"
    path.write_text(json.dumps(doc))
    e = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
    p = subprocess.run([str(rf_bin), "serve", "--data-dir", str(tmp_path / "data"),
                        "--listen", f"127.0.0.1:{free_port()}", "--quotas-file", str(path)],
                       capture_output=True, text=True, env=e, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr[-800:])
    assert says in p.stderr, p.stderr[-800:]
