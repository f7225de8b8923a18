"""sd_notify: the daemon talks systemd's notify protocol on $NOTIFY_SOCKET.

READY=1 must arrive only once /health/ready answers 200; STOPPING=1 on SIGTERM;
WATCHDOG=1 keeps coming while WATCHDOG_USEC is set.
"""

from __future__ import annotations

import signal
import socket
import time

import rfclient


def _notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0.2)
    return s, path


def _collect(sock, until, want: str, on_message=None) -> list[str]:
    seen = []
    while time.monotonic() < until:
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            continue
        seen.append(msg)
        if on_message:
            on_message(msg)
        if want in msg.split("\n"):
            return seen
    return seen


def test_ready_is_sent_only_once_health_ready_is_200(launch, tmp_path):
    sock, path = _notify_socket(tmp_path)
    with sock:
        d = launch(env={"NOTIFY_SOCKET": str(path)}, ready=False)
        ready_status = []

        def check_ready(msg):
            if "READY=1" in msg.split("\n"):
                # At the moment READY=1 is sent, the daemon must already answer ready.
                ready_status.append(rfclient.get(d.port, "/health/ready").status)

        seen = _collect(sock, time.monotonic() + 10, "READY=1", check_ready)
        assert any("READY=1" in m.split("\n") for m in seen), seen
        assert ready_status == [200]
        assert any(line.startswith("STATUS=serving") for m in seen for line in m.split("\n"))

        d.signal(signal.SIGTERM)
        seen = _collect(sock, time.monotonic() + 10, "STOPPING=1")
        assert any("STOPPING=1" in m.split("\n") for m in seen), seen
        assert d.wait(15) == 0


def test_watchdog_pings_while_watchdog_usec_is_set(launch, tmp_path):
    sock, path = _notify_socket(tmp_path)
    with sock:
        launch(env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}, ready=False)
        seen = _collect(sock, time.monotonic() + 10, "READY=1")
        assert any("READY=1" in m.split("\n") for m in seen)
        pings = 0
        until = time.monotonic() + 2
        while time.monotonic() < until and pings < 3:
            try:
                if sock.recv(4096).decode() == "WATCHDOG=1":
                    pings += 1
            except socket.timeout:
                pass
        assert pings >= 3


def test_no_notify_socket_means_no_messages_and_normal_start(launch):
    d = launch()
    assert rfclient.get(d.port, "/health/ready").status == 200
