"""Tracing (issue 15 item 1): runs as traces, step attempts as spans, OTLP/HTTP JSON export, W3C
traceparent in and out, through the real binary.

Invariants checked here, each against a receiver written for the test (an OTLP/HTTP JSON
endpoint on 127.0.0.1) and a local service the http steps call:
* A run is a trace: one root span (run id, workflow, final status) whose trace id is the run id's
  32 hex digits, and one span per step attempt, each a child of the root span, carrying run.id,
  workflow, step.id, attempt and status; a failed attempt is its own span (status ERROR).
* Each http attempt sends `traceparent` with the run's trace id and that attempt's span id, so the
  called service's spans join the run's trace.
* A start with a valid `traceparent` joins the caller's trace (root span's parent = the caller's
  span); the context is stored with the run and still used after a restart (both stores). A
  malformed one is ignored (the start succeeds; the run has a trace of its own).
* --otlp-sample-ratio 0 exports nothing (and sends traceparent with flags 00).
* A receiver that is down does not slow or fail runs, nor hold a SIGTERM: the spans are counted
  as failed, and with a small --otlp-buffer as dropped, in rf_trace_spans_total.
* Bad --otlp-* values stop the daemon with exit 2 naming the key.
Spec: src/trace/README.md, README (Tracing).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine_client import call, must_put, relaunch, start, step, term, wait_until
from rfclient import free_port, metric_sum, scrape


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes = b"{}"):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class OtlpReceiver:
    """POST /v1/traces with an OTLP JSON ExportTraceServiceRequest: keeps every span (with its
    resource attributes) and answers 200 {}. Anything else is a recorded error."""

    def __init__(self):
        self.spans: list[dict] = []
        self.requests = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(_Quiet):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.requests += 1
                    if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/json":
                        outer.errors.append(f"{self.path} {self.headers.get('Content-Type')}")
                        self.reply(404)
                        return
                    doc = json.loads(body)
                    for rs in doc["resourceSpans"]:
                        res = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                        for ss in rs["scopeSpans"]:
                            for sp in ss["spans"]:
                                sp["_resource"] = res
                                outer.spans.append(sp)
                self.reply(200)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def of_trace(self, trace_id: str) -> list[dict]:
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Service:
    """The service http steps call: records each request's traceparent; answers `fail_first`
    requests with 500, then 200 {"ok":true}."""

    def __init__(self, fail_first: int = 0):
        self.seen: list[str | None] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        outer = self

        class Handler(_Quiet):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.seen.append(self.headers.get("traceparent"))
                    n = len(outer.seen)
                self.reply(500 if n <= outer.fail_first else 200, b'{"ok":true}')

            do_GET = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/call"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = OtlpReceiver()
    yield r
    r.close()
    assert not r.errors, r.errors


def attrs(span: dict) -> dict:
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = v.get("stringValue", v.get("intValue"))
    return out


def trace_of_run(run_id: str) -> str:
    return run_id.replace("-", "")


def parse_tp(tp: str) -> tuple[str, str, str, str]:
    version, trace, span, flags = tp.split("-")
    return version, trace, span, flags


RETRY = {"max_attempts": 3, "initial_ms": 20, "max_ms": 50, "multiplier": 1, "jitter": 0}


def test_a_run_is_a_trace_with_a_span_per_attempt(launch, receiver):
    svc = Service(fail_first=1)
    try:
        d = launch("--otlp-endpoint", receiver.url, "--service-name", "rf-under-test")
        must_put(d, "traced", {"steps": [
            {"id": "a", "type": "noop"},
            {"id": "call", "type": "http", "depends_on": ["a"], "retry": RETRY,
             "request": {"method": "POST", "url": svc.url, "body": {"x": 1}}},
            {"id": "c", "type": "transform", "depends_on": ["call"], "output": {"ok": True}}]})
        st, run = start(d, "traced", input={"n": 1}, wait="10s")
        assert st in (200, 201) and run["status"] == "succeeded", run
        trace_id = trace_of_run(run["id"])

        def complete():
            spans = receiver.of_trace(trace_id)
            return len(spans) >= 5 and spans
        spans = wait_until(complete, 15.0, what="the run's 5 spans at the receiver")
        assert len(spans) == 5, spans
        roots = [s for s in spans if "parentSpanId" not in s]
        assert len(roots) == 1, spans
        root = roots[0]
        assert root["name"] == "run traced"
        assert root["status"]["code"] == 1
        assert attrs(root) == {"run.id": run["id"], "workflow": "traced", "status": "succeeded"}
        assert root["_resource"]["service.name"] == {"stringValue": "rf-under-test"}
        assert int(root["startTimeUnixNano"]) <= int(root["endTimeUnixNano"])

        children = [s for s in spans if s is not root]
        for s in children:
            assert s["parentSpanId"] == root["spanId"], s
            assert s["traceId"] == trace_id
            a = attrs(s)
            assert a["run.id"] == run["id"] and a["workflow"] == "traced"
            assert int(root["startTimeUnixNano"]) <= int(s["startTimeUnixNano"]) <= int(s["endTimeUnixNano"])
        by = {(attrs(s)["step.id"], attrs(s)["attempt"]): s for s in children}
        assert set(by) == {("a", "1"), ("call", "1"), ("call", "2"), ("c", "1")}, list(by)
        assert attrs(by[("call", "1")])["status"] == "retrying"
        assert by[("call", "1")]["status"] == {"code": 2, "message": "HTTP 500"}
        assert attrs(by[("call", "2")])["status"] == "succeeded"
        assert by[("call", "2")]["kind"] == 3 and by[("a", "1")]["kind"] == 1
        assert len({s["spanId"] for s in spans}) == 5

        # The service saw each attempt's own span as its parent, in the run's trace.
        assert len(svc.seen) == 2, svc.seen
        for attempt, tp in zip(("1", "2"), svc.seen):
            assert tp is not None
            version, tid, sid, flags = parse_tp(tp)
            assert (version, tid, flags) == ("00", trace_id, "01"), tp
            assert sid == by[("call", attempt)]["spanId"], (tp, attempt)

        samples = scrape(d.port)
        assert metric_sum(samples, "rf_trace_spans_total", outcome="exported") >= 5
        assert metric_sum(samples, "rf_trace_spans_total", outcome="dropped") == 0
        assert metric_sum(samples, "rf_trace_spans_total", outcome="failed") == 0
    finally:
        svc.close()


CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def test_a_start_with_traceparent_joins_the_callers_trace_also_after_a_restart(launch, receiver):
    svc = Service()
    try:
        d = launch("--otlp-endpoint", receiver.url)
        must_put(d, "joined", {"steps": [
            {"id": "gate", "type": "approval"},
            {"id": "call", "type": "http", "depends_on": ["gate"],
             "request": {"url": svc.url}}]})
        tp = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
        r = call(d, "POST", "/v1/workflows/joined/runs", {"input": {}}, {"traceparent": tp})
        assert r.status == 201, r
        run_id = r.json["id"]
        wait_until(lambda: step(call(d, "GET", f"/v1/runs/{run_id}").json, "gate")["status"] == "waiting",
                   10.0, what="the approval to wait")
        term(d)
        d2 = relaunch(launch, d, "--otlp-endpoint", receiver.url)
        r = call(d2, "POST", f"/v1/runs/{run_id}/signals/gate", {"by": "test"})
        assert r.status == 200, r
        wait_until(lambda: call(d2, "GET", f"/v1/runs/{run_id}").json["status"] == "succeeded", 10.0,
                   what="the run to finish")
        # The http attempt after the restart still belongs to the caller's trace.
        assert len(svc.seen) == 1 and svc.seen[0] is not None, svc.seen
        _, tid, sid, flags = parse_tp(svc.seen[0])
        assert tid == CALLER_TRACE and flags == "01"
        assert sid != CALLER_SPAN

        def root():
            found = [s for s in receiver.of_trace(CALLER_TRACE) if attrs(s).get("step.id") is None]
            return found[0] if found else None
        r0 = wait_until(root, 15.0, what="the root span in the caller's trace")
        assert r0["parentSpanId"] == CALLER_SPAN
        assert attrs(r0)["run.id"] == run_id
        call_span = wait_until(
            lambda: next((s for s in receiver.of_trace(CALLER_TRACE) if attrs(s).get("step.id") == "call"), None),
            15.0, what="the http step's span")
        assert call_span["spanId"] == sid and call_span["parentSpanId"] == r0["spanId"]
        assert not receiver.of_trace(trace_of_run(run_id)), "the run must not start a trace of its own"
    finally:
        svc.close()


@pytest.mark.parametrize("header", [
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 with more
    "garbage",
])
def test_a_malformed_traceparent_is_ignored(launch, receiver, header):
    svc = Service()
    try:
        d = launch("--otlp-endpoint", receiver.url)
        must_put(d, "own", {"steps": [{"id": "call", "type": "http", "request": {"url": svc.url}}]})
        r = call(d, "POST", "/v1/workflows/own/runs?wait=10s", {"input": {}}, {"traceparent": header})
        assert r.status in (200, 201) and r.json["status"] == "succeeded", r
        _, tid, _, _ = parse_tp(svc.seen[0])
        assert tid == trace_of_run(r.json["id"]), (header, svc.seen)
    finally:
        svc.close()


def test_sampling_zero_exports_nothing(launch, receiver):
    svc = Service()
    try:
        d = launch("--otlp-endpoint", receiver.url, "--otlp-sample-ratio", "0")
        must_put(d, "unsampled", {"steps": [{"id": "call", "type": "http", "request": {"url": svc.url}}]})
        for _ in range(5):
            st, run = start(d, "unsampled", wait="10s")
            assert st in (200, 201) and run["status"] == "succeeded", run
        time.sleep(2.5)  # beyond the exporter's 1 s batch delay
        assert receiver.requests == 0 and not receiver.spans
        assert all(parse_tp(tp)[3] == "00" for tp in svc.seen), svc.seen
        samples = scrape(d.port)
        assert metric_sum(samples, "rf_trace_spans_total", outcome="exported") == 0
        assert metric_sum(samples, "rf_trace_spans_total", outcome="dropped") == 0
    finally:
        svc.close()


def test_a_receiver_that_is_down_does_not_hurt_runs(launch):
    dead = f"http://127.0.0.1:{free_port()}/v1/traces"  # nothing listens there
    d = launch("--otlp-endpoint", dead, "--otlp-buffer", "4", shards=1)
    must_put(d, "w3", {"steps": [{"id": "a", "type": "noop"},
                                 {"id": "b", "type": "noop", "depends_on": ["a"]},
                                 {"id": "c", "type": "noop", "depends_on": ["b"]}]})
    t0 = time.monotonic()
    for i in range(30):
        st, run = start(d, "w3", wait="10s")
        assert st in (200, 201) and run["status"] == "succeeded", run
    # 30 runs x 4 spans into a ring of 4: most are dropped, what was taken fails to send. No run
    # waited for the exporter (bounded generously: the point is that none hung on a retry).
    assert time.monotonic() - t0 < 20
    def counted():
        s = scrape(d.port)
        lost = sum(metric_sum(s, "rf_trace_spans_total", outcome=o) for o in ("dropped", "failed"))
        return lost == 120 and s
    s = wait_until(counted, 20.0, what="every span counted as dropped or failed")
    assert metric_sum(s, "rf_trace_spans_total", outcome="dropped") > 0
    assert metric_sum(s, "rf_trace_spans_total", outcome="failed") > 0
    assert metric_sum(s, "rf_trace_spans_total", outcome="exported") == 0
    # Nor does it hold a stop: with spans still buffered, SIGTERM exits 0 well within its bound.
    for _ in range(3):
        st, run = start(d, "w3", wait="10s")
        assert st in (200, 201), run
    t1 = time.monotonic()
    term(d, timeout=15)
    assert time.monotonic() - t1 < 10


@pytest.mark.parametrize("key,value", [
    ("otlp-endpoint", "ftp://collector:4318/v1/traces"),
    ("otlp-endpoint", "collector:4318"),
    ("otlp-sample-ratio", "1.5"),
    ("otlp-sample-ratio", "-0.1"),
    ("otlp-sample-ratio", "half"),
    ("otlp-buffer", "0"),
    ("service-name", ""),
])
def test_bad_tracing_settings_exit_2_naming_the_key(rf_bin, tmp_path, key, value):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
    p = subprocess.run([str(rf_bin), "serve", "--data-dir", str(tmp_path / "data"),
                        "--listen", f"127.0.0.1:{free_port()}", f"--{key}={value}"],
                       capture_output=True, text=True, env=e, timeout=10)
    assert p.returncode == 2, (p.returncode, p.stderr[-500:])
    assert key in p.stderr, p.stderr[-500:]
