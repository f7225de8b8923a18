"""GET /v1/slo (issue 15 item 3): objectives and error budgets from the daemon's own counters.

Invariants checked here, through the real binary:
* The objectives are the flags' (--slo-availability, --slo-latency-ms, --slo-latency-target),
  with the histogram bound the threshold is read at; the three windows 1h, 24h, 30d are there and
  a young daemon says how far back its data goes (covered_seconds <= its uptime).
* /v1 requests are counted (4xx answers are not errors); a request slower than the threshold
  (a start with ?wait= on a run that takes longer) is counted slow and spends the latency budget
  by the expected amount; event streams are not timed.
* Bad objective values stop the daemon with exit 2 naming the key.
* The route needs read access: with --auth on a viewer key reads it, no credential is 401.
* The windows outlive a restart (<data-dir>/slo.json): counts, slow requests and since_ms carry
  over; a state that does not apply (another latency threshold) or cannot be read (garbage)
  starts the windows empty, is logged, and never stops the daemon from starting.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from engine_client import call, data_dir, must_put, relaunch, start, term
from rfclient import free_port


def slo(d) -> dict:
    r = call(d, "GET", "/v1/slo")
    assert r.status == 200, r
    return r.json


def window(doc: dict, name: str) -> dict:
    return next(w for w in doc["windows"] if w["window"] == name)


def test_objectives_windows_and_counts(launch):
    t0 = time.time()
    d = launch("--slo-availability", "0.99", "--slo-latency-ms", "100", "--slo-latency-target", "0.9")
    doc = slo(d)
    assert doc["objectives"] == {"availability": {"target": 0.99},
                                 "latency": {"threshold_ms": 100, "measured_at_ms": 100, "target": 0.9}}
    assert [w["window"] for w in doc["windows"]] == ["1h", "24h", "30d"]
    assert [w["seconds"] for w in doc["windows"]] == [3600, 86400, 2592000]
    assert abs(doc["since_ms"] / 1000 - t0) < 30
    for w in doc["windows"]:
        assert 0 <= w["covered_seconds"] <= time.time() - t0 + 2
    before = window(doc, "1h")

    # 20 quick requests that answer 404 (not an error of ours), then 2 slow ones: a start whose
    # ?wait= holds the answer until a 400 ms delay ends.
    for _ in range(20):
        assert call(d, "GET", "/v1/workflows/nope").status == 404
    must_put(d, "slow", {"steps": [{"id": "pause", "type": "delay", "ms": 400}]})
    for _ in range(2):
        st, run = start(d, "slow", wait="10s")
        assert st in (200, 201) and run["status"] == "succeeded", run
    after = slo(d)
    for name in ("1h", "24h", "30d"):
        w = window(after, name)
        b = window(doc, name)
        grown = w["availability"]["requests"] - b["availability"]["requests"]
        # 20 + PUT + 2 starts + the first GET /v1/slo (counted once it answered)
        assert grown >= 23, (name, w, b)
        assert w["availability"]["errors"] == 0, w
        assert w["availability"]["error_budget_remaining"] == 1
        assert w["latency"]["slow"] - b["latency"]["slow"] == 2, (name, w)
    w = window(after, "1h")
    lat = w["latency"]
    # 2 slow of N timed against 10% allowed: remaining = 1 - 2 / (0.1 N), burn rate = (2/N) / 0.1.
    n = lat["requests"]
    assert lat["error_budget_remaining"] == pytest.approx(1 - 2 / (0.1 * n), rel=1e-3)
    assert lat["burn_rate"] == pytest.approx((2 / n) / 0.1, rel=1e-3)
    assert lat["ratio"] == pytest.approx(1 - 2 / n, rel=1e-3)
    assert before["latency"]["slow"] == 0


def test_event_streams_are_not_timed(launch):
    d = launch("--slo-latency-ms", "50")
    must_put(d, "brief", {"steps": [{"id": "pause", "type": "delay", "ms": 300}]})
    st, run = start(d, "brief")
    assert st == 201, run
    before = window(slo(d), "1h")
    r = call(d, "GET", f"/v1/runs/{run['id']}/events", timeout=10)  # streams until the run ends (~300 ms)
    assert r.status == 200
    after = window(slo(d), "1h")
    assert after["availability"]["requests"] > before["availability"]["requests"]  # counted
    assert after["latency"]["slow"] == before["latency"]["slow"]  # not timed


def test_slo_needs_read_access(launch):
    key = "k" * 40
    d = launch("--auth", "on", env={"RINGFLOW_ADMIN_KEY": key})
    assert call(d, "GET", "/v1/slo").status == 401
    r = call(d, "POST", "/v1/keys", {"name": "v", "role": "viewer"}, {"Authorization": f"Bearer {key}"})
    assert r.status == 201, r
    assert call(d, "GET", "/v1/slo", headers={"Authorization": f"Bearer {r.json['key']}"}).status == 200
    assert call(d, "GET", "/v1/slo?x=1", headers={"Authorization": f"Bearer {key}"}).status == 400


@pytest.mark.parametrize("key,value", [
    ("slo-availability", "1"), ("slo-availability", "0"), ("slo-availability", "99.9"),
    ("slo-latency-ms", "0"), ("slo-latency-ms", "fast"), ("slo-latency-target", "1.01"),
])
def test_bad_objectives_exit_2_naming_the_key(rf_bin, tmp_path, key, value):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
    p = subprocess.run([str(rf_bin), "serve", "--data-dir", str(tmp_path / "data"),
                        "--listen", f"127.0.0.1:{free_port()}", f"--{key}={value}"],
                       capture_output=True, text=True, env=e, timeout=10)
    assert p.returncode == 2, (p.returncode, p.stderr[-500:])
    assert key in p.stderr, p.stderr[-500:]


def _counts(doc: dict, name: str = "30d") -> tuple[int, int]:
    w = window(doc, name)
    return w["availability"]["requests"], w["latency"]["slow"]


def test_windows_outlive_a_restart(launch):
    d = launch("--slo-latency-ms", "100")
    must_put(d, "slow", {"steps": [{"id": "pause", "type": "delay", "ms": 300}]})
    st, run = start(d, "slow", wait="10s")
    assert st in (200, 201) and run["status"] == "succeeded", run
    for _ in range(10):
        call(d, "GET", "/v1/workflows/nope")
    before = slo(d)
    requests, slow = _counts(before)
    assert requests >= 12 and slow == 1, before
    term(d)
    saved = os.path.join(data_dir(d), "slo.json")
    assert os.path.exists(saved)

    d2 = relaunch(launch, d, "--slo-latency-ms", "100")
    after = slo(d2)
    assert after["since_ms"] == before["since_ms"], (before, after)
    for name in ("24h", "30d"):
        r2, s2 = _counts(after, name)
        assert r2 >= requests and s2 == slow, (name, before, after)

    # Another threshold: slow counts measured at 100 ms do not apply to 250 ms; start over.
    term(d2)
    d3 = relaunch(launch, d2, "--slo-latency-ms", "250")
    fresh = slo(d3)
    assert _counts(fresh)[1] == 0 and _counts(fresh)[0] < requests, fresh
    assert fresh["since_ms"] > before["since_ms"]
    assert "latency threshold changed" in d3.log_tail(), d3.log_tail()


@pytest.mark.parametrize("garbage", [b"", b"{", b'{"version":2}', b"\x00\xff" * 10,
                                     b'{"version":1,"since_ms":1,"saved_ms":1,"measured_at_us":250000,'
                                     b'"totals":[1,2,0,0],"minutes":[],"hours":[]}'])
def test_an_unreadable_state_is_ignored_and_replaced(launch, tmp_path, garbage):
    data = tmp_path / "slo-data"
    data.mkdir()
    (data / "slo.json").write_bytes(garbage)
    d = launch("--data-dir", str(data))
    doc = slo(d)
    assert _counts(doc)[0] < 5, doc
    if garbage:
        assert "slo: the saved state is unreadable" in d.log_tail(), d.log_tail()
    term(d)
    d2 = relaunch(launch, d)
    assert slo(d2)["since_ms"] == doc["since_ms"]  # the file was replaced with a good one
