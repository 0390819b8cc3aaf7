"""The dossier: everything one push says about one alert change, as plain data.

The processor assembles it inside the transaction that commits the change (from the alert, the
registry and the engine's live tracks) and stores it with the push as its draft (`draft.py`); the
formats (CloudEvents, CAP, EIDO) render it after the commit, from that stored draft, so a push is
sent byte for byte the same on every retry, after a restart too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vigil.domain.alerts import Alert, Position
from vigil.jurisdiction import Area


class PushType(StrEnum):
    """What happened to the alert; the CloudEvent type is `org.vigil.alert.<value>`."""

    OPENED = "opened"
    UPDATED = "updated"  # moved >= 100 m, or the distance tier or the evidence changed
    ESCALATED = "escalated"  # a warning rose into a violation
    CLEARED = "cleared"  # the condition ended; the alert stays open until a person closes it
    CLOSED = "closed"  # resolved or false alarm: nothing more will follow


class Agency(StrEnum):
    POLICE = "police"
    PROBATION = "probation"
    ANY = "any"  # a target that takes both legs (the single environment-configured target)


@dataclass(frozen=True, slots=True)
class Party:
    """The offender (role "subject") or the victim (role "protected_person"): the minimum a
    dispatcher needs to find and recognise them, and where they are."""

    id: str
    role: str  # "subject" | "protected_person"
    name: str = ""
    phone: str = ""
    case_reference: str = ""
    position: Position | None = None  # latest known, with accuracy and age at the change
    area: Area | None = None  # jurisdiction of that position


@dataclass(frozen=True, slots=True)
class OrderInfo:
    id: str
    reference: str
    legal_basis: str
    issuing_agency: str
    violation_distance_m: float
    warning_distance_m: float
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """One leg of the joint response: who goes where, and which targets were told."""

    agency: Agency  # police or probation
    goal: str  # plain words for the dispatcher
    position: Position | None  # where to go
    basis: str  # "live_position" | "home_zone" | "last_known_position" | "unknown"
    area: Area | None
    targets: tuple[str, ...]  # dispatch target ids given this task


@dataclass(frozen=True, slots=True)
class Reference:
    """An earlier push about the same alert or incident (CAP `references`: sender,identifier,sent)."""

    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class Dossier:
    event_id: str  # CloudEvent id = CAP identifier = webhook-id; unique per change, stable on retry
    push_type: PushType
    sequence: int  # 1, 2, ... per alert, in commit order
    alert: Alert  # the alert as it stands after the change
    at: datetime  # when the change was committed (aware, UTC)
    note: str  # the change's note (e.g. why it was closed), may be empty
    subject: Party | None
    protected: Party | None
    order: OrderInfo | None
    plan: tuple[Task, ...]  # empty for alerts that need no joint response (battery, ...)
    live_track_url: str | None  # the live-track link issued to the target this body goes to
    references: tuple[Reference, ...]  # earlier pushes about this alert, oldest first
    sender: str  # CAP sender, e.g. "vigil@control.example.kr"
    source: str  # CloudEvents source URI-reference, e.g. "/vigil/control-centre"
    timezone: str  # IANA zone for human-facing local times (CAP `sent` needs a numeric offset)
    escalation_level: int = 0  # 0 for a normal push; 1, 2, ... for re-sends after no acknowledgement
    escalation_reason: str = ""
    # The incident the alert belongs to (domain/incidents.py): its id, its radio number, and every
    # earlier push about any of its alerts, oldest first: one stream per danger for dispatch.
    incident_id: str | None = None
    incident_number: str | None = None
    incident_references: tuple[Reference, ...] = ()
