"""Server-Sent Events: /v1/runs/{id}/events (history, live, end, Last-Event-ID) and
/v1/events?workflow= (live only, never ends). Spec: src/api/README.md (Events).

Readings:
- seq numbers of a run are 1, 2, 3, ... without gaps (Last-Event-ID resume relies on it);
- step.succeeded carries the step's output as data.output, run.succeeded the run's output;
- once the 200 head of a /v1/events subscription has arrived, the subscription is active:
  every event of a run created after that is delivered.
"""

from __future__ import annotations

from engine_client import (ERR_RUN_NOT_FOUND, UNKNOWN_RUN_ID, SseStream, assert_error, chain,
                           check_event_frames, must_put, signal_run, sse_events, start,
                           wait_status)

APPROVAL = {"steps": [{"id": "prep", "type": "noop"},
                      {"id": "approve", "type": "approval", "depends_on": ["prep"]},
                      {"id": "after", "type": "noop", "depends_on": ["approve"]}]}


def kinds(events) -> list[tuple[str, str | None]]:
    return [(e["type"], e.get("step")) for e in events]


def assert_subsequence(events, want):
    """`want` ((type, step) pairs) appears in order within events (others may be between)."""
    got = kinds(events)
    i = 0
    for k in got:
        if i < len(want) and k == want[i]:
            i += 1
    assert i == len(want), f"expected in order {want}\n got {got}"


def assert_seqs(events):
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"seq numbers not 1..n: {seqs}"
    ats = [e["at_ms"] for e in events]
    assert ats == sorted(ats), f"at_ms goes backwards: {ats}"


def test_history_then_live_then_end(launch):
    d = launch()
    must_put(d, "sse", APPROVAL)
    rid = start(d, "sse", input={"i": 1}).json["id"]
    wait_status(d, rid, "waiting")
    path = f"/v1/runs/{rid}/events"
    with SseStream(d, path) as s, SseStream(d, path) as s2:
        assert s.status == 200, s.resp
        assert s.content_type.startswith("text/event-stream"), s.resp
        assert s.read_until(lambda f: f.event == "run.waiting", 5.0), s.frames
        assert s2.read_until(lambda f: f.event == "run.waiting", 5.0), s2.frames
        hist = check_event_frames(s.frames, rid)
        assert hist[0]["type"] == "run.created", hist
        assert_subsequence(hist, [("run.created", None), ("step.started", "prep"),
                                  ("step.succeeded", "prep"), ("step.started", "approve"),
                                  ("run.waiting", None)])
        # nothing more while the run waits, and the stream stays open
        assert [f for f in s.read_for(0.5) if f.kind == "event"] == []
        assert not s.ended
        n = len(hist)

        payload = {"approved": True}
        assert signal_run(d, rid, "approve", payload)[0] == 200
        assert s.read_to_end(10.0), f"stream did not end after the terminal event: {s.frames}"
        assert s.conn.wait_closed(3.0)[0], "connection not closed after the terminal event"
        assert s2.read_to_end(10.0)
        events = check_event_frames(s.frames, rid)
        live = events[n:]
        assert_subsequence(live, [("step.succeeded", "approve"), ("step.started", "after"),
                                  ("step.succeeded", "after"), ("run.succeeded", None)])
        assert events[-1]["type"] == "run.succeeded", events
        assert events[-1]["data"]["output"] == {"after": payload}, events[-1]
        ok = [e for e in live if kinds([e]) == [("step.succeeded", "approve")]]
        assert ok[0]["data"]["output"] == payload, ok
        assert_seqs(events)
        assert check_event_frames(s2.frames, rid) == events  # every subscriber sees the same

    # after the end: the whole history again, and the stream ends by itself
    res = sse_events(d, path, timeout=5.0)
    assert res.status == 200 and res.ended, res
    assert check_event_frames(res, rid) == events


def test_last_event_id_resume(launch):
    d = launch()
    must_put(d, "done", chain("a", "b"))
    rid = start(d, "done", wait="10s").json["id"]
    path = f"/v1/runs/{rid}/events"
    full = check_event_frames(sse_events(d, path, timeout=5.0), rid)
    assert len(full) >= 6, full  # created, 2 x (started, succeeded), succeeded
    assert_seqs(full)
    for k in (0, 1, 3, len(full) - 1):
        res = sse_events(d, path, last_event_id=k, timeout=5.0)
        assert res.ended, (k, res)
        assert check_event_frames(res, rid) == full[k:], k
    res = sse_events(d, path, last_event_id=len(full), timeout=5.0)
    assert res.status == 200 and res.ended and res.events() == [], res


def test_last_event_id_resume_while_live(launch):
    d = launch()
    must_put(d, "sse", APPROVAL)
    rid = start(d, "sse").json["id"]
    wait_status(d, rid, "waiting")
    path = f"/v1/runs/{rid}/events"
    with SseStream(d, path) as s:
        assert s.read_until(lambda f: f.event == "run.waiting", 5.0)
        first = check_event_frames(s.frames, rid)
    last = first[-1]["seq"]
    with SseStream(d, path, last_event_id=last) as s:
        assert s.status == 200
        assert [f for f in s.read_for(0.5) if f.kind == "event"] == []  # nothing replayed
        assert signal_run(d, rid, "approve", 7)[0] == 200
        assert s.read_to_end(10.0)
        rest = check_event_frames(s.frames, rid)
    assert rest and rest[0]["seq"] == last + 1, rest
    assert rest[-1]["type"] == "run.succeeded", rest
    assert_seqs(first + rest)


def test_workflow_feed_sees_new_runs_only(launch):
    d = launch()
    must_put(d, "feed", chain("a", "b"))
    must_put(d, "other", chain("a"))
    before = start(d, "feed", wait="5s").json["id"]  # finished before subscribing
    with SseStream(d, "/v1/events?workflow=feed") as s:
        assert s.status == 200, s.resp
        assert s.content_type.startswith("text/event-stream"), s.resp
        r1 = start(d, "feed", wait="5s").json["id"]
        other = start(d, "other", wait="5s").json["id"]
        r2 = start(d, "feed", wait="5s").json["id"]
        assert s.read_until(lambda f: f.kind == "event" and f.json["run"] == r2
                            and f.event == "run.succeeded", 10.0), s.frames
        events = check_event_frames(s.frames)
        assert {e["run"] for e in events} == {r1, r2}, f"unexpected runs (before={before}, other={other})"
        for rid in (r1, r2):
            mine = [e for e in events if e["run"] == rid]
            assert_seqs(mine)  # all of them, from run.created on
            assert mine[0]["type"] == "run.created" and mine[-1]["type"] == "run.succeeded", mine
        # the feed does not end by itself
        s.read_for(1.0)
        assert not s.ended and not s.eof


def test_heartbeat_comment(launch):
    d = launch()
    must_put(d, "sse", APPROVAL)
    rid = start(d, "sse").json["id"]
    wait_status(d, rid, "waiting")
    with SseStream(d, f"/v1/runs/{rid}/events") as s:
        hb = s.read_until(lambda f: f.kind == "comment" and f.comment == "heartbeat", 17.0)
        assert hb is not None, f"no ': heartbeat' within 17 s: {s.frames}"
        assert not s.ended


def test_events_of_unknown_run_404(launch):
    d = launch()
    res = sse_events(d, f"/v1/runs/{UNKNOWN_RUN_ID}/events", timeout=5.0)
    assert_error(res.resp, 404, ERR_RUN_NOT_FOUND)
