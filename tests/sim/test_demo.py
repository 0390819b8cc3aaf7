"""`vigil demo` as a user runs it: a real process on a real port, alerts within a minute, Ctrl-C
leaves a consistent database, and a second run starts again with no clean-up."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ALERTS_WITHIN_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(cwd: Path, port: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "demo", "--subjects", "30", "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    tokens: dict[str, str] = {}
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if match := re.match(r"\s+(\w+)\s+(vgl_\S+)", line):
            tokens[match[1]] = match[2]
        if line.startswith("Ctrl-C"):
            break
        assert time.monotonic() < deadline, "the demo did not start within a minute"
    assert {"operator", "devices", "victim"} <= set(tokens), tokens
    return proc, tokens


def _alerts(port: int, token: str) -> list[dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/alerts", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        alerts: list[dict[str, object]] = json.load(response)
        return alerts


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    return rest


def test_the_demo_shows_alerts_within_a_minute_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    proc, tokens = _start(tmp_path, port)
    try:
        started = time.monotonic()
        alerts: list[dict[str, object]] = []
        while time.monotonic() - started < ALERTS_WITHIN_S and not alerts:
            time.sleep(0.25)
            alerts = _alerts(port, tokens["operator"])
        assert alerts, "no alert within a minute of starting"
    finally:
        tail = _stop(proc)
    assert "stopped; the database is consistent" in tail
    db = sqlite3.connect(tmp_path / "var" / "demo.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM fixes").fetchone()[0] > 0
    db.close()

    # a second run starts again from a fresh database, with no manual clean-up
    second = datetime.now(UTC)
    proc, tokens = _start(tmp_path, port)
    try:
        for alert in _alerts(port, tokens["operator"]):
            assert datetime.fromisoformat(str(alert["opened_at"])) >= second  # nothing left from before
    finally:
        _stop(proc)
