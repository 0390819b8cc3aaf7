"""A simulated run written as a replay file goes through the real ingest -> engine -> alert path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sim_kit import START, caseload, closest_order

from vigil import replay
from vigil_sim.devices import Report
from vigil_sim.incidents import IncidentKind
from vigil_sim.simulator import Simulation, native_message
from vigil_sim.truth import score


@cache
def _namyangju_run() -> tuple[Simulation, dict[str, Any], replay.Outcome]:
    """Four subjects for 70 minutes; the closest pair's offender goes to her after 10 minutes."""
    load = caseload(4, 5)
    order = closest_order(load)
    sim = Simulation(load, seed=5, start=START, incident_rate=0.0)
    sim.force(
        IncidentKind.NAMYANGJU, order.subject_id, START + timedelta(minutes=10), order.protected_person_id
    )
    until = START + timedelta(minutes=70)
    doc = sim.replay_document(sim.advance(until), until)
    return sim, doc, replay.simulate(replay.parse(doc))


def test_the_replay_document_is_a_valid_scenario_and_nothing_is_refused() -> None:
    _, doc, outcome = _namyangju_run()
    assert outcome.refusals == []
    assert doc["timezone"] == "Asia/Seoul"
    assert {d["kind"] for p in doc["protected_persons"] for d in p["devices"]} <= {"smartwatch", "phone"}
    assert all(z["kind"] == "inclusion" and z["schedule"] for z in doc["zones"])
    assert all(o["zones"][0]["circle"]["radius_m"] >= 150 for o in doc["orders"])
    assert len(doc["messages"]) > 300


def test_the_forced_namyangju_raises_alerts_that_score_as_detected() -> None:
    sim, _, outcome = _namyangju_run()
    order = closest_order(caseload(4, 5))
    kinds = {(a["kind"], a["subject"]) for a in outcome.alerts}
    assert ("tamper", order.subject_id) in kinds
    assert ("proximity_warning", order.subject_id) in kinds or (
        "proximity_violation",
        order.subject_id,
    ) in kinds
    quality = score(sim.truth, outcome.alerts)
    pair = [v for v in sim.truth.proximity_violations if v.order_id == order.id]
    assert pair and pair[0] not in quality.missed_violations
    assert quality.events["tamper"] == (1, 1)


def test_osmand_reports_become_native_messages_in_metres_per_second() -> None:
    report = Report(
        send_at=datetime(2026, 3, 16, 1, 0, 2, tzinfo=UTC),
        device_id="P-000001",
        protocol="osmand",
        payload=[
            ("id", "P-000001"),
            ("timestamp", "1773622800"),  # 2026-03-16T01:00:00Z
            ("lat", "37.500000"),
            ("lon", "127.000000"),
            ("accuracy", "12.5"),
            ("speed", "10.00"),
            ("bearing", "90.0"),
            ("batt", "80"),
            ("alarm", "sos"),
        ],
    )
    assert native_message(report) == {
        "device": "P-000001",
        "at": "2026-03-16T10:00:00+09:00",
        "fix": {
            "lat": 37.5,
            "lon": 127.0,
            "accuracy_m": 12.5,
            "speed_mps": 5.14,
            "heading_deg": 90.0,
            "battery_pct": 80.0,
        },
        "event": "sos",
    }


def test_late_messages_carry_their_arrival_time() -> None:
    _, doc, _ = _namyangju_run()
    for m in doc["messages"]:
        if "received_at" in m:
            assert m["received_at"] != m["at"]
    assert any("received_at" in m for m in doc["messages"])  # latency and clock skew alone do that


def test_an_alert_line_carries_tier_evidence_and_the_quality_marks() -> None:
    from zoneinfo import ZoneInfo

    from vigil.domain.alerts import (
        Alert,
        AlertChange,
        AlertKey,
        AlertKind,
        AlertState,
        Change,
        Facts,
        Position,
    )

    at = datetime(2026, 3, 16, 1, 0, 0, tzinfo=UTC)
    fixes = (
        Position(37.5, 127.0, 12.0, at - timedelta(seconds=60), 60.0),
        Position(37.501, 127.001, None, at, 0.0, source="cell"),
    )
    facts = Facts(tier="warning", peak_tier="violation", inferred=True, evidence=fixes, unconfirmed=True)
    alert = Alert(
        "a-1",
        AlertKey("proximity", "S1", "P1"),
        AlertKind.PROXIMITY_VIOLATION,
        AlertState.OPEN,
        True,
        at,
        at,
        facts,
        subject_id="S1",
        protected_person_id="P1",
    )
    line = replay.alert_line(AlertChange(alert, Change.UPDATED, at), ZoneInfo("Asia/Seoul"))
    assert list(line)[:9] == [
        "at", "alert", "kind", "change", "subject", "protected_person", "zone", "distance_m", "late"
    ]  # fmt: skip
    assert line["tier"] == "warning" and line["peak_tier"] == "violation"
    assert line["inferred"] is True and line["unconfirmed"] is True
    assert line["evidence"] == [
        {"lat": 37.5, "lon": 127.0, "accuracy_m": 12.0, "time": "2026-03-16T09:59:00+09:00"},
        {"lat": 37.501, "lon": 127.001, "accuracy_m": None, "time": "2026-03-16T10:00:00+09:00"},
    ]
    plain = replay.alert_line(AlertChange(alert, Change.OPENED, at), ZoneInfo("UTC"))
    assert plain["clock_suspect"] is None  # the older extra fields are unchanged


def test_after_the_strap_cut_his_monitor_no_longer_tells_where_he_is() -> None:
    sim, _, outcome = _namyangju_run()
    order = closest_order(caseload(4, 5))
    [cut] = [e for e in sim.truth.events if e.event == "strap_cut"]
    [blind] = sim.truth.blind
    assert (blind.subject_id, blind.device_id, blind.start) == (order.subject_id, cut.device_id, cut.at)
    assert blind.end > blind.start
    quality = score(sim.truth, outcome.alerts)
    # what began after the cut is the tamper's, not a position rule's miss
    assert all(v.start >= blind.start for v in quality.excused_violations)
    assert all(v.start < blind.start or v.subject_id != order.subject_id for v in quality.missed_violations)
