"""The CloudEvents 1.0 envelope (structured mode, JSON format) around a push's data."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from vigil.dispatch.dossier import Dossier

SPECVERSION = "1.0"
TYPE_PREFIX = "org.vigil.alert."
# The sequence extension is a string compared lexicographically, so it is zero-padded.
SEQUENCE_DIGITS = 10


def envelope(d: Dossier, data: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": d.event_id,
        "source": d.source,
        "type": TYPE_PREFIX + d.push_type.value,
        "subject": d.alert.id,
        "time": d.at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "sequence": f"{d.sequence:0{SEQUENCE_DIGITS}d}",
        "severity": d.alert.severity.value,
    }
    if d.incident_id is not None:
        # Extension attributes: the pushes of one danger share these, whatever alert they are about.
        event["incident"] = d.incident_id
        if d.incident_number is not None:
            event["incidentnumber"] = d.incident_number
    if d.escalation_level > 0:
        event["escalation"] = d.escalation_level
    event["data"] = data
    return event
