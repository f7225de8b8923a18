"""kill -9 under load: what was answered 201 survives, nothing is duplicated, and no step
call happens that the journal does not account for.

2,000 runs of noop -> http (flaky server) -> noop are started from several threads with
unique Idempotency-Keys; the daemon is SIGKILLed once about half were answered, then
restarted on the same --data-dir.

Readings:
- The flaky server answers every call 200 and the http step has 5 attempts, so every run
  is expected to *succeed* (an attempt interrupted by the crash counts as one, and is
  retried with the same Idempotency-Key), not merely to end.
- A request that got no answer may or may not have created its run; starting it again
  with its key tells which (200: it had, 201: it had not). Either way the run must be
  consistent like the others.
- "No duplicates": the workflow's runs are exactly one per key that was sent, and the
  flaky server saw calls only for runs that exist.
"""

from __future__ import annotations

import json
import threading
import time

from engine_client import (RUN_ID, TERMINAL, get_run, kill9, list_all_runs, must_put, relaunch,
                           start, step)
from rfclient import Conn, NoResponse

N = 2000
THREADS = 8
KILL_AFTER = N // 2
SETTLE_TIMEOUT = 120.0


def _definition(url: str) -> dict:
    return {"retry": {"max_attempts": 5, "initial_ms": 50, "max_ms": 500, "multiplier": 2,
                      "jitter": 0.2},
            "steps": [{"id": "first", "type": "noop"},
                      {"id": "call", "type": "http", "depends_on": ["first"], "timeout_ms": 10000,
                       "request": {"method": "POST", "url": url, "body": {"i": "{{input.i}}"}}},
                      {"id": "last", "type": "noop", "depends_on": ["call"]}]}


def _settle(d, want: set[str], timeout: float) -> dict[str, dict]:
    """Polls the run list until every id in `want` is listed and terminal; returns the
    list entries by id."""
    deadline = time.monotonic() + timeout
    while True:
        listed = {r["id"]: r for r in list_all_runs(d, workflow="crash")}
        missing = want - set(listed)
        pending = {i for i in want & set(listed) if listed[i]["status"] not in TERMINAL}
        if not missing and not pending:
            return listed
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {timeout}s: {len(missing)} runs missing "
                                 f"(e.g. {sorted(missing)[:5]}), {len(pending)} not terminal "
                                 f"(e.g. {sorted(pending)[:5]})")
        time.sleep(0.5)


def test_kill9_under_load_keeps_every_answered_run(launch, flaky):
    d = launch()
    must_put(d, "crash", _definition(flaky.url("/step")))

    lock = threading.Lock()
    state = {"next": 0, "answered": 0, "stop": False}
    results: dict[str, tuple] = {}  # key -> ("answered", status, doc) | ("unknown",) | ("not_sent",)
    kill_ready = threading.Event()

    def worker():
        while True:
            with lock:
                if state["stop"] or state["next"] >= N:
                    return
                i = state["next"]
                state["next"] += 1
            key = f"crash-{i:05d}"
            body = json.dumps({"input": {"i": i}}).encode()
            try:
                c = Conn(d.port, timeout=15.0)
            except OSError:
                results[key] = ("not_sent",)
                continue
            try:
                c.request("POST", "/v1/workflows/crash/runs", body=body,
                          headers={"Content-Type": "application/json", "Idempotency-Key": key})
                resp = c.read_response(timeout=15.0)
            except (OSError, NoResponse):
                results[key] = ("unknown",)
                continue
            finally:
                c.close()
            try:
                doc = resp.json()
            except ValueError:
                doc = None
            results[key] = ("answered", resp.status, doc)
            with lock:
                state["answered"] += 1
                if state["answered"] >= KILL_AFTER:
                    kill_ready.set()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    assert kill_ready.wait(120.0), f"only {state['answered']} starts answered in 120 s"
    kill9(d)
    with lock:
        state["stop"] = True
    for t in threads:
        t.join(30.0)
    assert not any(t.is_alive() for t in threads), "client threads hung after the kill"

    answered = {k: v for k, v in results.items() if v[0] == "answered"}
    unknown = sorted(k for k, v in results.items() if v[0] == "unknown")
    bad = {k: (v[1], v[2]) for k, v in answered.items() if v[1] != 201}
    assert not bad, f"{len(bad)} starts answered other than 201, e.g. {list(bad.items())[:3]}"
    ids = {k: v[2]["id"] for k, v in answered.items()}
    assert all(RUN_ID.fullmatch(i) for i in ids.values())
    assert len(set(ids.values())) == len(ids), "two keys answered with the same run id"
    assert len(answered) >= KILL_AFTER
    assert len(answered) < N, "the kill came after every start was answered: nothing was in flight"

    d2 = relaunch(launch, d)
    # 1. every answered run exists after the crash and ends
    _settle(d2, set(ids.values()), SETTLE_TIMEOUT)

    # 2. the same key again: the same run (200); unanswered keys: 200 (it existed) or 201
    by_key: dict[str, str] = {}
    problems = []
    for key in sorted(answered) + unknown:
        i = int(key.split("-")[1])
        st, doc = start(d2, "crash", input={"i": i}, key=key)
        if key in answered:
            if st != 200 or doc.get("id") != ids[key]:
                problems.append(f"{key}: again -> {st} {doc and doc.get('id')}, first {ids[key]}")
        elif st not in (200, 201):
            problems.append(f"{key} (unanswered): again -> {st} {doc}")
        if doc and "id" in doc:
            by_key[key] = doc["id"]
    assert not problems, f"{len(problems)} idempotency problems:\n" + "\n".join(problems[:20])
    assert len(set(by_key.values())) == len(by_key), "two keys share a run"

    # 3. exactly one run per sent key, all terminal
    listed = _settle(d2, set(by_key.values()), SETTLE_TIMEOUT)
    assert set(listed) == set(by_key.values()), (
        f"runs without a key that was sent: {sorted(set(listed) - set(by_key.values()))[:5]}")

    # 4. each run's record agrees with what the outside world saw
    received = flaky.requests("/step")
    assert all(c.key for c in received), "a step call without an Idempotency-Key"
    calls = flaky.calls_by_key("/step")
    run_ids = set(listed)
    phantom = [k for k in calls if k.rsplit("/", 1)[0] not in run_ids or not k.endswith("/call")]
    assert not phantom, f"step calls for runs that do not exist: {phantom[:5]}"
    problems = []
    for key, rid in sorted(by_key.items()):
        st, run = get_run(d2, rid)
        if st != 200:
            problems.append(f"{rid}: GET {st}")
            continue
        i = int(key.split("-")[1])
        call = step(run, "call")
        n_calls = calls.get(f"{rid}/call", 0)
        if run["status"] != "succeeded":
            problems.append(f"{rid}: {run['status']} {run.get('error')}")
        if run.get("idempotency_key") != key or run["input"] != {"i": i}:
            problems.append(f"{rid}: key {run.get('idempotency_key')!r} input {run['input']!r}, "
                            f"expected {key!r} {{'i': {i}}}")
        if n_calls > len(call["attempts"]):
            problems.append(f"{rid}: {n_calls} calls received but {len(call['attempts'])} "
                            f"attempts recorded")
        if run["status"] == "succeeded":
            if n_calls < 1:
                problems.append(f"{rid}: succeeded without the server ever being called")
            out = call.get("output")
            if not (isinstance(out, dict) and isinstance(out.get("body"), dict)
                    and out["body"].get("key") == f"{rid}/call"):
                problems.append(f"{rid}: step output {out!r}")
            if [s["status"] for s in run["steps"]] != ["succeeded"] * 3:
                problems.append(f"{rid}: steps {[s['status'] for s in run['steps']]}")
    assert not problems, f"{len(problems)} inconsistent runs:\n" + "\n".join(problems[:30])
    multi = sum(1 for rid in by_key.values() if calls.get(f"{rid}/call", 0) > 1)
    print(f"\ncrash: {len(answered)} answered, {len(unknown)} unanswered, "
          f"{sum(1 for v in results.values() if v[0] == 'not_sent')} not sent, "
          f"{len(by_key)} runs, {len(received)} step calls, {multi} runs called more than once")
    # the calls the server received carried the step's input
    for c in received[:50]:
        rid = c.key.rsplit("/", 1)[0]
        key = next(k for k, v in by_key.items() if v == rid)
        assert c.json == {"i": int(key.split("-")[1])}, (c.key, c.json)
