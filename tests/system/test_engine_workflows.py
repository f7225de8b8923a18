"""Workflow definitions over /v1/workflows: versions, reads, delete, validation, limits.

Spec: src/api/README.md (Workflows) and src/engine/README.md (definition format).
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from engine_client import (ERR_TOO_LARGE, ERR_UNSUPPORTED_MEDIA, ERR_WORKFLOW_NOT_FOUND,
                           assert_error, call, chain, delete_workflow, get_workflow, kill9,
                           list_workflows, must_put, put_workflow, relaunch, signal_run, start,
                           validation_errors, wait_status, wait_terminal)


def pick(doc, keys=("name", "version", "created")) -> dict:
    """The documented fields of an answer (extra fields are not an error)."""
    if not isinstance(doc, dict):
        return doc
    return {k: doc[k] for k in keys if k in doc}


SUMMARY = ("name", "version", "versions", "steps")


def listed(d) -> dict:
    st, doc = list_workflows(d)
    assert st == 200, (st, doc)
    assert isinstance(doc.get("workflows"), list), doc
    out = {}
    for w in doc["workflows"]:
        assert w["name"] not in out, f"workflow listed twice: {doc}"
        out[w["name"]] = w
    return out


# --------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------


def test_put_versions(launch):
    d = launch()
    v1 = chain("a", "b", description="first")
    st, doc = put_workflow(d, "orders", v1)
    assert (st, pick(doc)) == (201, {"name": "orders", "version": 1, "created": True}), (st, doc)
    # byte-identical text again: no new version
    st, doc = put_workflow(d, "orders", v1)
    assert (st, pick(doc)) == (200, {"name": "orders", "version": 1, "created": False}), (st, doc)
    # a change: version 2
    v2 = chain("a", "b", "c", description="second")
    st, doc = put_workflow(d, "orders", v2)
    assert (st, pick(doc)) == (201, {"name": "orders", "version": 2, "created": True}), (st, doc)
    st, doc = put_workflow(d, "orders", v2)
    assert (st, pick(doc)) == (200, {"name": "orders", "version": 2, "created": False}), (st, doc)
    # "differs from the latest version" is compared against the latest only: going back to
    # v1's text makes version 3, it does not answer "version 1".
    st, doc = put_workflow(d, "orders", v1)
    assert (st, pick(doc)) == (201, {"name": "orders", "version": 3, "created": True}), (st, doc)
    # a second workflow has its own numbering
    st, doc = put_workflow(d, "billing", chain("x"))
    assert (st, pick(doc)) == (201, {"name": "billing", "version": 1, "created": True}), (st, doc)


def test_name_in_body_optional_but_must_match(launch):
    d = launch()
    st, doc = put_workflow(d, "named", chain("a", name="named"))
    assert st == 201, doc
    st, doc = put_workflow(d, "unnamed", chain("a"))
    assert st == 201, doc
    r = put_workflow(d, "mismatch", chain("a", name="other"))
    errors = validation_errors(r)
    assert [e["field"] for e in errors] == ["/name"], errors
    assert get_workflow(d, "mismatch")[0] == 404


def test_get_list_one_and_version(launch):
    d = launch()
    v1 = chain("a", "b", description="v1")
    v2 = chain("a", "b", "c", description="v2")
    must_put(d, "wf-a", v1)
    must_put(d, "wf-a", v2)
    must_put(d, "wf-b", chain("only"))
    ws = listed(d)
    assert set(ws) == {"wf-a", "wf-b"}, ws
    # Reading: "version" is the latest version, "versions" how many exist, "steps" the
    # latest version's step count (integers, like a summary row).
    assert pick(ws["wf-a"], SUMMARY) == {"name": "wf-a", "version": 2, "versions": 2, "steps": 3}, ws
    assert pick(ws["wf-b"], SUMMARY) == {"name": "wf-b", "version": 1, "versions": 1, "steps": 1}, ws

    st, doc = get_workflow(d, "wf-a")
    assert st == 200, doc
    assert doc["name"] == "wf-a" and doc["version"] == 2, doc
    assert doc["definition"] == v2, doc  # the submitted document, as given
    st, doc = get_workflow(d, "wf-a", version=1)
    assert st == 200 and doc["version"] == 1 and doc["definition"] == v1, doc
    st, doc = get_workflow(d, "wf-a", version=2)
    assert st == 200 and doc["definition"] == v2, doc
    assert_error(get_workflow(d, "wf-a", version=3), 404, ERR_WORKFLOW_NOT_FOUND)
    assert_error(get_workflow(d, "nope"), 404, ERR_WORKFLOW_NOT_FOUND)


def test_delete_then_start_404_and_reregister(launch):
    d = launch()
    defn = chain("a", "b")
    must_put(d, "gone", defn)
    must_put(d, "gone", chain("a", "b", "c"))
    must_put(d, "kept", chain("a"))
    st, doc = delete_workflow(d, "gone")
    assert (st, pick(doc, ("name", "deleted"))) == (200, {"name": "gone", "deleted": True}), (st, doc)
    assert set(listed(d)) == {"kept"}
    assert_error(start(d, "gone"), 404, ERR_WORKFLOW_NOT_FOUND)
    # Reading: a deleted workflow is gone for reads too.
    assert_error(get_workflow(d, "gone"), 404, ERR_WORKFLOW_NOT_FOUND)
    assert_error(delete_workflow(d, "gone"), 404, ERR_WORKFLOW_NOT_FOUND)
    assert_error(delete_workflow(d, "never"), 404, ERR_WORKFLOW_NOT_FOUND)
    # registered again: the next version number, even for the same text as before
    st, doc = put_workflow(d, "gone", chain("a", "b", "c"))
    assert (st, pick(doc)) == (201, {"name": "gone", "version": 3, "created": True}), (st, doc)
    st, doc = start(d, "gone", wait="5s")
    assert st == 201 and doc["version"] == 3 and doc["status"] == "succeeded", doc


def test_running_run_finishes_after_delete(launch):
    d = launch()
    must_put(d, "hold", {"steps": [{"id": "gate", "type": "approval"},
                                   {"id": "after", "type": "noop", "depends_on": ["gate"]}]})
    run = start(d, "hold", input={"n": 1}).json
    wait_status(d, run["id"], "waiting")
    assert delete_workflow(d, "hold")[0] == 200
    st, doc = signal_run(d, run["id"], "gate", {"ok": True})
    assert st == 200, doc
    done = wait_terminal(d, run["id"])
    assert done["status"] == "succeeded", done
    assert done["output"] == {"after": {"ok": True}}, done


def test_run_keeps_its_version(launch):
    d = launch()
    must_put(d, "ver", {"steps": [{"id": "gate", "type": "approval"},
                                  {"id": "old", "type": "noop", "depends_on": ["gate"]}]})
    run = start(d, "ver").json
    assert run["version"] == 1, run
    wait_status(d, run["id"], "waiting")
    v = must_put(d, "ver", {"steps": [{"id": "gate", "type": "approval"},
                                      {"id": "new", "type": "transform", "depends_on": ["gate"],
                                       "output": "v2"}]})
    assert v == 2
    assert signal_run(d, run["id"], "gate", "go")[0] == 200
    done = wait_terminal(d, run["id"])
    assert done["status"] == "succeeded" and done["version"] == 1, done
    assert [s["id"] for s in done["steps"]] == ["gate", "old"], done
    assert done["output"] == {"old": "go"}, done
    run2 = start(d, "ver").json
    assert run2["version"] == 2 and [s["id"] for s in run2["steps"]] == ["gate", "new"], run2


def test_put_is_durable_before_the_answer(launch):
    d = launch()
    defn = chain("a", "b", description="durable")
    assert put_workflow(d, "dur", defn)[0] == 201
    kill9(d)  # no graceful shutdown: only what was durable survives
    d2 = relaunch(launch, d)
    st, doc = get_workflow(d2, "dur")
    assert st == 200 and doc["version"] == 1 and doc["definition"] == defn, (st, doc)
    # and the numbering continues from there
    st, doc = put_workflow(d2, "dur", defn)
    assert (st, doc["version"], doc["created"]) == (200, 1, False), doc


# --------------------------------------------------------------------------
# Validation (422)
# --------------------------------------------------------------------------


def fields(errors) -> list[str]:
    return [e["field"] for e in errors]


def put_invalid(d, definition, name="bad") -> list[dict]:
    errors = validation_errors(put_workflow(d, name, definition))
    # nothing was registered
    assert get_workflow(d, name)[0] == 404, f"{name} registered despite errors"
    return errors


VALID = {"steps": [{"id": "a", "type": "noop"},
                   {"id": "b", "type": "noop", "depends_on": ["a"]}]}


def with_steps(*steps, **extra) -> dict:
    d = {"steps": list(steps)}
    d.update(extra)
    return d


HTTP = {"id": "h", "type": "http", "request": {"url": "http://127.0.0.1:9/x"}}

INVALID = [
    # (id, definition, expected pointers (exactly these, in this order))
    ("unknown-step-type", with_steps({"id": "a", "type": "noop"}, {"id": "b", "type": "shell"}),
     ["/steps/1/type"]),
    ("duplicate-id", with_steps({"id": "a", "type": "noop"}, {"id": "a", "type": "noop"}),
     ["/steps/1/id"]),
    ("unknown-dependency", with_steps({"id": "a", "type": "noop"},
                                      {"id": "b", "type": "noop", "depends_on": ["a", "zzz"]}),
     ["/steps/1/depends_on/1"]),
    ("self-dependency", with_steps({"id": "a", "type": "noop", "depends_on": ["a"]}),
     ["/steps/0/depends_on/0"]),
    ("repeated-dependency", with_steps({"id": "a", "type": "noop"},
                                       {"id": "b", "type": "noop", "depends_on": ["a", "a"]}),
     ["/steps/1/depends_on/1"]),
    ("bad-step-id", with_steps({"id": "has space", "type": "noop"}), ["/steps/0/id"]),
    ("empty-steps", {"steps": []}, ["/steps"]),
    ("steps-not-array", {"steps": {"a": 1}}, ["/steps"]),
    ("template-unknown-root", with_steps({"id": "t", "type": "transform", "output": "{{inptu.x}}"}),
     ["/steps/0/output"]),
    ("template-nested-pointer", with_steps({"id": "t", "type": "transform",
                                            "output": {"x": [1, {"y": "{{inptu}}"}]}}),
     ["/steps/0/output/x/1/y"]),
    ("template-unknown-step", with_steps({"id": "t", "type": "transform",
                                          "output": "{{steps.ghost.output}}"}),
     ["/steps/0/output"]),
    ("template-not-a-dependency", with_steps({"id": "a", "type": "noop"},
                                             {"id": "b", "type": "transform",
                                              "output": "{{steps.a.output}}"}),
     ["/steps/1/output"]),
    ("template-in-url", with_steps({"id": "a", "type": "noop"},
                                   {"id": "h", "type": "http",
                                    "request": {"url": "{{steps.a.output.u}}"}}),
     ["/steps/1/request/url"]),
    ("template-in-header", with_steps({"id": "h", "type": "http",
                                       "request": {"url": "http://127.0.0.1:9/x",
                                                   "headers": {"X-A": "{{ run.nope }}"}}}),
     ["/steps/0/request/headers/X-A"]),
    ("when-bad-reference", with_steps({"id": "a", "type": "noop", "when": "{{inptu.a}} > 0"}),
     ["/steps/0/when"]),
    ("when-syntax", with_steps({"id": "a", "type": "noop", "when": "(input.a > 0"}),
     ["/steps/0/when"]),
    ("output-unknown-step", with_steps({"id": "a", "type": "noop"},
                                       output={"r": "{{steps.nope.output}}"}),
     ["/output/r"]),
    ("transform-without-output", with_steps({"id": "t", "type": "transform"}), ["/steps/0/output"]),
    ("delay-without-ms", with_steps({"id": "d", "type": "delay"}), ["/steps/0/ms"]),
    ("delay-negative", with_steps({"id": "d", "type": "delay", "ms": -1}), ["/steps/0/ms"]),
    ("http-without-request", with_steps({"id": "h", "type": "http"}), ["/steps/0/request"]),
    ("http-bad-scheme", with_steps({"id": "h", "type": "http", "request": {"url": "ftp://x/y"}}),
     ["/steps/0/request/url"]),
    ("http-bad-method", with_steps({"id": "h", "type": "http",
                                    "request": {"url": "http://x/y", "method": "TRACE"}}),
     ["/steps/0/request/method"]),
    ("http-framing-header", with_steps({"id": "h", "type": "http",
                                        "request": {"url": "http://x/y",
                                                    "headers": {"Content-Length": "5"}}}),
     ["/steps/0/request/headers/Content-Length"]),
    ("step-timeout-zero", with_steps({"id": "a", "type": "noop", "timeout_ms": 0}),
     ["/steps/0/timeout_ms"]),
    ("run-timeout-too-long", with_steps({"id": "a", "type": "noop"},
                                        timeout_ms=365 * 86_400_000 + 1), ["/timeout_ms"]),
    ("unknown-key-did-you-mean", with_steps({"id": "a", "type": "noop"},
                                            {"id": "b", "type": "noop", "depend_on": ["a"]}),
     ["/steps/1/depend_on"]),
    ("unknown-top-level-key", with_steps({"id": "a", "type": "noop"}, stepz=[]), ["/stepz"]),
]


@pytest.mark.parametrize("definition,pointers", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_definition(server, definition, pointers):
    d = server
    errors = put_invalid(d, definition)
    assert fields(errors) == pointers, errors


def test_did_you_mean(server):
    errors = put_invalid(server, with_steps({"id": "a", "type": "noop"},
                                                   {"id": "b", "type": "noop", "depend_on": ["a"]}))
    assert "depends_on" in errors[0]["message"], errors


def test_missing_steps(server):
    errors = put_invalid(server, {"description": "no steps"})
    assert len(errors) == 1, errors
    # Reading: the pointer of a missing member is either the whole document ("") or where
    # the member would be ("/steps"); either way the message must name it.
    assert errors[0]["field"] in ("", "/steps"), errors
    assert "steps" in errors[0]["message"], errors


def test_not_an_object(server):
    errors = put_invalid(server, [VALID])
    assert fields(errors) == [""], errors


CYCLE_MSG = re.compile(r"cycle: ([A-Za-z0-9_-]+(?: -> [A-Za-z0-9_-]+)+)")


def _cycle_errors(errors):
    return [e for e in errors if "cycle" in e["message"]]


def _check_cycle(err, definition):
    """The message is a closed path "a -> b -> ... -> a" where each arrow is a dependency edge
    (b depends on a), and the pointer is the depends_on entry of the closing edge."""
    m = CYCLE_MSG.search(err["message"])
    assert m, f"cycle message does not name the steps as 'x -> y -> x': {err}"
    path = m.group(1).split(" -> ")
    assert path[0] == path[-1] and len(path) >= 3, err
    steps = {s["id"]: (i, s) for i, s in enumerate(definition["steps"])}
    for a, b in zip(path, path[1:]):
        assert a in steps[b][1].get("depends_on", []), f"{b} does not depend on {a}: {err}"
    last_from, last_to = path[-2], path[-1]
    idx, s = steps[last_to]
    assert err["field"] == f"/steps/{idx}/depends_on/{s['depends_on'].index(last_from)}", err
    return set(path)


def test_cycle_names_the_steps(server):
    defn = with_steps({"id": "alpha", "type": "noop", "depends_on": ["gamma"]},
                      {"id": "beta", "type": "noop", "depends_on": ["alpha"]},
                      {"id": "gamma", "type": "noop", "depends_on": ["beta"]},
                      {"id": "delta", "type": "noop", "depends_on": ["alpha"]})
    errors = put_invalid(server, defn)
    cyc = _cycle_errors(errors)
    assert len(cyc) == 1, errors  # once per cycle
    assert _check_cycle(cyc[0], defn) == {"alpha", "beta", "gamma"}
    assert "delta" not in cyc[0]["message"], cyc


def test_two_disjoint_cycles_reported_once_each(server):
    defn = with_steps({"id": "a", "type": "noop", "depends_on": ["b"]},
                      {"id": "b", "type": "noop", "depends_on": ["a"]},
                      {"id": "c", "type": "noop", "depends_on": ["d"]},
                      {"id": "d", "type": "noop", "depends_on": ["c"]},
                      {"id": "e", "type": "noop"})
    cyc = _cycle_errors(put_invalid(server, defn))
    assert len(cyc) == 2, cyc
    assert sorted(sorted(_check_cycle(e, defn)) for e in cyc) == [["a", "b"], ["c", "d"]]


RETRY_CASES = [
    # (id, workflow retry, step, expected pointers)
    ("max-attempts-0", None, {"id": "a", "type": "noop", "retry": {"max_attempts": 0}},
     ["/steps/0/retry/max_attempts"]),
    ("max-attempts-101", None, {"id": "a", "type": "noop", "retry": {"max_attempts": 101}},
     ["/steps/0/retry/max_attempts"]),
    ("max-attempts-string", None, {"id": "a", "type": "noop", "retry": {"max_attempts": "3"}},
     ["/steps/0/retry/max_attempts"]),
    ("max-attempts-fraction", None, {"id": "a", "type": "noop", "retry": {"max_attempts": 2.5}},
     ["/steps/0/retry/max_attempts"]),
    ("initial-0", None, {"id": "a", "type": "noop", "retry": {"initial_ms": 0}},
     ["/steps/0/retry/initial_ms"]),
    ("initial-too-big", None, {"id": "a", "type": "noop", "retry": {"initial_ms": 3_600_001}},
     ["/steps/0/retry/initial_ms"]),
    ("max-too-big", None, {"id": "a", "type": "noop", "retry": {"max_ms": 86_400_001}},
     ["/steps/0/retry/max_ms"]),
    # max_ms below the inherited initial_ms (built-in 100 ms)
    ("max-below-builtin-initial", None, {"id": "a", "type": "noop", "retry": {"max_ms": 50}},
     ["/steps/0/retry/max_ms"]),
    # initial_ms above the inherited max_ms (built-in 10 s)
    ("initial-above-builtin-max", None, {"id": "a", "type": "noop", "retry": {"initial_ms": 20_000}},
     ["/steps/0/retry/initial_ms"]),
    # max_ms below the workflow's initial_ms
    ("max-below-workflow-initial", {"initial_ms": 1000},
     {"id": "a", "type": "noop", "retry": {"max_ms": 500}}, ["/steps/0/retry/max_ms"]),
    ("multiplier-low", None, {"id": "a", "type": "noop", "retry": {"multiplier": 0.5}},
     ["/steps/0/retry/multiplier"]),
    ("multiplier-high", None, {"id": "a", "type": "noop", "retry": {"multiplier": 11}},
     ["/steps/0/retry/multiplier"]),
    ("jitter-negative", None, {"id": "a", "type": "noop", "retry": {"jitter": -0.1}},
     ["/steps/0/retry/jitter"]),
    ("jitter-above-1", None, {"id": "a", "type": "noop", "retry": {"jitter": 1.5}},
     ["/steps/0/retry/jitter"]),
    ("on-status-5xx", None, dict(HTTP, retry={"on_status": [429, 503]}),
     ["/steps/0/retry/on_status/1"]),
    ("on-status-on-noop", None, {"id": "a", "type": "noop", "retry": {"on_status": [429]}},
     ["/steps/0/retry/on_status"]),
    ("retry-typo", None, {"id": "a", "type": "noop", "retry": {"max_attemps": 3}},
     ["/steps/0/retry/max_attemps"]),
    ("workflow-level", {"max_attempts": 0}, {"id": "a", "type": "noop"}, ["/retry/max_attempts"]),
]


@pytest.mark.parametrize("wf_retry,stp,pointers", [c[1:] for c in RETRY_CASES],
                         ids=[c[0] for c in RETRY_CASES])
def test_bad_retry_values(server, wf_retry, stp, pointers):
    defn = {"steps": [stp]}
    if wf_retry is not None:
        defn["retry"] = wf_retry
    assert fields(put_invalid(server, defn)) == pointers


def test_valid_retry_boundaries_accepted(server):
    defn = {"retry": {"max_attempts": 100, "initial_ms": 1, "max_ms": 86_400_000,
                      "multiplier": 10, "jitter": 1, "on_status": [400, 499]},
            "steps": [dict(HTTP, retry={"max_attempts": 1, "initial_ms": 3_600_000,
                                        "multiplier": 1, "jitter": 0, "on_status": [429]})]}
    st, doc = put_workflow(server, "retry-bounds", defn)
    assert st == 201, doc


def test_every_problem_listed_and_sorted(server):
    steps = [{"id": f"s{i}", "type": "noop"} for i in range(12)]
    steps[2]["type"] = "bogus"
    steps[10]["type"] = "bogus"
    steps[5]["depends_on"] = ["missing"]
    defn = {"retry": {"max_attempts": 0}, "steps": steps}
    # numeric tokens compare as numbers: /steps/2 before /steps/5 before /steps/10
    assert fields(put_invalid(server, defn)) == [
        "/retry/max_attempts", "/steps/2/type", "/steps/5/depends_on/0", "/steps/10/type"]


def test_many_errors_capped(server):
    steps = [{"id": f"s{i}", "type": "noop", f"junk{i}": 1} for i in range(300)]
    r = put_workflow(server, "many", {"steps": steps})
    errors = validation_errors(r)
    assert len(errors) == 100, len(errors)  # at most 100 kept
    got = fields(errors)
    assert all(re.fullmatch(r"/steps/(\d+)/junk\1", f) for f in got), got
    nums = [int(f.split("/")[2]) for f in got]
    assert nums == sorted(nums) and len(set(nums)) == 100, nums
    assert len(r.resp.body) < 64 * 1024, len(r.resp.body)


# --------------------------------------------------------------------------
# Size and content type
# --------------------------------------------------------------------------


def _padded(total: int) -> bytes:
    """A valid definition of exactly `total` bytes (padding in the description)."""
    base = json.dumps({"description": "", "steps": [{"id": "a", "type": "noop"}]}).encode()
    pad = total - len(base)
    assert pad >= 0
    text = json.dumps({"description": "x" * pad, "steps": [{"id": "a", "type": "noop"}]}).encode()
    assert len(text) == total
    return text


def test_definition_of_exactly_1mib_accepted(launch):
    d = launch()
    st, doc = put_workflow(d, "big", _padded(1 << 20), timeout=30)
    assert st == 201, doc


def test_over_1mib_is_413(launch):
    d = launch()
    assert_error(put_workflow(d, "big", _padded((1 << 20) + 1), timeout=30), 413, ERR_TOO_LARGE)
    assert get_workflow(d, "big")[0] == 404


def test_over_1mib_is_413_even_with_larger_max_body(launch):
    # The 1 MiB bound belongs to definitions, not just to --max-body.
    d = launch("--max-body", "4MiB")
    assert_error(put_workflow(d, "big", _padded((1 << 20) + 1), timeout=30), 413, ERR_TOO_LARGE)
    assert_error(put_workflow(d, "big", _padded(3 << 20), timeout=30), 413, ERR_TOO_LARGE)
    assert get_workflow(d, "big")[0] == 404
    assert put_workflow(d, "big", _padded(1 << 20), timeout=30)[0] == 201


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonx", None])
def test_wrong_content_type_415(server, ctype):
    r = call(server, "PUT", "/v1/workflows/ctype", json.dumps(VALID), content_type=ctype)
    assert_error(r, 415, ERR_UNSUPPORTED_MEDIA)
    assert get_workflow(server, "ctype")[0] == 404


def test_json_content_type_with_parameters_accepted(server):
    r = call(server, "PUT", "/v1/workflows/ctype-ok", json.dumps(VALID),
             content_type="application/json; charset=utf-8")
    assert r.status == 201, r


def test_definition_round_trip_keeps_everything(server):
    defn = {"name": "full", "description": "all fields", "timeout_ms": 600000,
            "retry": {"max_attempts": 3, "initial_ms": 100, "max_ms": 10000, "multiplier": 2,
                      "jitter": 0.2},
            "output": {"order": "{{steps.reserve.output.body.id}}"},
            "steps": [{"id": "reserve", "type": "http", "depends_on": [],
                       "when": "{{input.amount}} > 0",
                       "request": {"method": "POST", "url": "http://127.0.0.1:9000/reserve",
                                   "headers": {"X-A": "{{input.a}}"},
                                   "body": {"order": "{{input.order_id}}"},
                                   "connect_timeout_ms": 1000},
                       "retry": {"max_attempts": 5, "on_status": [429]}, "timeout_ms": 2000}]}
    st, doc = put_workflow(server, "full", defn)
    assert st == 201, doc
    st, doc = get_workflow(server, "full")
    assert st == 200 and doc["definition"] == copy.deepcopy(defn), doc
