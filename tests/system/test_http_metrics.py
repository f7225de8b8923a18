"""/metrics: Prometheus text format, promtool-clean, counts what happened."""

from __future__ import annotations

import shutil
import subprocess
import time

from rfclient import Conn, get, metric_sum, parse_metrics, scrape

FAMILIES = {
    "rf_http_requests_total": "counter",
    "rf_http_request_duration_seconds": "histogram",
    "rf_http_connections_open": "gauge",
    "rf_http_connections_accepted_total": "counter",
    "rf_http_connections_closed_total": "counter",
    "rf_http_connections_rejected_total": "counter",
    "rf_http_timeouts_total": "counter",
    "rf_http_body_timeouts_total": "counter",
    "rf_http_lingering_closes_total": "counter",
    "rf_http_connection_buffer_bytes": "gauge",
    "rf_reactor_loop_iterations_total": "counter",
    "rf_reactor_completions_total": "counter",
    "rf_reactor_mailbox_depth": "gauge",
}


def _type_of(text: str, family: str) -> str | None:
    # "# TYPE rf_http_requests_total counter" (OpenMetrics-style names without _total also seen)
    for ln in text.splitlines():
        parts = ln.split()
        if len(parts) == 4 and parts[:2] == ["#", "TYPE"] and parts[2] in (
                family, family.removesuffix("_total")):
            return parts[3]
    return None


def test_metrics_content_type_and_promtool(server):
    get(server.port, "/health")  # make sure some labelled series exist
    r = get(server.port, "/metrics")
    assert r.status == 200, r
    ctype = (r.header("content-type") or "").replace(" ", "").lower()
    assert ctype.startswith("text/plain;version=0.0.4"), r.header("content-type")
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed (apt-get install prometheus)"
    p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True,
                       timeout=30)
    assert p.returncode == 0, (f"promtool check metrics failed ({p.returncode}):\n"
                               f"{p.stdout.decode()}{p.stderr.decode()}")


def test_metric_families_present(server):
    get(server.port, "/health/live")
    text = get(server.port, "/metrics").body.decode()
    samples = parse_metrics(text)
    names = {n for n, _, _ in samples}
    for fam, typ in FAMILIES.items():
        assert _type_of(text, fam) == typ, f"# TYPE for {fam}: {_type_of(text, fam)!r}"
        if typ == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                assert fam + suffix in names, f"{fam}{suffix} missing"
            buckets = [lab for n, lab, _ in samples if n == fam + "_bucket"]
            assert all("route" in b and "le" in b for b in buckets), buckets[:3]
            assert any(b["le"] == "+Inf" for b in buckets)
        else:
            assert fam in names, f"{fam} missing"
    for fam in ("rf_reactor_loop_iterations_total", "rf_reactor_completions_total",
                "rf_reactor_mailbox_depth"):
        shards = {lab.get("shard") for n, lab, _ in samples if n == fam}
        assert shards == {"0", "1"}, f"{fam} shard labels {shards} with --shards 2"
    # A turn's work per shard: every shard has turned by now, and each turn is counted once.
    assert _type_of(text, "rf_reactor_turn_seconds") == "histogram"
    for shard in ("0", "1"):
        inf = metric_sum(samples, "rf_reactor_turn_seconds_bucket", shard=shard, le="+Inf")
        count = metric_sum(samples, "rf_reactor_turn_seconds_count", shard=shard)
        turns = metric_sum(samples, "rf_reactor_loop_iterations_total", shard=shard)
        assert 0 < inf == count <= turns, (shard, inf, count, turns)
        assert metric_sum(samples, "rf_reactor_turn_seconds_sum", shard=shard) > 0
    labelled = [lab for n, lab, _ in samples if n == "rf_http_requests_total"]
    assert labelled and all({"route", "status"} <= lab.keys() for lab in labelled), labelled


def _live_count(samples) -> tuple[float, float]:
    return (metric_sum(samples, "rf_http_requests_total", route="/health/live", status="200"),
            metric_sum(samples, "rf_http_request_duration_seconds_count", route="/health/live"))


def test_requests_are_counted(server):
    before = scrape(server.port)
    with Conn(server.port) as c:
        for _ in range(7):
            c.request("GET", "/health/live")
            assert c.read_response().status == 200
    after = scrape(server.port)
    (req0, dur0), (req1, dur1) = _live_count(before), _live_count(after)
    assert req1 - req0 == 7, f"rf_http_requests_total{{route=/health/live,status=200}}: " \
                             f"{req0} -> {req1}"
    assert dur1 - dur0 == 7, f"duration histogram count: {dur0} -> {dur1}"
    acc0 = metric_sum(before, "rf_http_connections_accepted_total")
    acc1 = metric_sum(after, "rf_http_connections_accepted_total")
    assert acc1 - acc0 >= 2, f"accepted_total {acc0} -> {acc1} (the scrape + our connection)"


def test_error_statuses_are_counted(server):
    before = scrape(server.port)
    for _ in range(3):
        assert get(server.port, "/health", method="DELETE").status == 405
    after = scrape(server.port)
    d = (metric_sum(after, "rf_http_requests_total", status="405")
         - metric_sum(before, "rf_http_requests_total", status="405"))
    assert d == 3, f"405s counted: {d}"
    labelled = (metric_sum(after, "rf_http_requests_total", route="/health", status="405")
                - metric_sum(before, "rf_http_requests_total", route="/health", status="405"))
    assert labelled == 3, f"405s under route=/health: {labelled}"


def test_closed_connections_counted(server):
    before = metric_sum(scrape(server.port), "rf_http_connections_closed_total")
    for _ in range(5):
        get(server.port, "/health/live", headers={"Connection": "close"})
    deadline = time.monotonic() + 3  # the server counts the close asynchronously
    while True:
        after = metric_sum(scrape(server.port), "rf_http_connections_closed_total")
        if after - before >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after - before >= 5, f"closed_total {before} -> {after}"


def test_histogram_is_consistent(server):
    for _ in range(5):
        get(server.port, "/health")
    samples = scrape(server.port)
    routes = {lab["route"] for n, lab, _ in samples if n == "rf_http_request_duration_seconds_count"}
    assert routes, "no histogram series"
    for route in routes:
        buckets = sorted(((float(lab["le"]), v) for n, lab, v in samples
                          if n == "rf_http_request_duration_seconds_bucket"
                          and lab.get("route") == route), key=lambda b: b[0])
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{route}: buckets not cumulative: {buckets}"
        assert buckets[-1][0] == float("inf"), buckets
        total = metric_sum(samples, "rf_http_request_duration_seconds_count", route=route)
        assert buckets[-1][1] == total, f"{route}: +Inf bucket {buckets[-1][1]} != count {total}"
        assert metric_sum(samples, "rf_http_request_duration_seconds_sum", route=route) >= 0


def test_connection_counters_add_up(server):
    """accepted - closed == open once things are quiet (the scrape's own connection is open)."""
    deadline = time.monotonic() + 5
    while True:
        s = scrape(server.port)
        acc = metric_sum(s, "rf_http_connections_accepted_total")
        closed = metric_sum(s, "rf_http_connections_closed_total")
        open_ = metric_sum(s, "rf_http_connections_open")
        if acc - closed == open_ or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert acc - closed == open_, f"accepted {acc} - closed {closed} != open {open_}"
    assert open_ >= 1, "the scrape's own connection is not counted as open"
