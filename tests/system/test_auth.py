"""Authentication, roles and HTTP hygiene against the real daemon (issue 12, deliverables 1, 2, 7).

Invariants checked here:
- With --auth on, every route but /health/* (and /metrics unless --metrics-auth on) needs a
  credential: none or a bad one is 401 with `WWW-Authenticate: Bearer` and the one error shape;
  a valid one without the right is 403 `forbidden`. The whole endpoint x role matrix of
  src/api/README.md is walked, for every route the daemon documents (a new route without an
  entry in ROUTE_ACCESS fails the walk).
- API keys are shown once, listed without secrets, stored hashed, expire, and a revoked key is
  refused on every shard at once (connections held open on both shards before the revocation).
- Keys survive a restart (embedded journal dir; PostgreSQL with RINGFLOW_TEST_STORE=postgres).
- JWTs: HS256 with a secret file, RS256 and ES256 with a JWKS file made here with the openssl
  CLI; wrong signature, alg none, alg/key mismatch, expired, nbf in the future, wrong issuer and
  audience, bad role are 401; a SIGHUP reloads the JWKS.
- Mutations without Content-Type: application/json are 415 (CSRF), --allowed-hosts is 421.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import rfclient
from engine_client import assert_error, data_dir, relaunch, request, term, wait_until

ADMIN = "bootstrap-admin-key-0123456789"
SECRET = "an-hs256-secret-of-at-least-32-bytes!!"
ISS = "https://issuer.test"
AUD = "ringflow-test"


def api(d, method, path, token=None, body=None, ctype="application/json", headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if ctype is not None and method in ("POST", "PUT", "DELETE", "PATCH"):
        h.setdefault("Content-Type", ctype)
    resp = request(d, method, path, body=body, headers=h, content_type=ctype)
    try:
        doc = json.loads(resp.body) if resp.body else None
    except ValueError:
        doc = None
    return resp, doc


def assert_401(resp):
    err = rfclient.assert_json_error(resp, 401)["error"]
    assert err["code"] == "unauthenticated", err
    assert (resp.header("WWW-Authenticate") or "").startswith("Bearer"), resp
    return err


def assert_403(resp):
    err = rfclient.assert_json_error(resp, 403)["error"]
    assert err["code"] == "forbidden", err
    return err


def make_key(d, role, ns="default", name=None, expires_in=None, token=ADMIN):
    body = {"name": name or f"{role}-key", "role": role, "namespace": ns}
    if expires_in:
        body["expires_in"] = expires_in
    resp, doc = api(d, "POST", "/v1/keys", ADMIN if token is None else token, body)
    assert resp.status == 201, resp
    assert doc["key"].startswith("rfk_" + doc["id"] + "_"), doc
    return doc


@pytest.fixture
def authd(launch):
    return launch("--auth", "on", env={"RINGFLOW_ADMIN_KEY": ADMIN})


# --------------------------------------------------------------------------
# No credential, bad credential, open routes
# --------------------------------------------------------------------------


def test_missing_and_bad_credentials_are_401_with_www_authenticate(authd):
    assert_401(api(authd, "GET", "/v1/workflows")[0])
    err = assert_401(api(authd, "GET", "/v1/runs", token="rfk_0000000000000000_nope")[0])
    assert "unknown" in err["message"]
    resp, _ = api(authd, "GET", "/v1/workflows", headers={"Authorization": f"Basic {ADMIN}"})
    assert_401(resp)
    assert "invalid_token" in resp.header("WWW-Authenticate")
    # The bootstrap key works, under any case of the scheme.
    assert api(authd, "GET", "/v1/workflows", headers={"Authorization": f"bEaReR {ADMIN}"})[0].status == 200


def test_health_is_open_and_metrics_open_unless_metrics_auth(authd, launch):
    for path in ("/health", "/health/live", "/health/ready"):
        assert api(authd, "GET", path)[0].status == 200, path
    assert api(authd, "GET", "/metrics")[0].status == 200
    locked = launch("--auth", "on", "--metrics-auth", "on", env={"RINGFLOW_ADMIN_KEY": ADMIN})
    assert_401(api(locked, "GET", "/metrics")[0])
    viewer = make_key(locked, "viewer")["key"]
    assert api(locked, "GET", "/metrics", token=viewer)[0].status == 200
    assert api(locked, "GET", "/health/ready")[0].status == 200


def test_auth_off_on_loopback_is_logged(launch):
    d = launch()  # --listen 127.0.0.1:PORT, --auth auto
    assert api(d, "GET", "/v1/workflows")[0].status == 200
    assert any("authentication is off" in r.get("msg", "") for r in d.log_records())


def test_auth_auto_stays_off_on_other_loopback_addresses(rf_bin, tmp_path):
    port = rfclient.free_port()
    d = rfclient.Daemon(rf_bin, tmp_path / "lo2", ["serve", "--listen", f"127.0.0.2:{port}",
                        "--shards", "1", "--data-dir", str(tmp_path / "lo2" / "data")], port)
    d.start()
    try:
        def get():
            c = rfclient.Conn(port, host="127.0.0.2")
            try:
                c.request("GET", "/v1/workflows")
                return c.read_response().status
            finally:
                c.close()
        wait_until(lambda: d.alive() and "engine ready" in d.log_text(), 10, what="ready")
        assert get() == 200  # no credential needed
        assert "authentication is off" in d.log_text()
    finally:
        d.stop()


def test_auth_auto_is_on_for_a_wildcard_listen(rf_bin, tmp_path):
    port = rfclient.free_port()
    d = rfclient.Daemon(rf_bin, tmp_path / "any", ["serve", "--listen", f"0.0.0.0:{port}",
                        "--shards", "1", "--data-dir", str(tmp_path / "any" / "data")], port,
                        env={"RINGFLOW_ADMIN_KEY": ADMIN})
    d.start()
    try:
        d.wait_ready(10)
        assert_401(api(d, "GET", "/v1/workflows")[0])
        assert api(d, "GET", "/v1/workflows", token=ADMIN)[0].status == 200
    finally:
        assert d.stop() == 0


def test_bad_auth_settings_exit_with_a_message(rf_bin, tmp_path):
    def run(*args, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("RINGFLOW_")}
        e.update(env or {})
        return subprocess.run([str(rf_bin), "serve", "--listen", "127.0.0.1:0", "--shards", "1",
                               "--data-dir", str(tmp_path / "bad"), *args], env=e,
                              capture_output=True, text=True, timeout=20)
    r = run("--auth", "maybe")
    assert r.returncode == 2 and "auth" in r.stderr
    r = run(env={"RINGFLOW_ADMIN_KEY": "short"})
    assert r.returncode == 2 and "admin key" in r.stderr
    (tmp_path / "weak").write_text("tooshort\n")
    r = run("--jwt-secret-file", str(tmp_path / "weak"))
    assert r.returncode == 2 and "32 bytes" in r.stderr
    (tmp_path / "jwks.json").write_text('{"keys":[{"kty":"oct","k":"AAAA"}]}')
    r = run("--jwks-file", str(tmp_path / "jwks.json"))
    assert r.returncode == 2 and "kty" in r.stderr


# --------------------------------------------------------------------------
# API keys
# --------------------------------------------------------------------------


def test_key_is_shown_once_listed_without_secret_and_stored_hashed(authd):
    made = make_key(authd, "developer", name="ci")
    assert made["role"] == "developer" and made["namespace"] == "default" and made["expires_ms"] is None
    resp, doc = api(authd, "GET", "/v1/keys", ADMIN)
    assert resp.status == 200
    listed = [k for k in doc["keys"] if k["id"] == made["id"]]
    assert listed and "key" not in listed[0] and "sha256" not in listed[0], doc
    assert made["key"] not in resp.body.decode()
    assert made["key"] not in authd.log_text() and ADMIN not in authd.log_text()
    stored = (Path(data_dir(authd)) / "keys.json")
    if stored.exists():  # embedded store: the file keeps the hash only
        text = stored.read_text()
        assert made["key"] not in text
        assert hashlib.sha256(made["key"].encode()).hexdigest() in text
    assert api(authd, "GET", "/v1/workflows", made["key"])[0].status == 200


def test_key_creation_rejects_bad_input(authd):
    for body, field in [({"role": "viewer"}, "/name"), ({"name": "x"}, "/role"),
                        ({"name": "x", "role": "root"}, "/role"),
                        ({"name": "x", "role": "viewer", "expires_in": "soon"}, "/expires_in"),
                        ({"name": "x", "role": "viewer", "colour": "red"}, "/colour"),
                        ({"name": 5, "role": "viewer"}, "/name")]:
        resp, _ = api(authd, "POST", "/v1/keys", ADMIN, body)
        assert_error(resp, 400, "invalid_argument", field)
    resp, _ = api(authd, "POST", "/v1/keys", ADMIN, {"name": "x", "role": "viewer", "namespace": "Bad NS"})
    assert_error(resp, 400, "invalid_argument")
    resp, _ = api(authd, "POST", "/v1/keys", ADMIN, "[1]")
    assert_error(resp, 400, "invalid_argument")
    assert_error(api(authd, "DELETE", "/v1/keys/0000000000000000", ADMIN)[0], 404, "key_not_found")
    assert_error(api(authd, "DELETE", "/v1/keys/bootstrap", ADMIN)[0], 409, "conflict")


def test_revoked_key_is_refused_on_every_shard_at_once(authd):
    key = make_key(authd, "viewer")
    # Connections are spread over the shards by the kernel (SO_REUSEPORT); 16 of them reach
    # both shards of this daemon but with a chance of 2^-15. Each is bound to its shard.
    conns = [rfclient.Conn(authd.port) for _ in range(16)]
    try:
        for c in conns:
            c.request("GET", "/v1/workflows", {"Authorization": f"Bearer {key['key']}"})
            r = c.read_response()
            assert r.status == 200, r
        resp, doc = api(authd, "DELETE", f"/v1/keys/{key['id']}", ADMIN)
        assert resp.status == 200 and doc == {"id": key["id"], "revoked": True}, resp
        for c in conns:
            c.request("GET", "/v1/workflows", {"Authorization": f"Bearer {key['key']}"})
            assert_401(c.read_response())
    finally:
        for c in conns:
            c.close()
    assert all(k["id"] != key["id"] for k in api(authd, "GET", "/v1/keys", ADMIN)[1]["keys"])
    assert_error(api(authd, "DELETE", f"/v1/keys/{key['id']}", ADMIN)[0], 404, "key_not_found")


def test_key_expires(authd):
    key = make_key(authd, "viewer", expires_in="2s")
    assert key["expires_ms"] > key["created_ms"]
    assert api(authd, "GET", "/v1/workflows", key["key"])[0].status == 200
    wait_until(lambda: api(authd, "GET", "/v1/workflows", key["key"])[0].status == 401, 10,
               what="the key to expire")
    err = assert_401(api(authd, "GET", "/v1/workflows", key["key"])[0])
    assert "expired" in err["message"]
    listed = [k for k in api(authd, "GET", "/v1/keys", ADMIN)[1]["keys"] if k["id"] == key["id"]]
    assert listed[0]["expired"] is True


def test_keys_survive_a_restart_and_revocations_too(authd, launch):
    kept = make_key(authd, "operator")
    gone = make_key(authd, "viewer")
    assert api(authd, "DELETE", f"/v1/keys/{gone['id']}", ADMIN)[0].status == 200
    term(authd)
    d2 = relaunch(launch, authd, "--auth", "on", env={"RINGFLOW_ADMIN_KEY": ADMIN})
    assert api(d2, "GET", "/v1/workflows", kept["key"])[0].status == 200
    assert_401(api(d2, "GET", "/v1/workflows", gone["key"])[0])
    ids = [k["id"] for k in api(d2, "GET", "/v1/keys", ADMIN)[1]["keys"]]
    assert kept["id"] in ids and gone["id"] not in ids


def test_namespace_admin_manages_only_its_namespace(authd):
    team = make_key(authd, "admin", ns="team-a")["key"]
    # A team-a admin acts in team-a only: the current /v1 paths are namespace "default".
    assert_403(api(authd, "GET", "/v1/workflows", team)[0])
    default_admin = make_key(authd, "admin")["key"]
    resp, _ = api(authd, "POST", "/v1/keys", default_admin, {"name": "x", "role": "viewer", "namespace": "team-a"})
    assert_403(resp)
    resp, _ = api(authd, "POST", "/v1/keys", default_admin, {"name": "x", "role": "admin", "namespace": "*"})
    assert_403(resp)
    mine = make_key(authd, "viewer", token=default_admin)
    listed = api(authd, "GET", "/v1/keys", default_admin)[1]["keys"]
    assert {k["namespace"] for k in listed} == {"default"}, listed  # not "*", not "team-a"
    assert mine["id"] in [k["id"] for k in listed]
    assert_error(api(authd, "DELETE", "/v1/keys/bootstrap", default_admin)[0], 404, "key_not_found")


# --------------------------------------------------------------------------
# The endpoint x role matrix (src/api/README.md)
# --------------------------------------------------------------------------

# (method, path) -> who may: "open", "metrics" (open unless --metrics-auth), or the set of roles.
ALL = {"admin", "operator", "developer", "viewer"}
RUNNERS = {"admin", "operator", "developer"}
ROUTE_ACCESS = {
    ("GET", "/health"): "open",
    ("GET", "/health/live"): "open",
    ("GET", "/health/ready"): "open",
    ("GET", "/metrics"): "metrics",
    ("GET", "/v1/openapi.json"): ALL,
    ("GET", "/v1/workflows"): ALL,
    ("GET", "/v1/workflows/{name}"): ALL,
    ("GET", "/v1/workflows/{name}/concurrency"): ALL,
    ("PUT", "/v1/workflows/{name}"): {"admin", "developer"},
    ("DELETE", "/v1/workflows/{name}"): {"admin", "developer"},
    ("POST", "/v1/workflows/{name}/runs"): RUNNERS,
    ("GET", "/v1/runs"): ALL,
    ("GET", "/v1/runs/{id}"): ALL,
    ("POST", "/v1/runs/{id}/cancel"): RUNNERS,
    ("POST", "/v1/runs/{id}/signals/{signal}"): RUNNERS,
    ("POST", "/v1/runs/{id}/retry"): RUNNERS,
    ("GET", "/v1/dead-letter"): ALL,
    ("GET", "/v1/runs/{id}/events"): ALL,
    ("GET", "/v1/events"): ALL,
    ("POST", "/v1/events/{type}"): RUNNERS,
    ("POST", "/v1/keys"): {"admin"},
    ("GET", "/v1/keys"): {"admin"},
    ("DELETE", "/v1/keys/{id}"): {"admin"},
    ("GET", "/v1/breakers"): ALL,
    ("GET", "/v1/slo"): ALL,
    ("PUT", "/v1/secrets/{name}"): {"admin", "developer"},
    ("DELETE", "/v1/secrets/{name}"): {"admin", "developer"},
    ("GET", "/v1/secrets"): {"admin", "developer"},
    ("PUT", "/v1/namespaces/{ns}/secrets/{name}"): {"admin", "developer"},
    ("DELETE", "/v1/namespaces/{ns}/secrets/{name}"): {"admin", "developer"},
    ("GET", "/v1/namespaces/{ns}/secrets"): {"admin", "developer"},
    ("GET", "/v1/schedules"): ALL,
    ("GET", "/v1/schedules/{name}"): ALL,
    ("PUT", "/v1/schedules/{name}"): {"admin", "developer"},
    ("DELETE", "/v1/schedules/{name}"): {"admin", "developer"},
    ("POST", "/v1/schedules/{name}/pause"): {"admin", "developer"},
    ("POST", "/v1/schedules/{name}/resume"): {"admin", "developer"},
    ("GET", "/v1/audit"): {"admin"},
    ("GET", "/v1/namespaces/{ns}/audit"): {"admin"},
    ("POST", "/v1/operations"): RUNNERS,
    ("GET", "/v1/operations"): ALL,
    ("GET", "/v1/operations/{id}"): ALL,
    ("POST", "/v1/operations/{id}/cancel"): RUNNERS,
    ("GET", "/ui"): "open",
    ("GET", "/ui/"): "open",
    ("GET", "/ui/{file}"): "open",
}
OPEN_STATUS = {"/ui": 301}  # open routes answer 200, but for these

# Requests that reach the handler but change nothing lasting and never stream: a workflow
# that does not exist, a malformed run id, a missing query parameter, a key that is not there.
CONCRETE = {"{ns}": "default", "{type}": "no.such.event", "{name}": "no-such-workflow", "{id}": "not-a-run-id", "{signal}": "ok", "{file}": "app.js"}
QUERY = {"/v1/events": "", "/v1/keys/{id}": ""}
BODY = {("PUT", "/v1/workflows/{name}"): "{}", ("POST", "/v1/keys"): "{}", ("PUT", "/v1/schedules/{name}"): "{}",
        ("PUT", "/v1/secrets/{name}"): "{}", ("PUT", "/v1/namespaces/{ns}/secrets/{name}"): "{}",
        ("POST", "/v1/operations"): "{}"}


def unscoped(path: str) -> str:
    """/v1/namespaces/{ns}/X needs what /v1/X needs (in the namespace named)."""
    prefix = "/v1/namespaces/{ns}/"
    return "/v1/" + path[len(prefix):] if path.startswith(prefix) else path


def documented_routes(d):
    doc = json.loads(api(d, "GET", "/v1/openapi.json", ADMIN)[0].body)
    out = []
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "put", "post", "delete", "patch"):
                out.append((method.upper(), path))
    return out


def test_every_route_times_every_role_and_no_credential(authd):
    routes = documented_routes(authd)
    missing = [(m, p) for m, p in routes if (m, unscoped(p)) not in ROUTE_ACCESS]
    assert not missing, f"routes without an entry in the matrix (and src/api/README.md): {missing}"
    tokens = {role: make_key(authd, role)["key"] for role in ALL}
    tokens["other-namespace admin"] = make_key(authd, "admin", ns="elsewhere")["key"]
    tokens[None] = None
    walked = 0
    for method, path in routes:
        target = path
        for k, v in CONCRETE.items():
            target = target.replace(k, v)
        body = BODY.get((method, unscoped(path)))
        for who, token in tokens.items():
            resp, _ = api(authd, method, target, token, body=body)
            rule = ROUTE_ACCESS[(method, unscoped(path))]
            what = f"{method} {target} as {who}: {resp!r}"
            if rule in ("open", "metrics"):
                assert resp.status == OPEN_STATUS.get(path, 200), what
            elif token is None:
                assert_401(resp)
            elif who == "other-namespace admin" or who not in rule:
                assert resp.status == 403, what
                assert_403(resp)
            else:
                assert resp.status not in (401, 403), what
            walked += 1
    assert walked == len(routes) * len(tokens)


# --------------------------------------------------------------------------
# JWTs
# --------------------------------------------------------------------------


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def claims(**over):
    now = int(time.time())
    c = {"sub": "alice", "iss": ISS, "aud": AUD, "exp": now + 600, "nbf": now - 10,
         "role": "developer", "ns": "default"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def jwt_hs256(payload, secret=SECRET, header=None):
    h = header or {"alg": "HS256", "typ": "JWT"}
    signing = f"{b64u(json.dumps(h).encode())}.{b64u(json.dumps(payload).encode())}"
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64u(sig)}"


def openssl(*args, input=None) -> bytes:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=True).stdout


def der_to_raw_ecdsa(der: bytes) -> bytes:
    # SEQUENCE { INTEGER r, INTEGER s } -> r || s, 32 bytes each.
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(32, b"\0")
        i += 2 + n
    return out


class KeyPair:
    """A signing key made with the openssl CLI, its JWK, and a signer."""

    def __init__(self, tmp: Path, kind: str, kid: str):
        self.kid, self.kind = kid, kind
        self.pem = tmp / f"{kid}.pem"
        if kind == "RS256":
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(self.pem))
            modulus = openssl("rsa", "-in", str(self.pem), "-noout", "-modulus").decode().strip()
            n = bytes.fromhex(modulus.split("=", 1)[1])
            self.jwk = {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64u(n), "e": "AQAB"}
        else:
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(self.pem))
            der = openssl("pkey", "-in", str(self.pem), "-pubout", "-outform", "DER")
            point = der[-65:]
            assert point[0] == 4
            self.jwk = {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64u(point[1:33]), "y": b64u(point[33:])}

    def sign(self, payload, header=None) -> str:
        h = header or {"alg": self.kind, "typ": "JWT", "kid": self.kid}
        signing = f"{b64u(json.dumps(h).encode())}.{b64u(json.dumps(payload).encode())}".encode()
        sig = openssl("dgst", "-sha256", "-sign", str(self.pem), input=signing)
        if self.kind == "ES256":
            sig = der_to_raw_ecdsa(sig)
        return f"{signing.decode()}.{b64u(sig)}"


@pytest.fixture(scope="module")
def keypairs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jwk")
    return {"rsa": KeyPair(tmp, "RS256", "rsa-1"), "ec": KeyPair(tmp, "ES256", "ec-1"),
            "rsa2": KeyPair(tmp, "RS256", "rsa-2")}


@pytest.fixture
def jwtd(launch, tmp_path, keypairs):
    (tmp_path / "secret").write_text(SECRET + "\n")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [keypairs["rsa"].jwk, keypairs["ec"].jwk]}))
    d = launch("--auth", "on", "--jwt-secret-file", str(tmp_path / "secret"), "--jwks-file", str(jwks),
               "--jwt-issuer", ISS, "--jwt-audience", AUD, env={"RINGFLOW_ADMIN_KEY": ADMIN})
    d.jwks = jwks
    return d


def status_with(d, token, method="GET", path="/v1/workflows"):
    return api(d, method, path, token, body="{}" if method == "PUT" else None)[0]


def test_jwt_hs256_rs256_es256_are_accepted(jwtd, keypairs):
    for token in (jwt_hs256(claims()), keypairs["rsa"].sign(claims()), keypairs["ec"].sign(claims())):
        assert status_with(jwtd, token).status == 200
        # developer: may register workflows
        assert status_with(jwtd, token, "PUT", "/v1/workflows/jwt-wf").status not in (401, 403)
    viewer = jwt_hs256(claims(role="viewer"))
    assert_403(status_with(jwtd, viewer, "PUT", "/v1/workflows/jwt-wf"))
    assert_403(status_with(jwtd, jwt_hs256(claims(ns="team-b"))))
    # aud may be a list; ns defaults to "default"
    assert status_with(jwtd, jwt_hs256(claims(aud=["other", AUD], ns=None))).status == 200


@pytest.mark.parametrize("case", ["wrong_signature", "alg_none", "alg_mismatch", "hs256_with_public_key",
                                  "expired", "nbf_future", "wrong_audience", "wrong_issuer",
                                  "no_exp", "bad_role", "unknown_kid", "garbage"])
def test_bad_jwts_are_401(jwtd, keypairs, case):
    c = claims()
    token = {
        "wrong_signature": lambda: jwt_hs256(c, secret="x" * 40),
        "alg_none": lambda: jwt_hs256(c, header={"alg": "none"}).rsplit(".", 1)[0] + ".",
        "alg_mismatch": lambda: keypairs["ec"].sign(c, header={"alg": "RS256", "kid": "ec-1"}),
        "hs256_with_public_key": lambda: jwt_hs256(c, secret=json.dumps(keypairs["rsa"].jwk),
                                                   header={"alg": "HS256", "kid": "rsa-1"}),
        "expired": lambda: jwt_hs256(claims(exp=int(time.time()) - 3600)),
        "nbf_future": lambda: jwt_hs256(claims(nbf=int(time.time()) + 3600)),
        "wrong_audience": lambda: jwt_hs256(claims(aud="someone-else")),
        "wrong_issuer": lambda: jwt_hs256(claims(iss="https://evil.test")),
        "no_exp": lambda: jwt_hs256(claims(exp=None)),
        "bad_role": lambda: jwt_hs256(claims(role="root")),
        "unknown_kid": lambda: keypairs["rsa2"].sign(c),
        "garbage": lambda: "a.b.c",
    }[case]()
    assert_401(status_with(jwtd, token))
    text = api(jwtd, "GET", "/metrics")[0].body.decode()
    assert 'rf_auth_failures_total{reason="jwt_' in text


def test_jwt_cache_and_metrics(jwtd):
    token = jwt_hs256(claims())
    for _ in range(5):
        assert status_with(jwtd, token).status == 200
    samples = rfclient.scrape(jwtd.port)
    assert rfclient.metric_sum(samples, "rf_auth_jwt_cache_lookups_total", result="hit") >= 3
    assert rfclient.metric_sum(samples, "rf_auth_jwt_cache_entries") >= 1
    assert_401(status_with(jwtd, None))
    samples = rfclient.scrape(jwtd.port)
    assert rfclient.metric_sum(samples, "rf_auth_failures_total", reason="missing") >= 1
    assert rfclient.metric_sum(samples, "rf_auth_api_keys") == 1  # the bootstrap key


def test_sighup_reloads_the_jwks(jwtd, keypairs):
    old, new = keypairs["rsa"].sign(claims()), keypairs["rsa2"].sign(claims())
    assert status_with(jwtd, old).status == 200  # now cached
    assert_401(status_with(jwtd, new))
    jwtd.jwks.write_text(json.dumps({"keys": [keypairs["rsa2"].jwk]}))
    jwtd.signal(signal.SIGHUP)
    wait_until(lambda: status_with(jwtd, new).status == 200, 10, what="the new JWKS key to be accepted")
    assert_401(status_with(jwtd, old))  # withdrawn: the cache was emptied
    # A JWKS that does not parse keeps the keys in use.
    jwtd.jwks.write_text("{not json")
    jwtd.signal(signal.SIGHUP)
    wait_until(lambda: "cannot reload the JWKS" in jwtd.log_text(), 10, what="the reload error")
    assert status_with(jwtd, keypairs["rsa2"].sign(claims(sub="bob"))).status == 200
    assert jwtd.alive()


# --------------------------------------------------------------------------
# HTTP hygiene: content type of mutations, Host
# --------------------------------------------------------------------------


def test_csrf_style_posts_without_json_content_type_are_415(authd):
    operator = make_key(authd, "operator")["key"]
    for ctype in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        resp, _ = api(authd, "POST", "/v1/runs/not-a-run-id/cancel", operator, ctype=ctype)
        assert_error(resp, 415, "unsupported_media_type")
        resp, _ = api(authd, "POST", "/v1/workflows/x/runs", operator, body="", ctype=ctype)
        assert_error(resp, 415, "unsupported_media_type")
    # with the JSON type the request reaches the handler (400: not a run id)
    resp, _ = api(authd, "POST", "/v1/runs/not-a-run-id/cancel", operator)
    assert resp.status == 400, resp
    # without a credential the answer is 401 first
    assert_401(api(authd, "POST", "/v1/runs/not-a-run-id/cancel", None, ctype=None)[0])


def test_json_mutations_can_be_required_without_auth(launch):
    d = launch("--json-mutations", "on")
    assert_error(api(d, "DELETE", "/v1/workflows/x", ctype=None)[0], 415, "unsupported_media_type")
    assert api(d, "DELETE", "/v1/workflows/x")[0].status == 404
    default = launch()  # loopback, auth off: the old behaviour
    assert api(default, "DELETE", "/v1/workflows/x", ctype=None)[0].status == 404


def test_allowed_hosts_refuse_other_host_headers(launch):
    d = launch("--allowed-hosts", "localhost,ringflow.internal")
    for host, status in [("localhost", 200), (f"localhost:{d.port}", 200), ("RINGFLOW.internal", 200),
                         ("evil.example", 421), ("127.0.0.1", 421), (f"evil.example:{d.port}", 421)]:
        c = rfclient.Conn(d.port)
        try:
            c.send(f"GET /v1/workflows HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            r = c.read_response()
        finally:
            c.close()
        assert r.status == status, (host, r)
        if status == 421:
            rfclient.assert_json_error(r, 421)


# --------------------------------------------------------------------------
# Several daemons on one PostgreSQL database
# --------------------------------------------------------------------------


@pytest.mark.skipif(os.environ.get("RINGFLOW_TEST_STORE") != "postgres",
                    reason="needs RINGFLOW_TEST_STORE=postgres (a shared database)")
def test_keys_reach_other_daemons_on_the_same_database(launch, pg):
    db = "rf_auth_shared"
    if not pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}';").strip():
        pg.psql(f"CREATE DATABASE {db};")
    url = pg.url.rsplit("/", 1)[0] + "/" + db
    common = ["--auth", "on", "--store", "postgres", "--database-url", url, "--migrate", "true"]
    a = launch(*common, env={"RINGFLOW_ADMIN_KEY": ADMIN})
    # A standby: it holds no partition while `a` lives, so its starts are forwarded (below).
    b = launch(*common, "--standby", "true", env={"RINGFLOW_ADMIN_KEY": ADMIN})
    key = make_key(a, "viewer")
    # b reloads the table every 2 s: the key made on a is accepted there, then refused once revoked.
    wait_until(lambda: api(b, "GET", "/v1/workflows", key["key"])[0].status == 200, 10,
               what="the key made on one daemon to work on the other")
    assert api(a, "DELETE", f"/v1/keys/{key['id']}", ADMIN)[0].status == 200
    assert_401(api(a, "GET", "/v1/workflows", key["key"])[0])
    wait_until(lambda: api(b, "GET", "/v1/workflows", key["key"])[0].status == 401, 10,
               what="the revocation to reach the other daemon")
    rows = pg.psql(f"SELECT sha256, revoked_ms IS NOT NULL FROM api_keys WHERE id = '{key['id']}';", db=db)
    assert hashlib.sha256(key["key"].encode()).hexdigest() in rows and key["key"] not in rows
    assert rows.strip().endswith("|t"), rows  # revoked, the row kept
    # A standby forwards a request for a run the other daemon holds with the client's credential.
    wf = {"steps": [{"id": "a", "type": "noop"}]}
    assert api(a, "PUT", "/v1/workflows/fwd", ADMIN, wf)[0].status in (200, 201)
    dev = make_key(a, "developer")
    wait_until(lambda: api(b, "GET", "/v1/workflows", dev["key"])[0].status == 200, 10,
               what="the developer key on the standby")
    held_by_a = rfclient.metric_sum(rfclient.scrape(a.port), "rf_partitions_held")
    assert held_by_a > 0, "the first daemon should hold the partitions"
    wait_until(lambda: api(b, "GET", "/v1/workflows/fwd", dev["key"])[0].status == 200, 10,
               what="the workflow on the standby")
    resp, run = api(b, "POST", "/v1/workflows/fwd/runs", dev["key"], {})
    assert resp.status == 201, resp
    assert api(b, "GET", f"/v1/runs/{run['id']}", dev["key"])[0].status == 200
    assert_401(api(b, "GET", f"/v1/runs/{run['id']}")[0])
    assert rfclient.metric_sum(rfclient.scrape(b.port), "rf_forward_requests_total", outcome="ok") >= 1


def test_http2_requests_pass_the_same_checks(authd):
    """h2c (prior knowledge) goes through the same admission as HTTP/1.1: 401 without a
    credential, 403 for a role without the right, 415 for a mutation without a JSON type."""
    viewer = make_key(authd, "viewer")["key"]

    def curl(path, *extra):
        p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                            "%{http_version} %{http_code}", *extra, f"http://127.0.0.1:{authd.port}{path}"],
                           capture_output=True, text=True, timeout=20)
        version, code = p.stdout.split()
        assert version == "2", p.stdout
        return int(code)

    assert curl("/v1/workflows") == 401
    assert curl("/v1/workflows", "-H", f"Authorization: Bearer {viewer}") == 200
    assert curl("/v1/workflows/w", "-X", "PUT", "-H", f"Authorization: Bearer {viewer}",
                "-H", "Content-Type: application/json", "-d", "{}") == 403
    assert curl("/v1/workflows/w", "-X", "PUT", "-H", f"Authorization: Bearer {ADMIN}",
                "-d", '{"steps":[{"id":"a","type":"noop"}]}') == 415
    assert curl("/health/ready") == 200
