"""HTTP/1.1 hardening: HEAD never streams a body."""

from __future__ import annotations

from engine_client import must_put, start, wait_status
from rfclient import Conn, NoResponse

APPROVAL = {"steps": [{"id": "prep", "type": "noop"},
                      {"id": "approve", "type": "approval", "depends_on": ["prep"]}]}


# ---------------------------------------------------------------- HEAD


def test_head_on_event_streams_sends_only_the_head(launch):
    d = launch()
    must_put(d, "headsse", APPROVAL)
    rid = start(d, "headsse", input={}).json["id"]
    wait_status(d, rid, "waiting")
    for path in (f"/v1/runs/{rid}/events", "/v1/events?workflow=headsse"):
        with Conn(d.port, timeout=5.0) as c:
            c.request("HEAD", path)
            r = c.read_head()
            assert r.status == 200, (path, r)
            assert (r.header("content-type") or "").startswith("text/event-stream"), r
            closed, extra = c.wait_closed(3.0)
            assert extra == b"", f"HEAD {path} streamed a body: {extra[:200]!r}"
            assert closed, f"HEAD {path} did not end"


def test_head_on_plain_route_has_no_body(server):
    with Conn(server.port) as c:
        c.request("HEAD", "/health")
        r = c.read_response(head_request=True)
        assert r.status == 200 and int(r.header("content-length")) > 0, r
        c.request("GET", "/health/live")  # a body there would be read as this response
        try:
            assert c.read_response().status == 200
        except NoResponse as e:
            raise AssertionError(f"HEAD left bytes behind: {e}") from None
