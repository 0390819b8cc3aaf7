"""What the outbox exchanges with the processor and the deliverer: its settings, the deliveries it
stages, the attempts reported back, and the dispatch commands (with their one result)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vigil.dispatch.reports import Outcome, Status


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    sender: str = "vigil@localhost"
    source: str = "/vigil"
    timezone: str = "Asia/Seoul"
    stale_after_s: float = 600.0  # a victim's fix older than this sends police to her home instead
    link_lifetime_s: float = 43_200.0  # a target's live-track link, at most (it dies earlier at close)


@dataclass(frozen=True, slots=True)
class Pending:
    """A delivery the deliverer must make: one push to one target."""

    delivery_id: int
    event_id: str
    target_id: str
    alert_id: str
    sequence: int
    body: bytes
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    needs_ack: bool
    alarmed: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt came to, for the record."""

    delivery_id: int
    at: datetime
    status: int | None  # HTTP status, None when no answer came (refused, timed out)
    error: str = ""
    delivered: bool = False
    gone: bool = False  # the target answered 410: it is disabled
    next_attempt_at: datetime | None = None
    alarm: bool = False  # undelivered for too long: operators are told (once)


# --- commands the processor hands to the outbox ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """Delivery attempts to record."""

    attempts: tuple[Attempt, ...]


@dataclass(frozen=True, slots=True)
class Escalate:
    """A pushed violation went unacknowledged (or was rejected): tell the next target."""

    delivery_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Callback:
    """A dispatch system's signed report about an alert (already verified at the edge)."""

    target_id: str
    callback_id: str  # its webhook-id: a retried report is recorded once
    alert_id: str
    status: Status
    outcome: Outcome | None
    note: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reported:
    alert_id: str
    state: str
    duplicate: bool = False


DispatchCommand = Record | Escalate | Callback
