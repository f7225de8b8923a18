"""Malformed and misdirected /v1 requests: each gets its exact status and error code, and
none of them changes anything (workflows, runs, dead letters identical before and after).

Readings where src/api/README.md leaves it open (see also engine_client.ERR_*):
- 400 codes: "invalid_json" when the body does not parse, "invalid_argument" for a bad
  value (query parameter, body field, header, run id in the path).
- A run id that is not a canonical run id is malformed: 400 invalid_argument; a
  well-formed id that names no run is 404 run_not_found.
- 415 covers a missing Content-Type too: a body without one is "not application/json".
- A bad definition *text* (not JSON) is 400 invalid_json like any other body, not 422:
  422 is for documents that parse but are not valid definitions.
- The run-start body is an object with only "input" and "priority": any other JSON value,
  or an unknown key (e.g. the typo "inputs"), is 400 - as unknown keys are in definitions.
  Unknown query parameters are 400 too (a typo like ?wiat=5s must not be ignored).
- ?wait is at most 5m; ?limit an integer 1..1000; ?status a run status (lowercase); an
  undecodable ?cursor is 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from engine_client import (ERR_CONFLICT as CONFLICT, ERR_INVALID_ARGUMENT as BAD,
                           ERR_INVALID_JSON as NOJSON,
                           ERR_INVALID_DEFINITION as INVALID, ERR_METHOD_NOT_ALLOWED as M405,
                           ERR_NOT_FOUND as NOROUTE, ERR_RUN_NOT_FOUND as NORUN,
                           ERR_STEP_NOT_FOUND as NOSTEP, ERR_UNSUPPORTED_MEDIA as MEDIA,
                           ERR_WORKFLOW_NOT_FOUND as NOWF, UNKNOWN_RUN_ID, assert_error, chain,
                           get_run, get_workflow, list_all_runs, list_workflows, must_put,
                           request, signal_run, start, wait_status, wait_terminal)
from rfclient import get

JSON = "application/json"


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str
    body: object = None  # None: no body; bytes sent as is; else JSON
    ctype: str | None = JSON
    headers: dict = field(default_factory=dict)
    allow: set | None = None  # 405: methods that must be in Allow


RUNS = "/v1/workflows/bi/runs"
W = "{waiting}"  # a run waiting on its approval step
F = "{finished}"  # a succeeded run
U = UNKNOWN_RUN_ID

CASES = [
    # -- starting a run: body ------------------------------------------------
    Case("json-open-brace", "POST", RUNS, 400, NOJSON, b"{"),
    Case("json-garbage", "POST", RUNS, 400, NOJSON, b"not json"),
    Case("json-trailing-comma", "POST", RUNS, 400, NOJSON, b'{"input": 1,}'),
    Case("json-single-quotes", "POST", RUNS, 400, NOJSON, b"{'input': 1}"),
    Case("json-two-documents", "POST", RUNS, 400, NOJSON, b'{"input": 1} {"input": 2}'),
    Case("json-bad-utf8", "POST", RUNS, 400, NOJSON, b'{"input": "\xff\xfe"}'),
    Case("json-nan", "POST", RUNS, 400, NOJSON, b'{"input": NaN}'),
    Case("body-array", "POST", RUNS, 400, BAD, b"[1, 2]"),
    Case("body-string", "POST", RUNS, 400, BAD, b'"input"'),
    Case("body-number", "POST", RUNS, 400, BAD, b"42"),
    Case("priority-number", "POST", RUNS, 400, BAD, {"priority": 1}),
    Case("priority-unknown", "POST", RUNS, 400, BAD, {"priority": "urgent"}),
    Case("priority-uppercase", "POST", RUNS, 400, BAD, {"priority": "CRITICAL"}),
    Case("priority-array", "POST", RUNS, 400, BAD, {"priority": ["low"]}),
    Case("priority-empty", "POST", RUNS, 400, BAD, {"priority": ""}),
    Case("unknown-key", "POST", RUNS, 400, BAD, {"inputs": {"a": 1}}),
    Case("ctype-text", "POST", RUNS, 415, MEDIA, {"input": 1}, ctype="text/plain"),
    Case("ctype-missing", "POST", RUNS, 415, MEDIA, {"input": 1}, ctype=None),
    Case("ctype-form", "POST", RUNS, 415, MEDIA, b"input=1", ctype="application/x-www-form-urlencoded"),
    # -- starting a run: ?wait, Idempotency-Key, workflow ----------------------
    Case("wait-word", "POST", RUNS + "?wait=abc", 400, BAD),
    Case("wait-typo-param", "POST", RUNS + "?wiat=5s", 400, BAD),
    Case("wait-negative", "POST", RUNS + "?wait=-1s", 400, BAD),
    Case("wait-6m", "POST", RUNS + "?wait=6m", 400, BAD),
    Case("wait-301s", "POST", RUNS + "?wait=301s", 400, BAD),
    Case("wait-1h", "POST", RUNS + "?wait=1h", 400, BAD),
    Case("wait-empty", "POST", RUNS + "?wait=", 400, BAD),
    Case("wait-fraction", "POST", RUNS + "?wait=1.5s", 400, BAD),
    Case("idempotency-key-257", "POST", RUNS, 400, BAD, headers={"Idempotency-Key": "k" * 257}),
    Case("idempotency-key-4k", "POST", RUNS, 400, BAD, headers={"Idempotency-Key": "k" * 4096}),
    Case("unknown-workflow", "POST", "/v1/workflows/nope/runs", 404, NOWF, {"input": 1}),
    # -- listing ----------------------------------------------------------------
    Case("limit-0", "GET", "/v1/runs?limit=0", 400, BAD),
    Case("limit-1001", "GET", "/v1/runs?limit=1001", 400, BAD),
    Case("limit-word", "GET", "/v1/runs?limit=ten", 400, BAD),
    Case("limit-negative", "GET", "/v1/runs?limit=-5", 400, BAD),
    Case("limit-fraction", "GET", "/v1/runs?limit=2.5", 400, BAD),
    Case("limit-empty", "GET", "/v1/runs?limit=", 400, BAD),
    Case("limit-huge", "GET", "/v1/runs?limit=99999999999999999999999", 400, BAD),
    Case("status-unknown", "GET", "/v1/runs?status=done", 400, BAD),
    Case("status-uppercase", "GET", "/v1/runs?status=WAITING", 400, BAD),
    Case("status-bad-escape", "GET", "/v1/runs?status=%zz", 400, BAD),
    Case("unknown-param", "GET", "/v1/runs?workflw=bi", 400, BAD),
    Case("cursor-garbage", "GET", "/v1/runs?cursor=not-a-cursor", 400, BAD),
    Case("dead-letter-limit-0", "GET", "/v1/dead-letter?limit=0", 400, BAD),
    Case("dead-letter-limit-word", "GET", "/v1/dead-letter?limit=x", 400, BAD),
    Case("dead-letter-cursor", "GET", "/v1/dead-letter?cursor=bogus", 400, BAD),
    # -- runs by id -------------------------------------------------------------
    Case("run-id-not-uuid", "GET", "/v1/runs/not-a-uuid", 400, BAD),
    Case("run-id-unknown", "GET", f"/v1/runs/{U}", 404, NORUN),
    Case("run-id-extra-char", "GET", f"/v1/runs/{W}0", 400, BAD),
    Case("run-id-truncated", "GET", "/v1/runs/{waiting_short}", 400, BAD),
    Case("signal-not-uuid", "POST", "/v1/runs/abc/signals/approve", 400, BAD, {"ok": 1}),
    Case("events-not-uuid", "GET", "/v1/runs/abc/events", 400, BAD),
    Case("cancel-unknown", "POST", f"/v1/runs/{U}/cancel", 404, NORUN),
    Case("cancel-not-uuid", "POST", "/v1/runs/xyz/cancel", 400, BAD),
    Case("retry-unknown", "POST", f"/v1/runs/{U}/retry", 404, NORUN),
    Case("signal-unknown-run", "POST", f"/v1/runs/{U}/signals/approve", 404, NORUN, {"ok": 1}),
    Case("signal-unknown-step", "POST", f"/v1/runs/{W}/signals/nope", 404, NOSTEP, {"ok": 1}),
    Case("signal-not-approval", "POST", f"/v1/runs/{W}/signals/prep", 404, NOSTEP, {"ok": 1}),
    Case("signal-bad-json", "POST", f"/v1/runs/{W}/signals/approve", 400, NOJSON, b"{nope"),
    Case("signal-text-body", "POST", f"/v1/runs/{W}/signals/approve", 415, MEDIA, b"yes",
         ctype="text/plain"),
    Case("cancel-finished", "POST", f"/v1/runs/{F}/cancel", 409, CONFLICT),
    Case("retry-succeeded", "POST", f"/v1/runs/{F}/retry", 409, CONFLICT),
    Case("retry-waiting", "POST", f"/v1/runs/{W}/retry", 409, CONFLICT),
    Case("events-unknown-run", "GET", f"/v1/runs/{U}/events", 404, NORUN),
    # -- workflows --------------------------------------------------------------
    Case("workflow-unknown", "GET", "/v1/workflows/nope", 404, NOWF),
    Case("workflow-version-word", "GET", "/v1/workflows/bi?version=abc", 400, BAD),
    Case("workflow-version-negative", "GET", "/v1/workflows/bi?version=-1", 400, BAD),
    Case("workflow-version-unknown", "GET", "/v1/workflows/bi?version=99", 404, NOWF),
    Case("delete-unknown", "DELETE", "/v1/workflows/nope", 404, NOWF),
    Case("put-bad-json", "PUT", "/v1/workflows/bi", 400, NOJSON, b'{"steps": [}'),
    Case("put-empty-body", "PUT", "/v1/workflows/bi", 400, NOJSON, b""),
    Case("put-text", "PUT", "/v1/workflows/bi", 415, MEDIA, b'{"steps": []}', ctype="text/plain"),
    Case("put-invalid", "PUT", "/v1/workflows/bi", 422, INVALID,
         {"steps": [{"id": "a", "type": "nope"}]}),
    Case("put-name-mismatch", "PUT", "/v1/workflows/bi-done", 422, INVALID, chain("a", name="bi")),
    # -- methods ----------------------------------------------------------------
    Case("delete-runs", "DELETE", "/v1/runs", 405, M405, allow={"GET"}),
    Case("post-runs", "POST", "/v1/runs", 405, M405, {"input": 1}, allow={"GET"}),
    Case("post-workflows", "POST", "/v1/workflows", 405, M405, chain("a"), allow={"GET"}),
    Case("post-workflow", "POST", "/v1/workflows/bi", 405, M405, chain("a"),
         allow={"GET", "PUT", "DELETE"}),
    Case("patch-workflow", "PATCH", "/v1/workflows/bi", 405, M405, chain("a"),
         allow={"GET", "PUT", "DELETE"}),
    Case("get-start", "GET", RUNS, 405, M405, allow={"POST"}),
    Case("put-run", "PUT", f"/v1/runs/{W}", 405, M405, {"status": "cancelled"}, allow={"GET"}),
    Case("delete-run", "DELETE", f"/v1/runs/{W}", 405, M405, allow={"GET"}),
    Case("get-cancel", "GET", f"/v1/runs/{W}/cancel", 405, M405, allow={"POST"}),
    Case("get-retry", "GET", f"/v1/runs/{W}/retry", 405, M405, allow={"POST"}),
    Case("get-signal", "GET", f"/v1/runs/{W}/signals/approve", 405, M405, allow={"POST"}),
    Case("post-events", "POST", f"/v1/runs/{W}/events", 405, M405, allow={"GET"}),
    Case("post-dead-letter", "POST", "/v1/dead-letter", 405, M405, allow={"GET"}),
    Case("post-feed", "POST", "/v1/events?workflow=bi", 405, M405, allow={"GET"}),
    # -- no such route ----------------------------------------------------------
    Case("unknown-path", "GET", "/v1/nothing", 404, NOROUTE),
    Case("runs-trailing-slash", "GET", "/v1/runs/", 404, NOROUTE),
    Case("too-deep", "GET", "/v1/workflows/bi/runs/x", 404, NOROUTE),
]


def _snapshot(d) -> dict:
    st, wfs = list_workflows(d)
    assert st == 200, wfs
    names = sorted(w["name"] for w in wfs["workflows"])
    defs = {}
    for n in names:
        st, doc = get_workflow(d, n)
        assert st == 200, doc
        defs[n] = doc
    runs = list_all_runs(d)
    full = {}
    for r in runs:
        st, doc = get_run(d, r["id"])
        assert st == 200, doc
        full[r["id"]] = doc
    return {"workflows": sorted(wfs["workflows"], key=lambda w: w["name"]), "definitions": defs,
            "runs": runs, "run_docs": full,
            "dead_letter": list_all_runs(d, path="/v1/dead-letter")}


def test_bad_requests_change_nothing(launch):
    assert len(CASES) >= 50, len(CASES)
    assert len({c.name for c in CASES}) == len(CASES), "duplicate case names"
    d = launch()
    must_put(d, "bi", {"steps": [{"id": "prep", "type": "noop"},
                                 {"id": "approve", "type": "approval", "depends_on": ["prep"]}]})
    must_put(d, "bi-done", chain("a"))
    waiting = start(d, "bi", input={"w": 1}, key="bi-waiting").json["id"]
    wait_status(d, waiting, "waiting")
    finished = start(d, "bi-done", wait="10s").json
    assert finished["status"] == "succeeded", finished
    finished = finished["id"]
    before = _snapshot(d)
    assert len(before["runs"]) == 2

    failures = []
    for c in CASES:
        path = c.path.format(waiting=waiting, finished=finished, waiting_short=waiting[:-1])
        body = c.body
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        try:
            resp = request(d, c.method, path, body=body, headers=c.headers, content_type=c.ctype)
            assert_error(resp, c.status, c.code)
            if c.allow is not None:
                allow = {m.strip().upper() for m in (resp.header("allow") or "").split(",")}
                assert c.allow <= allow, f"Allow {resp.header('allow')!r} lacks {c.allow - allow}"
        except AssertionError as e:
            failures.append(f"{c.name}: {c.method} {path}: {e}")
    after = _snapshot(d)
    for k in before:
        if after[k] != before[k]:
            failures.append(f"state changed ({k}):\n before {before[k]}\n after  {after[k]}")
    assert not failures, f"{len(failures)} problems ({len(CASES)} cases):\n" + "\n".join(failures)
    assert d.alive(), d.log_tail()
    assert get(d.port, "/health/ready").status == 200
    # and still works: the waiting run can be approved, a new run started
    assert signal_run(d, waiting, "approve", {"ok": True})[0] == 200
    assert wait_terminal(d, waiting)["status"] == "succeeded"
    st, run = start(d, "bi-done", wait="10s")
    assert st == 201 and run["status"] == "succeeded", run
    st, again = start(d, "bi", key="bi-waiting")
    assert st == 200 and again["id"] == waiting, again
