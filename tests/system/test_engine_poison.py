"""No poison records: what the daemon accepts, it can read back after a restart; a record it
still cannot read quarantines its run, never the daemon.

Invariants checked:
- Every request over a limit (json/value_limits.h: nesting deeper than 64, a value over 1 MiB
  encoded, text that is not JSON or not UTF-8, a lone surrogate, a number beyond the double
  range) is refused with a 4xx and the standard error shape; nothing is answered 5xx.
- Every accepted run, including runs whose http steps got hostile bodies (invalid UTF-8,
  JSON nested too deep or too large) and approvals signalled with hostile payloads, reads back
  byte for byte the same after a SIGTERM and after a kill -9, and the restarted daemon is
  ready with nothing quarantined.
- A journal record made undecodable (its CRC fixed, so only the engine sees the damage) fails
  its run at start ("quarantined: record N cannot be decoded: ..."), which /v1/dead-letter
  lists and rf_runs_quarantined_total counts; the daemon starts and the other runs are intact.

The property test draws its inputs from a fixed seed and sends about 150 requests.
"""

from __future__ import annotations

import json
import random
import re
import struct
import time
from pathlib import Path

import pytest

from conftest import store_under_test
from engine_client import (TERMINAL, assert_error, call, data_dir, get_json, get_run, kill9,
                           must_put, must_start, relaunch, retry_run, signal_run, start, term,
                           wait_status, wait_terminal)
from flaky_server import Reply

MAX_DEPTH = 64
MAX_VALUE_BYTES = 1 << 20
SEED = 20261203
STARTS = 120
SETTLE_TIMEOUT = 60.0


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------


def nest(depth: int, inner=1):
    """`inner` inside `depth` containers, alternating arrays and objects."""
    v = inner
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


def depth_of(v) -> int:
    if isinstance(v, list):
        return 1 + max((depth_of(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((depth_of(x) for x in v.values()), default=0)
    return 0


def compact(v) -> bytes:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


def random_value(rng: random.Random, depth: int):
    """A JSON value nested exactly `depth` deep: a spine of containers with scalars and small
    containers beside it."""
    scalars = [0, -1, 2**62, 1.5, -0.0, True, False, None, "", "caf\u00e9", "\U0001F600",
               "quote\" back\\slash", "ctl\u0000\u001f", "x" * rng.randint(0, 300)]

    def side():
        return rng.choice(scalars) if rng.random() < 0.7 else [rng.choice(scalars)]

    v = rng.choice(scalars)
    for _ in range(depth):
        if rng.random() < 0.5:
            v = [side() for _ in range(rng.randint(0, 2))] + [v]
        else:
            obj = {f"f{i}": side() for i in range(rng.randint(0, 2))}
            obj["last"] = v
            v = obj
    return v


# --------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------

RETRY = {"max_attempts": 2, "initial_ms": 1, "max_ms": 5, "jitter": 0}


def definitions(flaky_url: str) -> dict:
    return {
        "echo": {"steps": [{"id": "a", "type": "noop"}]},
        # The transform nests its input one level deeper than it came.
        "wrap": {"steps": [{"id": "t", "type": "transform", "output": {"w": "{{input}}"}}]},
        "fetch": {"retry": RETRY,
                  "steps": [{"id": "call", "type": "http",
                             "request": {"url": flaky_url + "/b/{{input.p}}"}}]},
        "approve": {"steps": [{"id": "approve", "type": "approval"},
                              {"id": "after", "type": "noop", "depends_on": ["approve"]}]},
    }


# (kind, raw body or value, expected status, expected code) for run starts.
def start_cases(rng: random.Random):
    cases = []
    for _ in range(STARTS):
        r = rng.random()
        if r < 0.35:
            d = rng.choice([0, 1, 3, 10, MAX_DEPTH - 1, MAX_DEPTH])
            cases.append(("value", random_value(rng, d), 201, None))
        elif r < 0.55:
            d = rng.choice([MAX_DEPTH + 1, 100, 130, 300])
            cases.append(("value", nest(d), 400, "nesting_too_deep"))
        elif r < 0.6:
            # Beyond the parser's own bound: refused while parsing the body.
            cases.append(("raw", b'{"input":' + b"[" * 600 + b"]" * 600 + b"}", 400,
                          "nesting_too_deep"))
        elif r < 0.68:
            cases.append(("raw", b'{"input":"lone \\ud800 surrogate"}', 400, "invalid_json"))
        elif r < 0.74:
            cases.append(("raw", b'{"input":"bad \xff\xfe bytes"}', 400, "invalid_json"))
        elif r < 0.8:
            cases.append(("raw", b'{"input":[1e400]}', 400, "invalid_json"))
        elif r < 0.88:
            cases.append(("raw", b'{"input":{"n":123456789012345678901234567890,"m":-1e308,'
                                 b'"pair":"\\ud83d\\ude00"}}', 201, None))
        elif r < 0.94:
            # A string of exactly the limit once encoded (its quotes count), or one byte more.
            over = rng.random() < 0.5
            s = "x" * (MAX_VALUE_BYTES - 2 + (1 if over else 0))
            cases.append(("value", s, 413 if over else 201, "payload_too_large" if over else None))
        else:
            cases.append(("value", {"deep": nest(MAX_DEPTH)}, 400, "nesting_too_deep"))
    return cases


# Bodies the flaky server answers http steps with.
HTTP_BODIES = [
    b"plain \xff\xfe text \xed\xa0\x80 with invalid UTF-8",  # stored as text, U+FFFD
    b'{"a":"\\ud800"}',                                     # not JSON (lone surrogate): text
    compact(nest(MAX_DEPTH - 1)),                           # fits the step, not the run output
    compact(nest(MAX_DEPTH + 6)),                           # too deep: the attempt fails
    compact({"big": "y" * (MAX_VALUE_BYTES + 10)}),         # too large: the attempt fails
    compact({"ok": [1, 2, {"n": 123456789012345678901234567890}]}),
    b"",
]

# (payload raw or value, expected status, expected code) for approval signals.
SIGNALS = [
    ("value", {"yes": True, "deep": nest(MAX_DEPTH - 1)}, 200, None),
    ("value", nest(MAX_DEPTH + 1), 400, "nesting_too_deep"),
    ("value", "z" * MAX_VALUE_BYTES, 413, "payload_too_large"),
    ("raw", b'"\\udc00"', 400, "invalid_json"),
    ("raw", b'"\xc0\xaf"', 400, "invalid_json"),
    ("raw", b"1e400", 400, "invalid_json"),
]


def send_start(d, name: str, kind: str, body):
    raw = body if kind == "raw" else compact({"input": body})
    return call(d, "POST", f"/v1/workflows/{name}/runs", raw, timeout=30.0)


def check_refusal(reply, status: int, code: str):
    assert reply.status == status, f"expected {status} {code}, got {reply.status} {reply.json}"
    assert_error(reply, status, code)


def settle(d, ids: dict[str, str]) -> None:
    """Waits until every run is terminal, or waiting for its approval."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    for rid, name in ids.items():
        while True:
            st, run = get_run(d, rid)
            assert st == 200, (rid, st, run)
            if run["status"] in TERMINAL or (name == "approve" and run["status"] == "waiting"):
                break
            assert time.monotonic() < deadline, f"run {rid} still {run['status']}"
            time.sleep(0.02)


def metric(d, name: str) -> float:
    resp = call(d, "GET", "/metrics").resp
    assert resp.status == 200
    m = re.search(rb"^" + re.escape(name.encode()) + rb" (\S+)$", resp.body, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


# --------------------------------------------------------------------------
# The property test
# --------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_accepted_runs_read_back_identically_after_a_restart(launch, flaky, stop):
    rng = random.Random(SEED)
    d = launch("--max-body", "4MiB")
    for name, definition in definitions(flaky.base_url).items():
        must_put(d, name, definition)

    accepted: dict[str, str] = {}  # run id -> workflow
    for i, (kind, body, want, code) in enumerate(start_cases(rng)):
        name = rng.choice(["echo", "wrap"])
        reply = send_start(d, name, kind, body)
        assert reply.status < 500, f"case {i}: {reply.status} {reply.json}"
        if want == 201:
            assert reply.status == 201, f"case {i} ({kind}): {reply.status} {reply.json}"
            accepted[reply.json["id"]] = name
        else:
            check_refusal(reply, want, code)

    fetches = []
    for i in range(3 * len(HTTP_BODIES)):
        body = HTTP_BODIES[i % len(HTTP_BODIES)]
        flaky.script(f"/b/r{i}", [Reply(200, body=body)])
        run = must_start(d, "fetch", input={"p": f"r{i}"})
        accepted[run["id"]] = "fetch"
        fetches.append((run["id"], body))

    for i, (kind, payload, want, code) in enumerate(SIGNALS * 2):
        run = must_start(d, "approve", input={"i": i})
        accepted[run["id"]] = "approve"
        wait_status(d, run["id"], {"waiting"})
        raw = payload if kind == "raw" else compact(payload)
        reply = call(d, "POST", f"/v1/runs/{run['id']}/signals/approve", raw, timeout=30.0)
        if want == 200:
            assert reply.status == 200, f"signal {i}: {reply.status} {reply.json}"
        else:
            check_refusal(reply, want, code)

    settle(d, accepted)
    # The http steps' outputs are what the limits say.
    for rid, body in fetches:
        run = wait_terminal(d, rid)
        call_step = run["steps"][0]
        if body.startswith(b"plain"):
            assert run["status"] == "succeeded", run
            assert "\ufffd" in call_step["output"]["body"]
        elif len(body) > MAX_VALUE_BYTES:
            assert run["status"] == "failed", run
            assert call_step["attempts"][0]["error"] == "step output exceeds 1 MiB once encoded"
        elif body == compact(nest(MAX_DEPTH + 6)):
            assert run["status"] == "failed", run
            assert "nesting deeper than 64" in call_step["attempts"][0]["error"]
        elif body == compact(nest(MAX_DEPTH - 1)):
            assert run["error"]["message"] == "run output nests deeper than 64", run
    before = {rid: get_json(d, f"/v1/runs/{rid}").resp.body for rid in accepted}
    assert len(before) >= 80

    if stop == "sigterm":
        term(d)
    else:
        time.sleep(1.0)  # every GET answer above is durable by now (a commit takes ms)
        kill9(d)
    d2 = relaunch(launch, d, "--max-body", "4MiB")
    assert call(d2, "GET", "/health/ready").status == 200
    changed = []
    for rid, body in before.items():
        after = get_json(d2, f"/v1/runs/{rid}").resp.body
        if after != body:
            changed.append(f"{rid} ({accepted[rid]}):\n  before {body[:300]!r}\n"
                           f"  after  {after[:300]!r}")
    assert not changed, f"{len(changed)} runs read back differently:\n" + "\n".join(changed[:5])
    assert metric(d2, "rf_runs_quarantined_total") == 0
    assert metric(d2, "rf_records_unreadable_total") == 0


# --------------------------------------------------------------------------
# Quarantine
# --------------------------------------------------------------------------

def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def rewrite_record(segment: Path, find: bytes, nth: int, replace: bytes) -> None:
    """Replaces `find` in the `nth` record holding it (src/store/embedded/format.h:
    [u32 len][u32 crc32c of type+payload][u8 type][payload]) and fixes that record's CRC."""
    assert len(find) == len(replace)
    data = bytearray(segment.read_bytes())
    off, seen = 0, 0
    while off + 9 <= len(data):
        length, _crc = struct.unpack_from("<II", data, off)
        start, end = off + 9, off + 9 + length
        payload = bytes(data[start:end])
        if data[off + 8] != 0xFF and find in payload:
            if seen == nth:
                payload = payload.replace(find, replace, 1)
                data[start:end] = payload
                struct.pack_into("<I", data, off + 4, crc32c(bytes(data[off + 8:end])))
                segment.write_bytes(bytes(data))
                return
            seen += 1
        off = end
    raise AssertionError(f"no record #{nth} holding {find!r} in {segment}")


@pytest.mark.skipif(store_under_test() != "embedded", reason="rewrites the embedded journal")
def test_an_undecodable_record_quarantines_its_run_and_the_daemon_starts(launch):
    d = launch(shards=1)
    # Live runs (waiting on an approval): their records stay in the journal. Finished ones
    # move to the history store, and a replay skips their journal records.
    must_put(d, "chain", {"steps": [{"id": "a", "type": "noop"},
                                    {"id": "b", "type": "approval", "depends_on": ["a"]}]})
    bad = must_start(d, "chain", input={"m": "POISON"})
    good = must_start(d, "chain", input={"m": "fine"})
    for r in (bad, good):
        wait_status(d, r["id"], "waiting")
    good_before = get_json(d, f"/v1/runs/{good['id']}").resp.body
    term(d)

    segments = sorted((Path(data_dir(d)) / "shard-0").glob("seg-*.log"))
    assert segments
    # The run's records: created, a started, a succeeded (the 2nd holding the marker), ...
    rewrite_record(segments[-1], b"POISON", 1, b"POIS\xff\xfe")

    d2 = relaunch(launch, d, shards=1)
    assert call(d2, "GET", "/health/ready").status == 200
    st, run = get_run(d2, bad["id"])
    assert st == 200
    assert run["status"] == "failed", run
    assert run["error"]["message"].startswith("quarantined: record 3 cannot be decoded: "), run
    assert get_json(d2, f"/v1/runs/{good['id']}").resp.body == good_before
    st, dead = get_json(d2, "/v1/dead-letter")
    assert st == 200
    assert [r["id"] for r in dead["runs"]] == [bad["id"]]
    assert dead["runs"][0]["error"] == run["error"]["message"]
    assert metric(d2, "rf_runs_quarantined_total") == 1
    assert metric(d2, "rf_records_ignored_total") == 2  # b started, b waiting
    assert "run quarantined" in d2.log_tail(200)
    # It stays as it is.
    assert retry_run(d2, bad["id"]).status == 409
    # And the next start reaches the same verdict.
    term(d2)
    d3 = relaunch(launch, d2, shards=1)
    st, again = get_run(d3, bad["id"])
    assert st == 200 and again == run
    assert metric(d3, "rf_runs_quarantined_total") == 1
