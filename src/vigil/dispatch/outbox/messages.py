"""What the outbox exchanges with the processor and the deliverer: its settings, the deliveries it
stages; the attempts reported back and the dispatch commands come from vigil.commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.commands import Attempt, Callback, DispatchCommand, Escalate, Record, Reported
from vigil.rules.tuning import STALE_AFTER_S


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    sender: str = "vigil@localhost"
    source: str = "/vigil"
    timezone: str = "Asia/Seoul"
    stale_after_s: float = STALE_AFTER_S  # a victim's fix older than this sends police to her home instead
    link_lifetime_s: float = 43_200.0  # a target's live-track link, at most (it dies earlier at close)


@dataclass(frozen=True, slots=True)
class Pending:
    """A delivery the deliverer must make: one push to one target. Staged with its `draft` and an
    empty body: the deliverer renders the body from the draft (dispatch/draft.py) before the first
    send; once an attempt is recorded the body is stored, and taken back as it is after a restart."""

    delivery_id: int
    event_id: str
    target_id: str
    alert_id: str
    sequence: int
    body: bytes  # b"": not rendered yet
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    needs_ack: bool
    alarmed: bool = False
    draft: str = ""  # what the body is rendered from ("": a push stored rendered, before drafts)


# The attempts reported back and the dispatch commands are the processor's commands
# (vigil.commands); they are named here too, where the outbox's other messages are.
__all__ = [
    "Attempt",
    "Callback",
    "DispatchCommand",
    "Escalate",
    "OutboxSettings",
    "Pending",
    "Record",
    "Reported",
]
