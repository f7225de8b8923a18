"""Load-tool smoke runs: correctness under load (no failures), never speed."""

from __future__ import annotations

import re
import shutil
import subprocess

from rfclient import get


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not installed (apt-get install wrk apache2-utils)"
    return path


def _field(out: str, label: str) -> int | None:
    m = re.search(rf"^{re.escape(label)}:\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def test_ab_keepalive_20000(server):
    n = 20000
    p = subprocess.run([_tool("ab"), "-k", "-n", str(n), "-c", "20", "-s", "10", "-r",
                        f"http://127.0.0.1:{server.port}/health/live"],
                       capture_output=True, text=True, timeout=180)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-2000:]
    assert _field(out, "Complete requests") == n, out[-2000:]
    assert _field(out, "Failed requests") == 0, out[-2000:]
    assert (_field(out, "Non-2xx responses") or 0) == 0, out[-2000:]
    assert _field(out, "Write errors") in (0, None), out[-2000:]
    # ab speaks HTTP/1.0 + Connection: keep-alive; every response must keep the connection
    assert _field(out, "Keep-Alive requests") == n, out[-2000:]
    assert get(server.port, "/health").status == 200


def test_wrk_smoke(server):
    p = subprocess.run([_tool("wrk"), "-t2", "-c32", "-d3s", "--timeout", "2s",
                        f"http://127.0.0.1:{server.port}/health/live"],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    m = re.search(r"(\d+) requests in", out)
    assert m and int(m.group(1)) > 0, out
    assert "Socket errors" not in out, out
    assert "Non-2xx or 3xx responses" not in out, out
    assert get(server.port, "/health").status == 200


def test_wrk_pipelined_and_mixed_routes_stay_correct(server, tmp_path):
    """wrk with a Lua script that pipelines 8 requests per write across several routes."""
    script = tmp_path / "pipe.lua"
    script.write_text("""
init = function(args)
  local r = {}
  local paths = {"/health", "/health/live", "/health/ready", "/metrics"}
  for i = 1, 8 do
    r[i] = wrk.format("GET", paths[(i % #paths) + 1])
  end
  req = table.concat(r)
end
request = function() return req end
""")
    p = subprocess.run([_tool("wrk"), "-t2", "-c16", "-d3s", "--timeout", "2s", "-s", str(script),
                        f"http://127.0.0.1:{server.port}/"],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "Socket errors" not in out, out
    assert "Non-2xx or 3xx responses" not in out, out
    assert get(server.port, "/health").status == 200
