"""How things look on the wire: alerts, alert changes and positions as JSON."""

from __future__ import annotations

from typing import Any

from vigil.domain.alerts import Alert, AlertChange
from vigil.domain.model import Fix
from vigil.store.codec import facts_json, iso


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "active": alert.active,
        "late": alert.late,
        "subject": alert.subject_id,
        "protected_person": alert.protected_person_id,
        "zone": alert.zone_id,
        "order": alert.order_id,
        "opened_at": iso(alert.opened_at),
        "updated_at": iso(alert.updated_at),
        "escalated_at": iso(alert.raised_at),
        "facts": facts_json(alert.facts),
        "incident": alert.incident_id,
    }


def change_json(change: AlertChange) -> dict[str, Any]:
    return {
        "type": "alert",
        "change": change.change.value,
        "at": iso(change.at),
        "actor": change.actor,
        "note": change.note,
        "alert": alert_json(change.alert),
    }


def position_feature(person_id: str, person_kind: str, fix: Fix, pursuit: bool = False) -> dict[str, Any]:
    """A GeoJSON Feature (coordinates in [lon, lat] order); `pursuit`: the device that measured it is
    asked to report fast (pursuit mode)."""
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [fix.lon, fix.lat]},
        "properties": {
            "person": person_id,
            "person_kind": person_kind,
            "device": fix.device_id,
            "time": iso(fix.time),
            "accuracy_m": fix.accuracy_m,
            "speed_mps": fix.speed_mps,
            "heading_deg": fix.heading_deg,
            "source": fix.source.value,
            "pursuit": pursuit,
        },
    }
