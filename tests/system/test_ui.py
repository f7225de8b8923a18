"""The web UI at /ui/: its files as the daemon serves them, and the pages in a real browser.

HTTP (no browser): /ui redirects to /ui/; every file index.html and the modules reference is
served with its type, a strong ETag (If-None-Match -> 304 without a body) and Cache-Control;
HEAD has GET's length; an unknown file is 404 in the API's one error shape; the scripts build
the page without HTML parsing (no innerHTML and the like) and the page admits only its own
scripts (Content-Security-Policy).

Browser: Debian's Chromium, headless, driven over the DevTools protocol (cdp.py). Each page
loads; a run started from the form shows its steps turn green live, fed by the run's event
stream, without a reload; the signal, cancel and dead-letter bulk retry buttons act on the
real daemon (checked through the API); the DAG is drawn in dependency layers; the pages work
by keyboard and fit a phone's width. Any browser console error, uncaught exception or failed
load fails the test. Screenshots at 1280x800 and 390x844 are kept in a temporary directory
whose path the test prints (or in $RINGFLOW_UI_ARTEFACTS). Skipped only when no Chromium is
installed (tools/setup.sh installs it).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from cdp import Browser, find_chromium
from engine_client import get_run, get_workflow, must_put, post, wait_status, wait_until, must_start
from rfclient import get, metric_sum, scrape

PHONE = (390, 844)
DESKTOP = (1280, 800)
GREEN = "rgb(21, 128, 61)"  # --ok in style.css (light scheme, which headless Chromium uses)

LIVE = {"steps": [
    {"id": "a", "type": "transform", "output": {"greeting": "hello {{input.name}}"}},
    {"id": "gate", "type": "approval", "depends_on": ["a"]},
    {"id": "side", "type": "noop", "depends_on": ["a"]},
    {"id": "pause", "type": "delay", "ms": 1500, "depends_on": ["gate"]},
    {"id": "done", "type": "noop", "depends_on": ["pause", "side"]},
]}
HOLD = {"steps": [{"id": "hold", "type": "approval"}]}
# Refused at once (nothing listens on port 1); one attempt, so the run fails.
FAIL = {"steps": [{"id": "call", "type": "http", "request": {"url": "http://127.0.0.1:1/"},
                   "retry": {"max_attempts": 1}}]}
XSS = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>"
ECHO = {"steps": [{"id": "echo", "type": "transform", "output": {"html": "{{input.html}}"}}]}


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

def referenced_files(port: int) -> dict[str, str]:
    """name -> body of index.html and every file it and the modules reference."""
    index = get(port, "/ui/").body.decode()
    todo = re.findall(r'(?:href|src)="([a-z0-9._-]+)"', index)
    seen = {"index.html": index}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        r = get(port, "/ui/" + name)
        assert r.status == 200, (name, r)
        seen[name] = r.body.decode()
        if name.endswith(".js"):
            todo += re.findall(r"from '\./([a-z0-9._-]+)'", seen[name])
    return seen


def test_redirect_index_and_files(server):
    r = get(server.port, "/ui")
    assert r.status == 301 and r.header("location") == "/ui/", r
    r = get(server.port, "/ui/")
    assert r.status == 200 and r.header("content-type") == "text/html; charset=utf-8", r
    assert r.body == get(server.port, "/ui/index.html").body
    policy = r.header("content-security-policy")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy, policy
    types = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
             ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
    files = referenced_files(server.port)
    assert {"app.js", "style.css", "run.js", "dag.js", "deadletter.js", "start.js"} <= set(files)
    for name in files:
        r = get(server.port, "/ui/" + name + "?v=1")  # a query string is ignored
        assert r.status == 200, (name, r)
        assert r.header("content-type") == types[Path(name).suffix], (name, r)
        assert r.header("cache-control") == "no-cache", r
        assert r.header("x-content-type-options") == "nosniff", r
        assert re.fullmatch(r'"[0-9a-f]{20}"', r.header("etag") or ""), r


def test_conditional_and_head_requests(server):
    r = get(server.port, "/ui/app.js")
    etag = r.header("etag")
    for inm in (etag, f'W/{etag}', f'"other", {etag}', "*"):
        c = get(server.port, "/ui/app.js", headers={"If-None-Match": inm})
        assert c.status == 304 and c.body == b"" and c.header("etag") == etag, (inm, c)
        assert c.header("content-length") is None, c
    c = get(server.port, "/ui/app.js", headers={"If-None-Match": '"other"'})
    assert c.status == 200 and c.body == r.body, c
    other = get(server.port, "/ui/style.css").header("etag")
    assert other != etag
    h = get(server.port, "/ui/app.js", method="HEAD")
    assert h.status == 200 and int(h.header("content-length")) == len(r.body), h
    assert h.header("etag") == etag


def test_unknown_files_and_methods(server):
    for path in ("/ui/nope.js", "/ui/..%2fmetrics", "/ui/.hidden", "/ui/APP.JS", "/ui/%61pp.js"):
        r = get(server.port, path)
        assert r.status == 404, (path, r)
        err = json.loads(r.body)["error"]
        assert err["code"] == "file_not_found" and err["message"], (path, err)
    r = get(server.port, "/ui/app.js/")
    assert r.status == 404 and json.loads(r.body)["error"]["code"] == "not_found", r
    r = get(server.port, "/ui/app.js", method="POST")
    assert r.status == 405 and r.header("allow") == "GET, HEAD", r
    r = get(server.port, "/ui//")
    assert r.status == 404, r


def test_scripts_never_parse_html(server):
    """Untrusted text (names, inputs, outputs, errors) reaches the page only as text."""
    files = referenced_files(server.port)
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment"
                       r"|\beval\(|new Function|setAttribute\('on|\.on[a-z]+\s*=\s*['\"]")
    for name, body in files.items():
        if name.endswith(".js"):
            assert not sinks.search(body), f"{name}: {sinks.search(body).group(0)}"
    index = files["index.html"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", index), "an inline script in index.html"
    assert not re.search(r"\son[a-z]+\s*=", index), "an inline event handler in index.html"
    assert "style=" not in index


# --------------------------------------------------------------------------------------------
# Browser
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium installed (tools/setup.sh installs Debian's chromium)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        pytest.fail("python3-websocket is missing: run tools/setup.sh", pytrace=False)
    return path


@pytest.fixture(scope="module")
def shots(request):
    d = Path(os.environ.get("RINGFLOW_UI_ARTEFACTS") or tempfile.mkdtemp(prefix="ringflow-ui-"))
    d.mkdir(parents=True, exist_ok=True)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = f"test_ui: screenshots in {d}"
    print(line)
    if reporter:
        reporter.write_line(line)
    return d


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    with Browser(chromium, tmp_path_factory.mktemp("chromium"), *DESKTOP) as b:
        yield b


@pytest.fixture
def b(browser, server):
    """The browser on the module's daemon at desktop size; no console error may appear."""
    browser.viewport(*DESKTOP)
    browser.errors.clear()
    browser.base = f"http://127.0.0.1:{server.port}/ui/"
    yield browser
    assert not browser.errors, "browser console errors:\n" + "\n".join(browser.errors)


def test_the_harness_sees_console_errors_and_failed_loads(browser, server):
    """The "no console errors" check of every browser test can fail: an error logged by a
    script, an uncaught exception and a failed load each reach Browser.errors."""
    browser.errors.clear()
    browser.goto(f"http://127.0.0.1:{server.port}/ui/")
    browser.eval("console.error('boom')")
    browser.eval("setTimeout(() => { throw new Error('thrown'); }, 0)")
    browser.eval("fetch('/ui/missing.js').then(r => r.status)")
    for _ in range(100):  # each call also reads the events queued meanwhile
        text = "\n".join(browser.errors)
        if "boom" in text and "thrown" in text and "404" in text:
            break
        browser.wait("new Promise(r => setTimeout(() => r(true), 50))", "a pause")
    assert "boom" in text and "thrown" in text and "404" in text, browser.errors
    browser.errors.clear()


PAGES = {  # hash -> what shows the page has its data
    "#/overview": "document.querySelector('#ov-started') && /^\\d+$/.test(document.querySelector('#ov-started').textContent)",
    "#/workflows": "document.querySelector('#workflows-table')",
    "#/workflows/ui-live": "document.querySelector('#wf-dag svg .dag-node')",
    "#/runs": "document.querySelector('#runs-table, #runs-empty')",
    "#/start": "document.querySelector('#start-workflow option')",
    "#/dead-letter": "document.querySelector('#dl-table, #dl-empty')",
}


def open_page(b, fragment: str, ready: str) -> None:
    b.set_hash(fragment)
    b.wait(f"location.hash === {json.dumps(fragment)} && ({ready})", f"page {fragment}")


def shoot(b, shots: Path, name: str, ready: str) -> None:
    """Screenshots at desktop and phone width; at phone width nothing may overflow sideways."""
    for label, (w, hgt), mobile in (("desktop", DESKTOP, False), ("phone", PHONE, True)):
        b.viewport(w, hgt, mobile)
        b.wait(f"window.innerWidth === {w} && ({ready})", f"{name} at {w}px")
        over = b.eval("document.documentElement.scrollWidth - window.innerWidth")
        assert over <= 1, f"{name} is {over}px wider than a {w}px screen"
        b.screenshot(shots / f"{name}-{label}-{w}x{hgt}.png")
    b.viewport(*DESKTOP)


def setup_workflows(server) -> None:
    """Registers the workflows once per daemon (each test may run alone)."""
    if get_workflow(server, "ui-live").status == 200:
        return
    must_put(server, "ui-live", {"steps": LIVE["steps"][:2]})  # version 1
    must_put(server, "ui-live", LIVE)                            # version 2
    must_put(server, "ui-hold", HOLD)
    must_put(server, "ui-fail", FAIL)
    must_put(server, "ui-echo", ECHO)


def test_pages_load_draw_and_fit(b, server, shots):
    setup_workflows(server)
    b.goto(b.base)
    b.wait(PAGES["#/overview"], "the overview (the default page)")
    assert b.eval("location.hash") == ""
    assert b.eval("document.querySelector('nav a[aria-current=page]').dataset.nav") == "overview"
    for fragment, ready in PAGES.items():
        open_page(b, fragment, ready)
        shoot(b, shots, fragment.strip("#/").replace("/", "-"), ready)

    # Overview: the counters are the daemon's.
    open_page(b, "#/overview", PAGES["#/overview"])
    started = metric_sum(scrape(server.port), "rf_runs_started_total")
    b.wait(f"document.querySelector('#ov-started').textContent === '{int(started)}'", "started count")
    b.wait("/^\\d+\\.\\d$/.test(document.querySelector('#ov-runs-rate').textContent)", "a runs/s rate")

    # Workflows: every registered one, with its versions.
    open_page(b, "#/workflows", PAGES["#/workflows"])
    rows = b.eval("[...document.querySelectorAll('#workflows-table tbody tr')].map(r => [r.dataset.workflow, r.cells[1].textContent, r.cells[2].textContent])")
    assert ["ui-live", "v2", "2"] in rows and ["ui-hold", "v1", "1"] in rows, rows

    # A workflow: the definition as served, the DAG in depends_on layers.
    open_page(b, "#/workflows/ui-live", PAGES["#/workflows/ui-live"])
    shown = json.loads(b.eval("document.querySelector('#wf-definition').textContent"))
    assert shown["steps"] == LIVE["steps"], shown
    nodes = b.eval("Object.fromEntries([...document.querySelectorAll('#wf-dag .dag-node')].map(n => [n.dataset.step, [Number(n.dataset.layer), n.getBBox().x + n.transform.baseVal[0].matrix.e]]))")
    assert nodes == {"a": [0, nodes["a"][1]], "gate": [1, nodes["gate"][1]], "side": [1, nodes["side"][1]],
                     "pause": [2, nodes["pause"][1]], "done": [3, nodes["done"][1]]}, nodes
    edges = b.eval("[...document.querySelectorAll('#wf-dag .dag-edge')].map(e => [e.dataset.from, e.dataset.to])")
    assert sorted(map(tuple, edges)) == sorted((d, st["id"]) for st in LIVE["steps"] for d in st.get("depends_on", []))
    for frm, to in edges:
        assert nodes[frm][1] < nodes[to][1], f"edge {frm}->{to} does not point right: {nodes}"
    b.eval("document.querySelector('#wf-version').value = '1'; document.querySelector('#wf-version').dispatchEvent(new Event('change'))")
    b.wait("location.hash.endsWith('version=1') && document.querySelectorAll('#wf-dag .dag-node').length === 2", "version 1")


def test_keyboard_navigation(b, server):
    setup_workflows(server)
    b.goto(b.base)
    b.wait(PAGES["#/overview"], "overview")
    b.eval("document.activeElement && document.activeElement.blur()")
    for _ in range(12):
        b.key("Tab")
        if b.eval("document.activeElement.dataset && document.activeElement.dataset.nav") == "runs":
            break
    else:
        pytest.fail("Tab never reached the Runs link")
    outline = b.eval("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), f"no visible focus on the focused link: {outline}"
    b.key("Enter")
    b.wait("location.hash === '#/runs' && document.activeElement.tagName === 'H1'", "Runs opened by Enter, focus on its heading")
    # The search refuses a bad id (Enter submits it) and stays on the page.
    b.click("#run-search")
    b.call("Input.insertText", {"text": "not-a-run"})
    b.key("Enter")
    b.wait("document.querySelector('#run-search').getAttribute('aria-invalid') === 'true'", "a bad id refused")
    assert b.eval("location.hash") == "#/runs"


def test_start_from_form_and_watch_steps_turn_green(b, server, shots):
    setup_workflows(server)
    b.goto(b.base + "#/start?workflow=ui-live")
    b.wait("document.querySelector('#start-workflow').value === 'ui-live'", "the form preselects ui-live")
    b.eval("window.__samePage = 'yes'")  # gone if anything reloads the page
    b.type_into("#start-input", '{"name": "ada"}')
    b.click("#start-submit")
    run_id = b.wait("location.hash.startsWith('#/runs/') && location.hash.slice(7)", "the run's page")
    run = get_run(server, run_id).json
    assert run["workflow"] == "ui-live" and run["input"] == {"name": "ada"}, run

    step = lambda sid: f"document.querySelector('#run-steps li[data-step=\"{sid}\"]')"  # noqa: E731
    b.wait(f"{step('gate')} && {step('gate')}.dataset.status === 'waiting'", "gate waiting")
    b.wait("document.querySelector('#live').dataset.state === 'live'", "the event stream open")
    assert b.eval(f"{step('pause')}.dataset.status") == "pending"
    assert b.eval(f"{step('done')}.dataset.status") == "pending"
    assert b.eval(f"getComputedStyle({step('a')}).borderLeftColor") == GREEN
    assert b.eval(f"getComputedStyle({step('done')}).borderLeftColor") != GREEN
    b.wait("document.querySelector('#run-dag .dag-node[data-step=\"gate\"].status-waiting')", "the DAG colours gate")
    shoot(b, shots, "run-waiting", step("gate"))

    # Approve from the page; the rest of the run arrives over the stream.
    b.type_into("#signal-payload-gate", '{"by": "ui-test"}')
    b.click('button[data-signal="gate"]')
    seen = set()
    for _ in range(400):
        seen.add(b.eval(f"{step('pause')}.dataset.status"))
        if b.eval(f"{step('done')}.dataset.status") == "succeeded":
            break
        b.wait("true", "tick", timeout=1)
    b.wait("document.querySelector('#run-status [data-status]').dataset.status === 'succeeded'", "the run succeeded")
    b.wait("document.querySelector('#live').dataset.state === 'ended'", "the stream ended")
    assert b.eval("window.__samePage") == "yes", "the page reloaded"
    for sid in ("a", "gate", "side", "pause", "done"):
        assert b.eval(f"{step(sid)}.dataset.status") == "succeeded", sid
        assert b.eval(f"getComputedStyle({step(sid)}).borderLeftColor") == GREEN, sid
        assert b.eval(f"getComputedStyle(document.querySelector('#run-dag .dag-node[data-step=\"{sid}\"] rect')).stroke") == GREEN
    assert b.eval(f"{step('pause')}.querySelectorAll('.attempts tbody tr').length") == 1
    assert "ui-test" in b.eval(f"{step('gate')}.querySelector('pre').textContent")
    types = b.eval("[...document.querySelectorAll('#run-events li')].map(li => li.dataset.type)")
    assert types[0] == "run.created" and types[-1] == "run.succeeded", types
    run = wait_status(server, run_id, {"succeeded"})
    gate = next(s for s in run["steps"] if s["id"] == "gate")
    assert gate["output"] == {"by": "ui-test"}, gate
    print(f"pause step statuses seen live: {sorted(seen)}")
    shoot(b, shots, "run-succeeded", step("done"))


def test_cancel_a_waiting_run_with_the_button(b, server, shots):
    setup_workflows(server)
    run = must_start(server, "ui-hold")
    b.goto(b.base + "#/runs/" + run["id"])
    b.wait("document.querySelector('#run-steps li[data-step=\"hold\"]')?.dataset.status === 'waiting'", "hold waiting")
    b.click("#cancel-run")
    b.wait("document.activeElement.id === 'cancel-confirm'", "focus on the confirmation")
    assert get_run(server, run["id"]).json["status"] == "waiting"  # nothing happens before it
    b.key("Enter")
    b.wait("document.querySelector('#run-status [data-status]').dataset.status === 'cancelled'", "cancelled")
    b.wait("document.querySelector('#live').dataset.state === 'ended'", "the stream ended")
    assert get_run(server, run["id"]).json["status"] == "cancelled"
    assert b.eval("document.querySelector('#cancel-run')") is None
    shoot(b, shots, "run-cancelled", "document.querySelector('#run-steps li')")


def test_dead_letter_bulk_retry_and_run_filters(b, server, shots):
    setup_workflows(server)
    ids = []
    for _ in range(2):
        st, run = post(server, "/v1/workflows/ui-fail/runs?wait=10s", {})
        assert run["status"] == "failed", run
        ids.append(run["id"])
    ok = must_start(server, "ui-hold")

    # The runs list, filtered by workflow and status, and search by id.
    if not b.eval("location.href").startswith(b.base):
        b.goto(b.base)
    open_page(b, "#/runs?workflow=ui-fail&status=failed", "document.querySelector('#runs-table')")
    shown = b.eval("[...document.querySelectorAll('#runs-table tbody tr')].map(r => [r.dataset.run, r.dataset.status])")
    assert sorted(shown) == sorted([i, "failed"] for i in ids), shown
    assert b.eval("document.querySelector('#filter-status').value") == "failed"
    shoot(b, shots, "runs-failed-ui-fail", "document.querySelector('#runs-table')")
    b.eval("const s = document.querySelector('#filter-status'); s.value = 'waiting'; s.dispatchEvent(new Event('change'))")
    b.wait("location.hash.includes('status=waiting') && document.querySelector('#runs-empty')", "no waiting ui-fail run")
    b.type_into("#run-search", ok["id"])
    b.key("Enter")
    b.wait(f"location.hash === '#/runs/{ok['id']}' && document.querySelector('#run-steps li')", "search opened the run")

    open_page(b, "#/dead-letter?workflow=ui-fail", "document.querySelectorAll('#dl-table tbody tr').length === 2")
    assert sorted(b.eval("[...document.querySelectorAll('#dl-table tbody tr')].map(r => r.dataset.run)")) == sorted(ids)
    assert b.eval("document.querySelector('#dl-retry').disabled") is True
    b.click("#dl-select-all")
    b.wait("document.querySelector('#dl-retry').textContent === 'Retry selected (2)'", "two selected")
    shoot(b, shots, "dead-letter-selected", "document.querySelector('#dl-table')")
    b.click("#dl-retry")
    b.wait("document.querySelector('#dl-result')?.textContent === '2 retried.'", "both retried")
    for i in ids:  # each ran its failed step again (and failed again: the port is still closed)
        wait_until(lambda: len(get_run(server, i).json["steps"][0]["attempts"]) == 2, 10, what=f"{i} retried")
        wait_status(server, i, {"failed"})

    # The run page's retry button: a third attempt, shown live on the same page.
    open_page(b, f"#/runs/{ids[0]}", "document.querySelector('#retry-run')")
    b.wait("document.querySelector('#run-steps li[data-step=\"call\"]').querySelectorAll('.attempts tbody tr').length === 2", "two attempts")
    b.click("#retry-run")
    b.wait("document.querySelector('#run-action-msg').textContent === 'Retry: done.'", "retry accepted")
    wait_until(lambda: len(get_run(server, ids[0]).json["steps"][0]["attempts"]) == 3, 10, what="a third attempt")
    wait_status(server, ids[0], {"failed"})
    b.wait("document.querySelector('#run-steps li[data-step=\"call\"]').querySelectorAll('.attempts tbody tr').length === 3"
           " && document.querySelector('#run-status [data-status]').dataset.status === 'failed'"
           " && document.querySelector('#live').dataset.state === 'ended'", "the third attempt shown")
    shoot(b, shots, "run-retried", "document.querySelector('#run-steps li')")
    open_page(b, "#/runs", "document.querySelector('#runs-table')")
    shoot(b, shots, "runs-all", "document.querySelector('#runs-table')")
    open_page(b, "#/overview", PAGES["#/overview"] + " && document.querySelector('main table')")
    shoot(b, shots, "overview-with-runs", "document.querySelector('main table')")


def test_outputs_are_shown_as_text(b, server):
    setup_workflows(server)
    st, run = post(server, "/v1/workflows/ui-echo/runs?wait=10s", {"input": {"html": XSS}})
    assert run["status"] == "succeeded", run
    b.goto(b.base + "#/runs/" + run["id"])
    b.wait("document.querySelector('#run-steps li[data-step=\"echo\"]')?.dataset.status === 'succeeded'", "echo done")
    b.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
    text = b.eval("document.querySelector('#run-steps li[data-step=\"echo\"] pre').textContent")
    assert json.loads(text) == {"html": XSS}
    assert b.eval("document.querySelectorAll('main img, main script').length") == 0
    assert b.eval("window.__pwned") is None


# --------------------------------------------------------------------------------------------
# Signing in (a daemon with --auth on)
# --------------------------------------------------------------------------------------------

def test_sign_in_with_a_key_and_work_in_its_namespace(browser, launch, shots):
    """With --auth on every page's data needs a credential: the UI shows a sign-in form, checks
    the key in the chosen namespace (a wrong key and a namespace the key lacks are refused with
    the daemon's reason), then shows that namespace only; a run started from the form streams
    live over SSE with the bearer token (EventSource could not send it). The token stays in
    sessionStorage, and signing out asks for it again."""
    from test_auth import ADMIN, api, make_key
    d = launch("--auth", "on", env={"RINGFLOW_ADMIN_KEY": ADMIN})
    for path in ("/v1/namespaces/team-a/workflows/ns-flow", "/v1/workflows/default-only"):
        assert api(d, "PUT", path, ADMIN, HOLD)[0].status == 201
    key = make_key(d, "developer", ns="team-a")["key"]
    browser.viewport(*DESKTOP)
    browser.errors.clear()
    base = f"http://127.0.0.1:{d.port}/ui/"
    browser.goto(base + "#/workflows")
    browser.wait("location.hash.startsWith('#/sign-in?next=') && document.querySelector('#sign-in-form')",
                 "the sign-in form instead of the workflows")
    assert "credential" in browser.eval("document.querySelector('#sign-in-reason').textContent").lower()
    shoot(browser, shots, "sign-in", "document.querySelector('#sign-in-form')")

    def sign_in(token, ns):
        browser.eval("document.querySelector('#sign-in-token').value = ''; document.querySelector('#sign-in-namespace').value = ''")
        browser.type_into("#sign-in-token", token)
        browser.type_into("#sign-in-namespace", ns)
        browser.click("#sign-in-submit")

    sign_in("rfk_wrong_key", "team-a")
    browser.wait("/refused/.test(document.querySelector('#sign-in-msg').textContent)", "a wrong key refused")
    sign_in(key, "default")
    browser.wait("/no access to namespace default/.test(document.querySelector('#sign-in-msg').textContent)",
                 "another namespace refused")
    sign_in(key, "team-a")
    browser.wait("location.hash === '#/workflows' && document.querySelector('#workflows-table')", "back on the workflows")
    names = browser.eval("[...document.querySelectorAll('#workflows-table tbody tr')].map(r => r.dataset.workflow)")
    assert names == ["ns-flow"], names
    assert browser.eval("document.querySelector('#session-namespace').textContent") == "team-a"
    assert browser.eval("sessionStorage.getItem('rf.token')") == key
    assert browser.eval("localStorage.length") == 0 and key not in browser.eval("document.cookie")

    # A run started from the form lands in team-a and streams live.
    browser.set_hash("#/start?workflow=ns-flow")
    browser.wait("document.querySelector('#start-workflow').value === 'ns-flow'", "the form")
    browser.click("#start-submit")
    run_id = browser.wait("location.hash.startsWith('#/runs/') && location.hash.slice(7)", "the run's page")
    browser.wait("document.querySelector('#live').dataset.state === 'live'", "the event stream open with the token")
    hold = "document.querySelector('#run-steps li[data-step=\"hold\"]')"
    browser.wait(f"{hold} && {hold}.dataset.status === 'waiting'", "hold waiting")
    resp, run = api(d, "GET", f"/v1/namespaces/team-a/runs/{run_id}", ADMIN)
    assert resp.status == 200 and run["namespace"] == "team-a", run
    assert api(d, "POST", f"/v1/namespaces/team-a/runs/{run_id}/signals/hold", ADMIN, {"ok": 1})[0].status == 200
    browser.wait(f"{hold}.dataset.status === 'succeeded' && document.querySelector('#live').dataset.state === 'ended'",
                 "the approval arrives over the stream")

    # Signing out forgets the token; the next page asks again.
    browser.click("#sign-out")
    browser.wait("document.querySelector('#sign-in-link') && sessionStorage.getItem('rf.token') === null", "signed out")
    browser.set_hash("#/runs")
    browser.wait("location.hash.startsWith('#/sign-in?next=') && document.querySelector('#sign-in-form')", "asked again")
    # The daemon's 401 and 403 answers are the only console noise this test may cause.
    unexpected = [e for e in browser.errors if " 401 " not in e and " 403 " not in e]
    assert not unexpected, unexpected
    browser.errors.clear()
