"""Her evidence pack never holds his whereabouts: for generated scenes (his track, hers, alerts whose
facts carry both positions, pushes and reports back that name his place, notes that say it, zones of
his), no coordinate of his track appears anywhere in her pack, in any form."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.evidence.pack import shown_distance, victim_pack
from vigil.evidence.report import seal

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# His places and hers in disjoint ranges, so a value of hers can never be mistaken for one of his.
his_place = st.tuples(st.floats(37.56, 37.60), st.floats(127.16, 127.20))
her_place = st.tuples(st.floats(37.50, 37.55), st.floats(127.10, 127.15))


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * 111_195.0
    dx = (a[1] - b[1]) * 111_195.0 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


def _position(place: tuple[float, float], at: datetime) -> dict[str, Any]:
    return {"lat": place[0], "lon": place[1], "accuracy_m": 8.0, "time": at.isoformat(), "age_s": 0.0}


def scene(him: list[tuple[float, float]], her: list[tuple[float, float]], view_m: float) -> dict[str, Any]:
    """Full evidence (as `report.person_evidence` makes it) with his places everywhere they can be."""
    times = [T0 + timedelta(seconds=30 * i) for i in range(max(len(him), len(her)))]
    his_fixes = [
        {"device": "AM-1", "time": at.isoformat(), "lat": p[0], "lon": p[1], "accuracy_m": 5.0, "source": "gnss",
         "speed_mps": 1.0, "heading_deg": 90.0, "received_at": at.isoformat()}
        for p, at in zip(him, times, strict=False)
    ]  # fmt: skip
    her_fixes = [
        {"device": "W-1", "time": at.isoformat(), "lat": p[0], "lon": p[1], "accuracy_m": 5.0, "source": "gnss",
         "speed_mps": None, "heading_deg": None, "received_at": at.isoformat()}
        for p, at in zip(her, times, strict=False)
    ]  # fmt: skip
    timeline = []
    for i, (a, b, at) in enumerate(zip(him, her, times, strict=False)):
        facts = {
            "subject_position": _position(a, at), "protected_position": _position(b, at),
            "distance_m": _metres(a, b), "bearing_deg": 45.0, "compass": "NE", "confidence": "possible",
            "evidence": [_position(a, at)], "zone_label": f"near {a[0]}, {a[1]}", "stale": [],
        }  # fmt: skip
        timeline.append(
            {"change": "opened" if i == 0 else "updated", "at": at.isoformat(), "actor": "u-op" if i else "vigil",
             "note": f"he is at {a[0]}, {a[1]}", "kind": "proximity_violation", "state": "open",
             "active": i < len(him) - 1, "facts": facts}
        )  # fmt: skip
    a0 = him[0]
    alert = {
        "id": "a-1", "key": "proximity:S1:P1", "kind": "proximity_violation", "severity": "critical",
        "state": "resolved", "active": False, "late": False, "subject_id": "S1", "protected_person_id": "P1",
        "zone_id": "S1.home", "order_id": "O1", "opened_at": times[0].isoformat(),
        "updated_at": times[-1].isoformat(), "facts": timeline[-1]["facts"] if timeline else {},
        "timeline": timeline,
        "dispatch_events": [{"id": "ev-1", "facts": timeline[0]["facts"] if timeline else {}}],
        "deliveries": [
            {"event": "ev-1", "target": "t-112", "body": json.dumps({"lat": a0[0], "lon": a0[1]}),
             "state": "delivered", "attempts": 1, "created_at": times[0].isoformat(), "delivered_at": None,
             "acked_at": None, "last_status": 200, "last_error": f"at {a0}"}
        ],
        "callbacks": [
            {"id": "cb-1", "status": f"seen at {a0[0]}", "received_at": times[-1].isoformat(),
             "body": {"unit": "서울 12", "lat": a0[0], "lon": a0[1]}, "target": "t-112"}
        ],
    }  # fmt: skip
    return {
        "scope": {"kind": "person", "person": "P1", "from": T0.isoformat(), "until": times[-1].isoformat()},
        "generated": {"at": T0.isoformat(), "by": "u-p1", "vigil_version": "x", "format": "vigil-evidence/1",
                      "timezone": "Asia/Seoul"},
        "protected_person": {"id": "P1", "name": "이영희"},
        "subjects": [{"id": "S1", "name": "김철수", "legal_basis": "parole", "case_reference": "2026고단1"}],
        "orders": [
            {"id": "O1", "subject_id": "S1", "protected_person_id": "P1", "violation_distance_m": 100.0,
             "warning_distance_m": 1000.0, "victim_view_m": view_m, "reference": "2026즈기1",
             "subject": {"id": "S1", "name": "김철수", "case_reference": "2026고단1"},
             "zones": [
                 {"id": "S1.home", "subject_id": "S1", "order_id": None, "kind": "inclusion", "label": "his home",
                  "shape": {"circle": {"lat": a0[0], "lon": a0[1], "radius_m": 50.0}}},
                 {"id": "O1.z1", "subject_id": None, "order_id": "O1", "kind": "exclusion", "label": "her home",
                  "shape": {"circle": {"lat": her[0][0], "lon": her[0][1], "radius_m": 200.0}}},
             ]}
        ],
        "devices": {"subject": [{"id": "AM-1"}], "protected_person": [{"id": "W-1"}]},
        "alerts": [alert],
        "tracks": {"subject": his_fixes, "protected_person": her_fixes},
        "device_events": [
            {"device": "AM-1", "time": T0.isoformat(), "kind": "strap_open", "lat": a0[0], "lon": a0[1]},
            {"device": "W-1", "time": T0.isoformat(), "kind": "sos", "lat": her[0][0], "lon": her[0][1]},
        ],
        "dispatch_targets": [{"id": "t-112", "name": "112", "agency": "police"}],
        "actors": {"u-op": "operator", "vigil": "system"},
    }  # fmt: skip


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for k, x in value.items() for v in (k, *_values(x))]
    if isinstance(value, list):
        return [v for x in value for v in _values(x)]
    return [value]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    him=st.lists(his_place, min_size=1, max_size=8),
    her=st.lists(her_place, min_size=1, max_size=8),
    view_m=st.sampled_from([0.0, 300.0, 600.0, 5000.0]),
)
def test_her_pack_never_holds_his_coordinates(him, her, view_m) -> None:
    full = scene(him, her, view_m)
    pack = victim_pack(full)
    sealed = seal(pack)  # what she is handed: the canonical JSON
    text = sealed.canonical.decode()
    his = {c for p in him for c in p}
    numbers = [v for v in _values(pack) if isinstance(v, float)]
    assert not his & set(numbers)
    for c in his:
        # no form of it either: not its digits in a string, not rounded to 5 places
        assert repr(c) not in text and f"{c:.5f}" not in text and f"{c:.4f}" not in text
    for word in ("AM-1", "bearing", "compass", "his home", "note", "body", "position", "he is at"):
        assert word not in text, word
    # what she may see is there: her own track, the approach and what was done
    assert [f["lat"] for f in pack["own_track"]] == [p[0] for p in her]
    (approach,) = pack["approaches"]
    assert approach["dispatch"][0]["to"] == {"name": "112", "agency": "police"}
    assert approach["reports_back"][0]["status"] == "other"  # a message, not a status code
    assert {s["by"] for s in approach["steps"]} <= {"vigil", "control_centre"}
    # distances as her app shows them: within the view to 10 m, beyond it the band only
    for d in approach["distances"]:
        assert ("m" in d and d["m"] % 10 == 0 and d["m"] <= view_m) or d.get("from_m") in (view_m, 1000)


def test_a_distance_is_shown_as_her_app_would() -> None:
    assert shown_distance(123.4, 600, 1000) == {"m": 120}
    assert shown_distance(601, 600, 1000) == {"from_m": 600, "to_m": 1000}
    assert shown_distance(1500, 600, 1000) == {"from_m": 1000}
    assert shown_distance(None, 600, 1000) is None


def test_a_zone_alerts_distance_is_not_a_distance_between_them() -> None:
    full = scene([(37.57, 127.17)], [(37.52, 127.12)], 600.0)
    full["alerts"][0]["kind"] = "zone_violation"
    full["alerts"][0]["zone_id"] = "O1.z1"
    (approach,) = victim_pack(full)["approaches"]
    assert approach["closest"] is None and approach["distances"] == []
    assert approach["zone"] == "her home"
