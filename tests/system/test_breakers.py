"""Circuit breakers of http steps (issue 14, item 6), through the real binary.

Invariants checked here:
* Once a breaker opens, its host gets no request and no new connection until the cool-down
  has passed (FlakyServer counts both); with when_open "fail" each refused attempt fails with
  "circuit open for <key>" and is retried like any failure; with "delay" it waits and runs
  once the breaker lets it through, without spending an attempt.
* After the cool-down one probe goes through; its success closes the breaker, its failure
  opens it again.
* The failure-rate trigger opens only with min_calls in the window and the rate at the
  threshold; a step's key template gives breakers that are not per host.
* GET /v1/breakers shows key, state, counts, opened_at_ms and next_probe_ms; /metrics counts
  breakers by state, transitions, refusals.
* Breaker state is in memory: after kill -9 every breaker starts closed, and the runs an
  open breaker held (retrying or delayed) complete once the host is back.
* Bad circuit_breaker settings are 422 with JSON pointers; a bad --circuit-breaker stops the
  daemon with exit 2; bad query parameters of /v1/breakers are 400.
Spec: README (Circuit breakers), src/engine/breaker.h.

The daemons run one shard (each shard trips on its own calls, so counts are exact).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from engine_client import (ERR_INVALID_ARGUMENT, ERR_INVALID_DEFINITION, get_json, kill9,
                           must_put, must_start, put_workflow, relaunch, start, step,
                           wait_status, wait_terminal, wait_until)
from rfclient import metric_sum, scrape

NO_RETRY = {"max_attempts": 1}


def _http_step(url: str, breaker, retry=None, **extra) -> dict:
    s = {"id": "call", "type": "http", "request": {"method": "POST", "url": url}, **extra}
    if breaker is not None:
        s["circuit_breaker"] = breaker
    if retry is not None:
        s["retry"] = retry
    return s


def _workflow(url: str, breaker, retry=None) -> dict:
    return {"steps": [_http_step(url, breaker, retry)]}


def _breakers(d, **params) -> list[dict]:
    q = "&".join(f"{k}={v}" for k, v in params.items())
    st, doc = get_json(d, "/v1/breakers" + (f"?{q}" if q else ""))
    assert st == 200, f"GET /v1/breakers: {st} {doc}"
    return doc["breakers"]


def _run_now(d, name: str, inp=None) -> dict:
    kw = {"wait": "10s"}
    if inp is not None:
        kw["input"] = inp
    run = must_start(d, name, **kw)
    assert run["status"] in ("succeeded", "failed"), run
    return run


def _errors(run: dict) -> list[str]:
    return [a.get("error") for a in step(run, "call")["attempts"]]


def test_an_open_breaker_keeps_calls_from_the_host_until_a_probe_closes_it(launch, flaky):
    d = launch(shards=1)
    flaky.script("/down", [503])
    must_put(d, "cb", _workflow(flaky.url("/down"),
                                {"consecutive_failures": 3, "cool_down": "1500ms"}, NO_RETRY))
    origin = flaky.base_url
    for _ in range(3):
        run = _run_now(d, "cb")
        assert _errors(run) == ["HTTP 503"]
    assert flaky.calls("/down") == 3
    [b] = _breakers(d)
    assert b["key"] == origin and b["state"] == "open" and b["shard"] == 0
    assert b["consecutive_failures"] == 3
    assert b["next_probe_ms"] - b["opened_at_ms"] == 1500
    assert b["settings"] == {"consecutive_failures": 3, "cool_down_ms": 1500,
                             "half_open_probes": 1, "when_open": "fail"}

    connections = flaky.connections
    for _ in range(5):
        run = _run_now(d, "cb")
        assert run["status"] == "failed"
        assert _errors(run) == [f"circuit open for {origin}"], run
    assert flaky.calls("/down") == 3, "an open breaker let a call through"
    assert flaky.connections == connections, "an open breaker let a connection through"
    m = scrape(d.port)
    assert metric_sum(m, "rf_breaker_state", state="open") == 1
    assert metric_sum(m, "rf_breaker_transitions_total", to="open") == 1
    assert metric_sum(m, "rf_breaker_rejected_total", when_open="fail") == 5
    assert _breakers(d, state="closed") == []

    # The host recovers; the first call after the cool-down is the probe, and closes it.
    flaky.script("/down", [200])
    wait_until(lambda: time.time() * 1000 >= b["next_probe_ms"] + 20, 5.0, what="cool-down")
    assert _run_now(d, "cb")["status"] == "succeeded"
    assert flaky.calls("/down") == 4
    [b] = _breakers(d)
    assert b["state"] == "closed" and b["consecutive_failures"] == 0 and b["next_probe_ms"] is None
    m = scrape(d.port)
    assert metric_sum(m, "rf_breaker_transitions_total", to="half_open") == 1
    assert metric_sum(m, "rf_breaker_transitions_total", to="closed") == 1
    assert metric_sum(m, "rf_breaker_state", state="closed") == 1
    assert metric_sum(m, "rf_breaker_state", state="open") == 0


def test_a_failed_probe_opens_the_breaker_for_another_cool_down(launch, flaky):
    d = launch(shards=1)
    flaky.script("/down", [503])
    must_put(d, "cb", _workflow(flaky.url("/down"),
                                {"consecutive_failures": 1, "cool_down": "500ms"}, NO_RETRY))
    _run_now(d, "cb")
    [first] = _breakers(d)
    wait_until(lambda: time.time() * 1000 >= first["next_probe_ms"] + 20, 5.0, what="cool-down")
    assert _errors(_run_now(d, "cb")) == ["HTTP 503"]  # the probe reached the host, and failed
    assert flaky.calls("/down") == 2
    [again] = _breakers(d)
    assert again["state"] == "open" and again["opened_at_ms"] > first["opened_at_ms"]
    assert _errors(_run_now(d, "cb")) == [f"circuit open for {flaky.base_url}"]
    assert flaky.calls("/down") == 2


def test_the_failure_rate_opens_the_breaker_once_min_calls_are_in_the_window(launch, flaky):
    d = launch(shards=1)
    # 200, 503 alternately: 3 failures in 6 calls is the 0.5 threshold, reached at call 6.
    flaky.script("/flap", [200, 503, 200, 503, 200, 503, 200])
    must_put(d, "rate", _workflow(flaky.url("/flap"),
                                  {"failure_rate": {"threshold": 0.5, "window": "30s",
                                                    "min_calls": 6},
                                   "cool_down": "30s"}, NO_RETRY))
    for _ in range(5):
        _run_now(d, "rate")
    [b] = _breakers(d)
    assert b["state"] == "closed"
    assert b["window"] == {"calls": 5, "failures": 2}
    assert "consecutive_failures" not in b["settings"]
    assert b["settings"]["failure_rate"] == {"threshold": 0.5, "window_ms": 30000, "min_calls": 6}
    _run_now(d, "rate")  # 503: 3 of 6
    [b] = _breakers(d)
    assert b["state"] == "open", b
    assert _errors(_run_now(d, "rate")) == [f"circuit open for {flaky.base_url}"]
    assert flaky.calls("/flap") == 6


def test_with_when_open_delay_attempts_wait_for_the_breaker_instead_of_failing(launch, flaky):
    d = launch(shards=1)
    flaky.script("/slowdown", [503, 503, 200])
    retry = {"max_attempts": 3, "initial_ms": 10, "max_ms": 20, "jitter": 0}
    must_put(d, "delayed", _workflow(flaky.url("/slowdown"),
                                     {"consecutive_failures": 2, "cool_down": "1500ms",
                                      "when_open": "delay"}, retry))
    a = must_start(d, "delayed")
    wait_until(lambda: _breakers(d, state="open"), 5.0, what="breaker open")
    b = must_start(d, "delayed")  # started while open: waits too, without an attempt failing
    wait_until(lambda: metric_sum(scrape(d.port), "rf_breaker_delayed_steps") == 2, 5.0,
               what="two delayed steps")
    [br] = _breakers(d)
    assert br["delayed_steps"] == 2
    assert flaky.calls("/slowdown") == 2
    time.sleep(0.5)
    assert flaky.calls("/slowdown") == 2, "a delayed attempt reached the host while open"
    assert get_json(d, f"/v1/runs/{a['id']}")[1]["status"] == "running"

    ra = wait_terminal(d, a["id"], timeout=10.0)
    rb = wait_terminal(d, b["id"], timeout=10.0)
    assert ra["status"] == "succeeded" and rb["status"] == "succeeded", (ra, rb)
    assert _errors(ra) == ["HTTP 503", "HTTP 503", None]
    assert _errors(rb) == [None]
    calls = flaky.requests("/slowdown")
    assert len(calls) == 4
    # The third call (the probe) came a cool-down after the breaker opened at the second.
    assert calls[2].started - calls[1].started >= 1.3
    m = scrape(d.port)
    assert metric_sum(m, "rf_breaker_rejected_total", when_open="delay") >= 2
    assert metric_sum(m, "rf_breaker_delayed_steps") == 0
    assert _breakers(d)[0]["state"] == "closed"


def test_a_key_template_gives_one_breaker_per_key_not_per_host(launch, flaky):
    d = launch(shards=1)
    flaky.script("/eu", [503])
    flaky.script("/us", [200])
    must_put(d, "regions", _workflow(flaky.base_url + "/{{input.region}}",
                                     {"key": "region-{{input.region}}",
                                      "consecutive_failures": 2, "cool_down": "30s"}, NO_RETRY))
    for _ in range(3):
        _run_now(d, "regions", {"region": "eu"})
    for _ in range(3):
        assert _run_now(d, "regions", {"region": "us"})["status"] == "succeeded"
    assert flaky.calls("/eu") == 2 and flaky.calls("/us") == 3
    by_key = {b["key"]: b for b in _breakers(d)}
    assert by_key["region-eu"]["state"] == "open"
    assert by_key["region-us"]["state"] == "closed"
    assert _breakers(d, key="region-us")[0]["key"] == "region-us"
    assert [b["key"] for b in _breakers(d, state="open")] == ["region-eu"]


def test_the_daemon_default_breaks_per_host_unless_a_step_opts_out(launch, flaky):
    d = launch("--circuit-breaker", '{"consecutive_failures": 2, "cool_down": "30s"}', shards=1)
    flaky.script("/a", [503])
    flaky.script("/b", [503])
    must_put(d, "dflt", _workflow(flaky.url("/a"), None, NO_RETRY))
    must_put(d, "optout", _workflow(flaky.url("/b"), False, NO_RETRY))
    for _ in range(4):
        _run_now(d, "dflt")
        _run_now(d, "optout")
    assert flaky.calls("/a") == 2, "the default breaker did not open after 2 failures"
    assert flaky.calls("/b") == 4, "a step with circuit_breaker false was held back"
    [b] = _breakers(d)
    assert b["key"] == flaky.base_url and b["state"] == "open"


@pytest.mark.parametrize("policy", ["fail", "delay"])
def test_runs_held_by_an_open_breaker_complete_after_kill9(launch, flaky, policy):
    """Breaker state is memory only: after kill -9 the breaker starts closed, the attempts an
    open breaker held (retrying, or delayed) run again with the same Idempotency-Key, and every
    run succeeds once the host is back."""
    d = launch(shards=1)
    flaky.script("/x", [503])
    retry = {"max_attempts": 50, "initial_ms": 100, "max_ms": 300, "jitter": 0}
    must_put(d, "held", _workflow(flaky.url("/x"),
                                  {"consecutive_failures": 2, "cool_down": "1h",
                                   "when_open": policy}, retry))
    ids = [must_start(d, "held")["id"] for _ in range(4)]
    wait_until(lambda: _breakers(d, state="open"), 5.0, what="breaker open")
    if policy == "fail":
        # A refused attempt is durable before the crash.
        wait_until(lambda: any(e and e.startswith("circuit open for")
                               for e in _errors(get_json(d, f"/v1/runs/{ids[-1]}")[1])),
                   5.0, what="a refused attempt")
    else:
        wait_until(lambda: metric_sum(scrape(d.port), "rf_breaker_delayed_steps") >= 3, 5.0,
                   what="delayed steps")
    # The four first attempts may all have been admitted before two failures came back.
    before = flaky.calls("/x")
    assert 2 <= before <= 4
    time.sleep(0.5)  # several backoffs: none of the retries reaches the host
    assert flaky.calls("/x") == before
    kill9(d)
    flaky.script("/x", [200])
    d2 = relaunch(launch, d, shards=1)
    for i in ids:
        run = wait_status(d2, i, "succeeded", timeout=15.0)
        assert step(run, "call")["output"]["status"] == 200
    assert all(b["state"] == "closed" for b in _breakers(d2))
    # Each run got exactly one successful call, under its own stable key.
    ok = [c for c in flaky.requests("/x") if c.status == 200]
    assert sorted(c.key for c in ok) == sorted(f"{i}/call" for i in ids)


BAD_BREAKERS = [
    (True, "/steps/0/circuit_breaker", "must be an object"),
    ({"consecutive_failures": 0}, "/steps/0/circuit_breaker/consecutive_failures", "consecutive_failures"),
    ({"failure_rate": {"threshold": 1.5}}, "/steps/0/circuit_breaker/failure_rate/threshold", "at most 1"),
    ({"failure_rate": {}}, "/steps/0/circuit_breaker/failure_rate/threshold", "requires 'threshold'"),
    ({"failure_rate": {"threshold": 0.5, "window": "0s"}}, "/steps/0/circuit_breaker/failure_rate/window", "window must be"),
    ({"failure_rate": {"threshold": 0.5, "min_calls": 0}}, "/steps/0/circuit_breaker/failure_rate/min_calls", "min_calls"),
    ({"failure_rate": 0.5}, "/steps/0/circuit_breaker/failure_rate", "must be an object"),
    ({"cool_down": 30}, "/steps/0/circuit_breaker/cool_down", "duration string"),
    ({"cool_down": "2h"}, "/steps/0/circuit_breaker/cool_down", "cool_down must be"),
    ({"cool_down": "soon"}, "/steps/0/circuit_breaker/cool_down", "cool_down 'soon'"),
    ({"half_open_probes": 0}, "/steps/0/circuit_breaker/half_open_probes", "half_open_probes"),
    ({"when_open": "wait"}, "/steps/0/circuit_breaker/when_open", "\"fail\""),
    ({"key": ""}, "/steps/0/circuit_breaker/key", "non-empty string"),
    ({"key": "{{steps.nope.output}}"}, "/steps/0/circuit_breaker/key", "unknown step 'nope'"),
    ({"kye": "x"}, "/steps/0/circuit_breaker/kye", "key"),
]


@pytest.mark.parametrize("breaker,pointer,fragment", BAD_BREAKERS)
def test_bad_breaker_settings_are_422_with_a_pointer(launch, breaker, pointer, fragment):
    d = launch(shards=1)
    st, doc = put_workflow(d, "bad", _workflow("http://127.0.0.1:9/x", breaker))
    assert st == 422, doc
    assert doc["error"]["code"] == ERR_INVALID_DEFINITION
    fields = {e["field"]: e["message"] for e in doc["error"]["errors"]}
    assert pointer in fields, doc
    assert fragment in fields[pointer], fields[pointer]


def test_a_breaker_on_a_step_that_is_not_http_is_422(launch):
    d = launch(shards=1)
    st, doc = put_workflow(d, "bad", {"steps": [{"id": "n", "type": "noop",
                                                 "circuit_breaker": {}}]})
    assert st == 422, doc
    assert [e["field"] for e in doc["error"]["errors"]] == ["/steps/0/circuit_breaker"]


@pytest.mark.parametrize("query", ["state=bogus", "limit=0", "limit=1001", "limit=x", "color=red"])
def test_bad_breaker_queries_are_400(launch, query):
    d = launch(shards=1)
    st, doc = get_json(d, f"/v1/breakers?{query}")
    assert st == 400, doc
    assert doc["error"]["code"] == ERR_INVALID_ARGUMENT


@pytest.mark.parametrize("value,fragment", [
    ('{"key": "x"}', "/key: the daemon's default breaks per host"),
    ('{"consecutive_failures": -1}', "/consecutive_failures"),
    ("not json", "invalid value"),
    ('{"when_open": "later"}', "/when_open"),
])
def test_a_bad_circuit_breaker_option_stops_the_daemon(rf_bin, tmp_path, value, fragment):
    p = subprocess.run([str(rf_bin), "serve", "--listen", "127.0.0.1:0", "--data-dir",
                        str(tmp_path / "d"), "--circuit-breaker", value],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, p
    assert "circuit-breaker" in p.stderr and fragment in p.stderr, p.stderr
