"""What staging hands the sender: one message to send (a push to one browser, or one text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    PUSH = "push"
    SMS = "sms"


@dataclass(frozen=True, slots=True)
class Notice:
    id: int  # its `notifications` row
    channel: Channel
    alert_id: str
    recipient: str  # push: the subscription's endpoint; sms: her phone number
    payload: str  # push: the JSON her service worker reads (encrypted at each send); sms: the text
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    p256dh: str = ""  # push: her browser's keys (RFC 8291)
    auth: str = ""
    person_id: str = ""  # the protected person (cluster mode: whose partition sends it)
