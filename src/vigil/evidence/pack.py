"""Her evidence pack: what a protected person may take to a court herself, made from the full evidence
(`report.person_evidence`) by keeping only what her app could show her.

Pure, and built by allow-list: every value in the pack is copied from a field named here, never
from a whole record, so a field added to the evidence later stays out of her pack until someone
decides it belongs. Of him it keeps his name, the order and, for each approach, times and distances
as her app shows them (`domain.victim_view`): within her view distance the distance rounded to 10 m,
beyond it only the band (between her view and the warning distance). No position of his, no
bearing, no track, no zone of his (only the order's exclusion zones, her places), no push body and
no free-text note (a note may say where he was), no report-back body (a unit's message may too).
Her own positions are hers and stay.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

FORMAT = "vigil-victim-pack/1"
ROLE_WORDS = {  # who took a step, by role: never a staff member's account
    "system": "vigil",
    "operator": "control_centre",
    "probation_officer": "probation",
    "police_dispatcher": "police",
    "police_investigator": "police",
    "field_officer": "police_unit",
    "protected_person": "herself",
}
TERMINAL = ("resolved", "false_alarm")
# The alerts whose `distance_m` is the distance between them (a zone alert's is how far he is inside
# or outside the zone: from her home, say, which is not a distance her app shows).
BETWEEN = ("proximity_warning", "proximity_violation")
_WORD = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # a status that is a code, not a message


def victim_pack(full: dict[str, Any]) -> dict[str, Any]:
    """Her pack from the full evidence concerning her (`scope.kind == "person"`)."""
    scope = full["scope"]
    orders = {o["id"]: o for o in full["orders"] if not o.get("missing")}
    targets = {d["id"]: d for d in full["dispatch_targets"]}
    actors: dict[str, str] = full.get("actors", {})
    return {
        "scope": {
            "kind": "victim_pack",
            "person": scope["person"],
            "from": scope["from"],
            "until": scope["until"],
        },
        "generated": {**full["generated"], "format": FORMAT},
        "protected_person": _pick(full["protected_person"], ("id", "name")),
        "orders": [_order(o) for o in orders.values()],
        "approaches": [
            _approach(a, orders.get(a.get("order_id") or ""), targets, actors) for a in full["alerts"]
        ],
        "own_track": [
            _pick(f, ("time", "lat", "lon", "accuracy_m")) for f in full["tracks"]["protected_person"]
        ],
        "own_events": [
            _pick(e, ("time", "kind"))
            for e in full["device_events"]
            if e["device"] in {d["id"] for d in full["devices"]["protected_person"]}
        ],
    }


def _pick(record: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: record.get(k) for k in keys}


def _order(order: dict[str, Any]) -> dict[str, Any]:
    out = _pick(
        order,
        ("id", "reference", "issuing_agency", "legal_basis", "violation_distance_m", "warning_distance_m",
         "victim_view_m", "valid_from", "valid_until", "ended_at"),
    )  # fmt: skip
    assert out is not None
    subject = order.get("subject") or {}
    out["subject"] = {"name": subject.get("name"), "case_reference": subject.get("case_reference")}
    # Only the order's own exclusion zones (her home, work, school): never a zone of his.
    out["zones"] = [
        _pick(z, ("id", "kind", "label", "shape", "removed_at"))
        for z in order.get("zones", [])
        if z.get("order_id") == order["id"] and z.get("kind") == "exclusion"
    ]
    return out


def shown_distance(metres: float | None, view_m: float, warning_m: float) -> dict[str, Any] | None:
    """A distance as her app would show it: within her view, to 10 m; beyond it, the band."""
    if metres is None:
        return None
    if metres <= view_m:
        return {"m": int(round(metres, -1))}
    if metres <= warning_m:
        return {"from_m": int(view_m), "to_m": int(warning_m)}
    return {"from_m": int(warning_m)}


def _approach(
    alert: dict[str, Any], order: dict[str, Any] | None, targets: dict[str, Any], actors: dict[str, str]
) -> dict[str, Any]:
    view_m = float(order["victim_view_m"]) if order and order.get("victim_view_m") is not None else 600.0
    warning_m = float(order["warning_distance_m"]) if order else view_m
    zone_labels = {z["id"]: z["label"] for z in _order(order)["zones"]} if order else {}
    measured = [
        (c["at"], m)
        for c in alert["timeline"]
        if alert["kind"] in BETWEEN and (m := _distance(c.get("facts"))) is not None
    ]
    closest = min(measured, key=lambda p: p[1]) if measured else None
    return {
        "id": alert["id"],
        "kind": alert["kind"],
        "severity": alert["severity"],
        "state": alert["state"],
        "order": alert.get("order_id"),
        "zone": zone_labels.get(alert.get("zone_id") or ""),  # the order's zones only: hers
        "opened_at": alert["opened_at"],
        "closed_at": alert["updated_at"] if alert["state"] in TERMINAL else None,
        "active_s": _active_s(alert),
        "closest": None
        if closest is None
        else {"at": closest[0], **(shown_distance(closest[1], view_m, warning_m) or {})},
        "distances": [{"at": at, **(shown_distance(m, view_m, warning_m) or {})} for at, m in measured],
        "steps": [
            {
                "at": c["at"],
                "change": c["change"],
                "state": c["state"],
                "by": ROLE_WORDS.get(actors.get(c["actor"], "system"), "staff"),
            }
            for c in alert["timeline"]
        ],
        "dispatch": [
            {
                "to": _target(targets, d["target"]),
                "sent_at": d.get("created_at"),
                "delivered_at": d.get("delivered_at"),
                "acknowledged_at": d.get("acked_at"),
            }
            for d in alert["deliveries"]
        ],
        "reports_back": [
            {
                "at": c["received_at"],
                "from": _target(targets, c["target"]),
                "status": c["status"]
                if isinstance(c.get("status"), str) and _WORD.match(c["status"])
                else "other",
            }
            for c in alert["callbacks"]
        ],
    }


def _target(targets: dict[str, Any], target_id: str) -> dict[str, Any]:
    found = targets.get(target_id) or {}
    return {"name": found.get("name"), "agency": found.get("agency")}


def _distance(facts: Any) -> float | None:
    if not isinstance(facts, dict):
        return None
    value = facts.get("distance_m")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _active_s(alert: dict[str, Any]) -> float | None:
    """How long the condition held: from the first change with it active to the first after that
    with it not (the alert's last change if it never cleared)."""
    start: datetime | None = None
    end: datetime | None = None
    for change in alert["timeline"]:
        at = datetime.fromisoformat(change["at"])
        if change.get("active") and start is None:
            start = at
        elif start is not None and not change.get("active"):
            end = at
            break
    if start is None:
        return None
    if end is None:
        end = datetime.fromisoformat(alert["updated_at"])
    return max(0.0, round((end - start).total_seconds()))
