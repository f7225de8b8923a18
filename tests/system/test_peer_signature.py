"""Requests signed with the cluster's secret (X-Ringflow-Peer, src/auth/peer_signature.h; the
secret is the one row of cluster_secret, migration 0014) are admitted with --auth on as the
principal "peer" (every namespace, the operator role: read, start, cancel, never more). A
signature that is forged, stale, made with another secret, or replayed onto another request is
401 (counted as rf_auth_failures_total{reason="bad_peer_signature"}) and does nothing.
PostgreSQL only: the embedded store has no cluster and no secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

import rfclient
from conftest import store_under_test
from engine_client import call
from test_auth import ADMIN, api
from test_pg_store import fresh_db, launch_pg

pytestmark = pytest.mark.skipif(store_under_test() != "postgres", reason="the cluster's secret is in PostgreSQL")

START = "/v1/workflows/w/runs"
BODY = json.dumps({"input": {"n": 1}}).encode()


def sign(secret: str, method: str, target: str, key: str, body: bytes, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    text = f"ringflow-peer-v1\n{at}\n{method}\n{target}\n{key}\n{hashlib.sha256(body).hexdigest()}"
    return f"{at}.{hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()}"


def signed(d, method: str, target: str, sig: str, body: bytes = b"", key: str = ""):
    headers = {"X-Ringflow-Peer": sig}
    if key:
        headers["Idempotency-Key"] = key
    return call(d, method, target, body if body or method != "GET" else None, headers=headers)


def bad_signatures(d) -> float:
    return rfclient.metric_sum(rfclient.scrape(d.port), "rf_auth_failures_total", reason="bad_peer_signature")


@pytest.fixture
def daemon(launch, pg):
    db, url = fresh_db(pg)
    d = launch_pg(launch, url, "--migrate", "true", "--auth", "on", env={"RINGFLOW_ADMIN_KEY": ADMIN})
    secret = pg.psql("SELECT secret FROM cluster_secret;", db=db).strip()
    assert len(secret) == 64, secret  # hex SHA-256, made by the migration
    resp, doc = api(d, "PUT", "/v1/workflows/w", ADMIN, {"steps": [{"id": "ok", "type": "approval"}]})
    assert resp.status == 201, doc
    return d, secret


def test_a_request_signed_with_the_clusters_secret_is_admitted_as_the_peer(daemon):
    d, secret = daemon
    st, run = signed(d, "POST", START, sign(secret, "POST", START, "k1", BODY), BODY, "k1")
    assert st == 201, run
    # The same signed request again is the same start (its Idempotency-Key is signed too).
    st, again = signed(d, "POST", START, sign(secret, "POST", START, "k1", BODY), BODY, "k1")
    assert st == 200 and again["id"] == run["id"], again
    path = f"/v1/runs/{run['id']}"
    st, doc = signed(d, "GET", path, sign(secret, "GET", path, "", b""))
    assert st == 200 and doc["status"] == "waiting", doc
    cancel = path + "/cancel"
    st, doc = signed(d, "POST", cancel, sign(secret, "POST", cancel, "", b""))
    assert st == 200 and doc["status"] == "cancelled", doc
    # The operator role, no more: definitions, keys and secrets are not the peer's.
    put = b'{"steps":[{"id":"a","type":"noop"}]}'
    st, doc = signed(d, "PUT", "/v1/workflows/x", sign(secret, "PUT", "/v1/workflows/x", "", put), put)
    assert st == 403 and doc["error"]["code"] == "forbidden", doc
    st, doc = signed(d, "GET", "/v1/keys", sign(secret, "GET", "/v1/keys", "", b""))
    assert st == 403, doc
    assert bad_signatures(d) == 0


@pytest.mark.parametrize("case", ["other_secret", "stale", "future", "other_path", "other_body",
                                  "other_key", "other_method", "not_a_signature", "no_date"])
def test_a_bad_peer_signature_is_401_and_starts_nothing(daemon, case):
    d, secret = daemon
    now = int(time.time())
    body, key, target = BODY, "k2", START
    sig = sign(secret, "POST", START, key, BODY)
    if case == "other_secret":
        sig = sign("f" * 64, "POST", START, key, BODY)
    elif case == "stale":
        sig = sign(secret, "POST", START, key, BODY, at=now - 400)
    elif case == "future":
        sig = sign(secret, "POST", START, key, BODY, at=now + 400)
    elif case == "other_path":
        target = "/v1/namespaces/other/workflows/w/runs"
    elif case == "other_body":
        body = json.dumps({"input": {"n": 2}}).encode()
    elif case == "other_key":
        key = "k3"
    elif case == "other_method":
        sig = sign(secret, "PUT", START, key, BODY)
    elif case == "not_a_signature":
        sig = "hello"
    elif case == "no_date":
        sig = sig[sig.index("."):]
    st, doc = signed(d, "POST", target, sig, body, key)
    assert st == 401 and doc["error"]["code"] == "unauthenticated", (st, doc)
    assert "X-Ringflow-Peer" in doc["error"]["message"], doc
    assert bad_signatures(d) == 1
    resp, page = api(d, "GET", "/v1/runs?workflow=w", ADMIN)
    assert resp.status == 200 and page["runs"] == [], page
