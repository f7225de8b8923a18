"""A small Chrome DevTools protocol client for the UI tests: starts Debian's headless Chromium
(no browser download) and drives one page over the protocol's WebSocket (python3-websocket).

It records what a user would see go wrong: console.error/assert calls, uncaught exceptions and
the browser's own error log entries (failed loads, Content-Security-Policy violations).
Input goes through Input.dispatch* (real mouse and key events at the element's position), not
element.click(), so a covered or off-screen button fails the test.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(AssertionError):
    pass


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, binary: str, profile: Path, width: int = 1280, height: int = 800):
        self.profile = profile
        profile.mkdir(parents=True, exist_ok=True)
        args = [binary, "--headless=new", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
                "--remote-debugging-port=0", "--remote-allow-origins=*",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a reused profile's file names a dead port
        self.log = open(profile / "chromium.log", "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            self._connect(port_file)
        except BaseException:
            self.close()
            raise

    def _connect(self, port_file: Path) -> None:
        import websocket  # python3-websocket (tools/setup.sh)

        deadline = time.monotonic() + 30
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise CdpError(f"chromium did not start: {self.log_tail()}")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        self.errors: list[str] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def log_tail(self) -> str:
        try:
            return (self.profile / "chromium.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                ws.close()
            except Exception:  # noqa: BLE001  (closing after a failure)
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- protocol ---------------------------------------------------------------------------

    def _event(self, msg: dict) -> None:
        self.events.append(msg)
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.errors.append(f"console.{p['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            desc = d.get("exception", {}).get("description") or d.get("text")
            self.errors.append(f"uncaught: {desc} at {d.get('url', '')}:{d.get('lineNumber')}")
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")

    def call(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)
            if time.monotonic() > deadline:
                raise CdpError(f"{method}: no answer within {timeout}s")

    def wait_event(self, method: str, timeout: float = 30.0, since: int = 0) -> dict:
        """The first `method` event at index `since` or later in self.events, read on."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for msg in self.events[seen:]:
                if msg.get("method") == method:
                    return msg
            seen = len(self.events)
            if time.monotonic() > deadline:
                raise CdpError(f"no {method} within {timeout}s")
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                msg = json.loads(self.ws.recv())
            except Exception as e:  # noqa: BLE001  (websocket timeout)
                if "timed out" in str(e).lower():
                    continue
                raise
            if "method" in msg:
                self._event(msg)

    # -- page -------------------------------------------------------------------------------

    def goto(self, url: str, timeout: float = 30.0) -> None:
        """A full load (use set_hash for a navigation inside the page). Through about:blank, so
        a URL differing only in its fragment loads afresh too."""
        if self.eval("location.href") != "about:blank":
            mark = len(self.events)
            self.call("Page.navigate", {"url": "about:blank"})
            self.wait_event("Page.loadEventFired", timeout, since=mark)
        mark = len(self.events)
        res = self.call("Page.navigate", {"url": url})
        if res.get("errorText"):
            raise CdpError(f"navigate {url}: {res['errorText']}")
        self.wait_event("Page.loadEventFired", timeout, since=mark)

    def eval(self, expression: str, timeout: float = 30.0):
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, timeout)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise CdpError(f"evaluate {expression[:200]!r}: "
                           f"{d.get('exception', {}).get('description') or d.get('text')}")
        return res.get("result", {}).get("value")

    def wait(self, predicate: str, what: str, timeout: float = 15.0):
        """Polls a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        # A DOM node comes back by value as {}: report it as found.
        expr = f"(() => {{ const v = ({predicate}); return v instanceof Node ? true : v; }})()"
        while True:
            value = self.eval(expr)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.eval("(document.querySelector('main') || document.body).innerText")
                raise CdpError(f"timed out waiting for {what} ({predicate})\n"
                               f"page text: {str(text)[:1500]}\nbrowser errors: {self.errors}")
            time.sleep(0.05)

    def set_hash(self, fragment: str) -> None:
        self.eval(f"location.hash = {json.dumps(fragment)}")

    def _center(self, selector: str) -> tuple[float, float]:
        js = f"""(() => {{
          const e = document.querySelector({json.dumps(selector)});
          if (!e) return 'missing';
          e.scrollIntoView({{block: 'center', inline: 'center'}});
          const r = e.getBoundingClientRect();
          if (r.width === 0 || r.height === 0) return 'invisible';
          const x = r.left + r.width / 2, y = r.top + r.height / 2;
          const hit = document.elementFromPoint(x, y);
          if (!hit || !(hit === e || e.contains(hit) || hit.contains(e) && hit.tagName === 'LABEL'))
            return 'covered by ' + (hit ? hit.outerHTML.slice(0, 120) : 'nothing');
          return [x, y];
        }})()"""
        res = self.eval(js)
        if not isinstance(res, list):
            raise CdpError(f"cannot click {selector}: {res}")
        return res[0], res[1]

    def click(self, selector: str) -> None:
        x, y = self._center(selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "clickCount": 0 if kind == "mouseMoved" else 1})

    def type_into(self, selector: str, text: str) -> None:
        """Replaces the content of an input or textarea, as typed."""
        self.click(selector)
        self.eval(f"document.querySelector({json.dumps(selector)}).select()")
        self.call("Input.insertText", {"text": text})

    def key(self, key: str) -> None:
        codes = {"Tab": 9, "Enter": 13, "Escape": 27, " ": 32}
        base = {"key": key, "code": "Space" if key == " " else key,
                "windowsVirtualKeyCode": codes[key], "nativeVirtualKeyCode": codes[key]}
        down = dict(base, type="keyDown")
        if key == "Enter":
            down.update(type="keyDown", text="\r")
        elif key == " ":
            down.update(type="keyDown", text=" ")
        self.call("Input.dispatchKeyEvent", down)
        self.call("Input.dispatchKeyEvent", dict(base, type="keyUp"))

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path
