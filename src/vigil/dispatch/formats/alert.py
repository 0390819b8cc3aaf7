"""`data.alert`: the native JSON view of a push, the part a dispatcher's system reads first.

Snake_case, local ISO 8601 times with the offset of the dossier's time zone, numbers rounded to what
is meaningful (metres and speeds to 0.1, seconds and degrees to 1, coordinates to 6 decimals). Also
the small helpers the other formats share (time zones, rounding, which position stands for a party).
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from vigil.dispatch.dossier import Dossier, Party, Task
from vigil.domain.alerts import Position
from vigil.jurisdiction import Area

_ORDER_FIELDS = (
    "reference",
    "legal_basis",
    "issuing_agency",
    "violation_distance_m",
    "warning_distance_m",
    "valid_until",
)

SUBJECT = "subject"
PROTECTED = "protected_person"


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(at: datetime, tz: tzinfo) -> str:
    """ISO 8601 to the second with a numeric offset (what CAP demands, and readable everywhere)."""
    return at.astimezone(tz).isoformat(timespec="seconds")


def maybe_local(at: datetime | None, tz: tzinfo) -> str | None:
    return None if at is None else local(at, tz)


def tenth(value: float | None) -> float | None:
    # A non-finite value (an infinite time to contact, say) means "not known" to a receiver.
    if value is None or not math.isfinite(value):
        return None
    return round(value, 1)


def whole(value: float | None) -> int | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value)


def text(value: str | None) -> str | None:
    """Empty strings are unknowns: say so with null rather than an empty field."""
    return value or None


def subject_position(d: Dossier) -> Position | None:
    """The party's own position if the processor attached one, else the one the rule judged on."""
    if d.subject is not None and d.subject.position is not None:
        return d.subject.position
    return d.alert.facts.subject_position


def protected_position(d: Dossier) -> Position | None:
    if d.protected is not None and d.protected.position is not None:
        return d.protected.position
    return d.alert.facts.protected_position


def subject_id(d: Dossier) -> str | None:
    return d.subject.id if d.subject is not None else d.alert.subject_id


def protected_id(d: Dossier) -> str | None:
    return d.protected.id if d.protected is not None else d.alert.protected_person_id


def parties(d: Dossier) -> list[tuple[str, Party | None, str, Position | None]]:
    """(role, party, id, position) for each party the alert concerns, subject first."""
    found: list[tuple[str, Party | None, str, Position | None]] = []
    sid = subject_id(d)
    if sid is not None:
        found.append((SUBJECT, d.subject, sid, subject_position(d)))
    pid = protected_id(d)
    if pid is not None:
        found.append((PROTECTED, d.protected, pid, protected_position(d)))
    return found


def position_view(p: Position | None, tz: tzinfo) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "lat": round(p.lat, 6),
        "lon": round(p.lon, 6),
        "accuracy_m": tenth(p.accuracy_m),
        "time": local(p.time, tz),
        "age_s": whole(p.age_s),
        "speed_mps": tenth(p.speed_mps),
        "heading_deg": whole(p.heading_deg),
        "source": p.source,
    }


def area_view(a: Area | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "code": a.code,
        "name": a.name,
        "name_en": a.name_en,
        "outside": a.outside,
        "distance_m": tenth(a.distance_m),
    }


def _party_view(role: str, party: Party | None, pid: str, pos: Position | None, tz: tzinfo) -> dict[str, Any]:
    view: dict[str, Any] = {"id": pid, "name": text(party.name) if party else None}
    if role == SUBJECT:
        view["case_reference"] = text(party.case_reference) if party else None
    else:
        view["phone"] = text(party.phone) if party else None
    view["position"] = position_view(pos, tz)
    view["area"] = area_view(party.area if party else None)
    return view


def _jurisdiction(d: Dossier) -> list[dict[str, Any]]:
    """One entry per distinct municipality, listing whose position lies there."""
    by_code: dict[str, dict[str, Any]] = {}
    for role, party in ((SUBJECT, d.subject), (PROTECTED, d.protected)):
        if party is None or party.area is None:
            continue
        entry = by_code.get(party.area.code)
        if entry is None:
            entry = {**(area_view(party.area) or {}), "parties": []}
            del entry["distance_m"]  # per party, not per municipality
            by_code[party.area.code] = entry
        entry["parties"].append(role)
    return list(by_code.values())


def _task_view(t: Task, tz: tzinfo) -> dict[str, Any]:
    return {
        "agency": t.agency.value,
        "goal": t.goal,
        "basis": t.basis,
        "position": position_view(t.position, tz),
        "area": area_view(t.area),
        "targets": list(t.targets),
    }


def alert_view(d: Dossier) -> dict[str, Any]:
    tz = zone(d.timezone)
    a = d.alert
    f = a.facts
    views = {role: _party_view(role, party, pid, pos, tz) for role, party, pid, pos in parties(d)}
    order: dict[str, Any] | None = None
    if d.order is not None:
        o = d.order
        order = {
            "id": o.id,
            "reference": o.reference,
            "legal_basis": o.legal_basis,
            "issuing_agency": o.issuing_agency,
            "violation_distance_m": tenth(o.violation_distance_m),
            "warning_distance_m": tenth(o.warning_distance_m),
            "valid_until": maybe_local(o.valid_until, tz),
        }
    elif a.order_id is not None:  # the registry no longer has it: keep the id, the rest unknown
        order = {"id": a.order_id, **dict.fromkeys(_ORDER_FIELDS)}
    return {
        "id": a.id,
        "incident": None if d.incident_id is None else {"id": d.incident_id, "number": d.incident_number},
        "kind": a.kind.value,
        "severity": a.severity.value,
        "state": a.state.value,
        "active": a.active,
        "late": a.late,
        "change": d.push_type.value,
        "sequence": d.sequence,
        "opened_at": local(a.opened_at, tz),
        "updated_at": local(a.updated_at, tz),
        "subject": views.get(SUBJECT),
        "protected_person": views.get(PROTECTED),
        "distance_m": tenth(f.distance_m),
        "bearing_deg": whole(f.bearing_deg),
        "compass": f.compass,
        "subject_speed_mps": tenth(f.subject_speed_mps),
        "closing_speed_mps": tenth(f.closing_speed_mps),
        "time_to_contact_s": whole(f.time_to_contact_s),
        "confidence": f.confidence.value if f.confidence is not None else None,
        "stale": list(f.stale),
        "zone": {"id": a.zone_id, "label": f.zone_label}
        if a.zone_id is not None or f.zone_label is not None
        else None,
        "device_id": f.device_id,
        "event": f.event,
        "occurred_at": maybe_local(f.occurred_at, tz),
        # the device's clock was not believed: occurred_at is the receipt time; what it claimed is here
        "clock_suspect": None
        if f.clock_suspect is None
        else {
            "doubt": f.clock_suspect.doubt.value,
            "device_time": local(f.clock_suspect.device_time, tz),
            "received_at": local(f.clock_suspect.received_at, tz),
        },
        "order": order,
        "jurisdiction": _jurisdiction(d),
        "response_plan": [_task_view(t, tz) for t in d.plan],
        "live_track_url": d.live_track_url,
        "note": text(d.note),
        "escalation": {"level": d.escalation_level, "reason": text(d.escalation_reason)}
        if d.escalation_level > 0
        else None,
    }
