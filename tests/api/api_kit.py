"""What the API tests share beyond fixtures: the scene's coordinates and the dispatch receiver's
paths. A module of its own, not the conftest, so test files import it by a name no other test
folder uses."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

# Two places in Seoul; offsets in metres north of HOME are converted with ~111.2 km per degree.
HOME_LAT, HOME_LON = 37.60, 127.20
M_PER_DEG_LAT = 111_195.0


def north(metres: float) -> float:
    """The latitude `metres` north of HOME."""
    return HOME_LAT + metres / M_PER_DEG_LAT


ENV_PATH = "/112"  # the VIGIL_DISPATCH_URL target
TARGET_PATHS = ("/112", "/seoul-police", "/national-police", "/probation", "/gyeonggi-police")

# What the control centre states at sign-in for its shift: the whole map is a view beyond live
# alerts, so the operator's calls for it carry a purpose.
WATCH = {"purpose": "monitoring", "reason": "control-centre watch"}


def features(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The positions a stream message carries: one ("position", filtered viewers), several
    ("positions", the whole map's batches), or none (an alert change, the hello)."""
    if message["type"] == "position":
        return [message["feature"]]
    if message["type"] == "positions":
        return list(message["features"])
    return []


class Clock:
    """The app's clock, moved by hand. The runner thread reads it for ticks, so it only moves when a
    test says so: no silence deadline comes due by accident."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


def wait_until(check: Any, timeout_s: float = 10.0) -> Any:
    """Poll `check` until it returns something truthy (what the server does after answering, such as
    a push, happens on its own threads)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


def unguard(api: Any) -> None:
    """What an attacker with the database's keys does first: switch off the audit trail's
    append-only triggers and the unique predecessor that stops a fork."""
    with api.db.begin() as conn:
        conn.execute(text("DROP INDEX ix_audit_log_prev_hash"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
