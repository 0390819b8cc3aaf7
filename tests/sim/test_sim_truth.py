"""Scoring alerts against the truth, on a hand-made case where every number is known."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from vigil.sim.simulator import TZ
from vigil.sim.truth import PROXIMITY, ZONE, Scanner, TrueEvent, TrueViolation, Truth, score

DAY = datetime(2026, 3, 16, 0, 0, tzinfo=TZ)


def t(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


def proximity(subject: str, person: str, start: datetime, end: datetime | None) -> TrueViolation:
    return TrueViolation(PROXIMITY, subject, person, f"O-{subject}", None, start, end, 50.0)


def alert(at: datetime, alert_id: str, kind: str, change: str, subject: str, **rest: Any) -> dict[str, Any]:
    line = {"at": at.isoformat(), "alert": alert_id, "kind": kind, "change": change, "subject": subject}
    return {"protected_person": None, "zone": None, **line, **rest}


TRUTH = Truth(
    start=DAY,
    until=DAY + timedelta(days=1),
    subjects=10,
    interval_s=60.0,
    violations=(
        proximity("S1", "P1", t(10, 0), t(10, 5)),  # detected 30 s late (warning escalated)
        proximity("S1", "P1", t(10, 6), t(10, 7)),  # the same alert is still open: detected at once
        proximity("S2", "P2", t(11, 0), t(11, 2)),  # nothing: missed
        TrueViolation(ZONE, "S3", None, None, "S3.curfew", t(12, 0), t(12, 10), 400.0),  # early: 0 s
        proximity("S8", "P8", t(18, 0), t(18, 5)),  # an old alert made active again: 20 s
    ),
    events=(
        TrueEvent("tamper", "strap_open", "AM-5", "S5", True, t(14, 0)),
        TrueEvent("sos", "sos", "W-6", "P6", False, t(15, 0)),
        TrueEvent("signal_loss", "silence", "AM-7", "S7", True, t(16, 0), t(16, 20)),
    ),
    incidents=(),
)

ALERTS = [
    alert(t(9, 58), "a-1", "proximity_warning", "opened", "S1", protected_person="P1"),
    alert(t(10, 0, 30), "a-1", "proximity_violation", "escalated", "S1", protected_person="P1"),
    alert(t(10, 3), "a-1", "proximity_violation", "updated", "S1", protected_person="P1"),
    alert(t(10, 9), "a-1", "proximity_violation", "cleared", "S1", protected_person="P1"),
    alert(t(11, 59), "a-2", "zone_violation", "opened", "S3", zone="S3.curfew"),
    alert(t(13, 0), "a-3", "proximity_violation", "opened", "S4", protected_person="P4"),  # false
    alert(t(10, 0), "a-4", "proximity_violation", "opened", "S2", protected_person="P9"),  # false: other pair
    alert(t(14, 0, 5), "a-5", "tamper", "opened", "S5"),
    alert(t(16, 5), "a-6", "signal_loss", "opened", "S7"),
    alert(t(17, 0), "a-8", "proximity_violation", "opened", "S8", protected_person="P8"),  # false
    alert(t(17, 1), "a-8", "proximity_violation", "cleared", "S8", protected_person="P8", active=False),
    alert(t(18, 0, 20), "a-8", "proximity_violation", "updated", "S8", protected_person="P8", active=True),
    alert(t(18, 1), "a-8", "proximity_violation", "updated", "S8", protected_person="P8", active=True),
    alert(t(18, 30), "a-8", "proximity_violation", "cleared", "S8", protected_person="P8", active=False),
    # back at warning level, maybe: not counted as false
    alert(t(20, 0), "a-8", "proximity_violation", "updated", "S8", protected_person="P8", active=True),
    alert(t(20, 10), "a-2", "zone_violation", "cleared", "S3", zone="S3.curfew", active=False),
    alert(t(21, 0), "a-2", "zone_violation", "updated", "S3", zone="S3.curfew", active=True),  # false
]


def test_detected_missed_false_and_delays() -> None:
    q = score(TRUTH, ALERTS)
    assert (q.true_violations, q.detected, q.missed, q.false_alerts) == (5, 4, 1, 4)
    assert sorted(q.delays_s) == [0.0, 0.0, 20.0, 30.0]
    assert q.delay_median_s == 10.0
    assert q.delay_p95_s == 30.0
    assert q.missed_violations[0].subject_id == "S2"
    assert {(line["alert"], line["change"]) for line in q.false_alert_lines} == {
        ("a-3", "opened"),
        ("a-4", "opened"),
        ("a-8", "opened"),
        ("a-2", "updated"),
    }
    assert q.subject_days == pytest.approx(10.0)
    assert q.false_per_100_subject_days == pytest.approx(40.0)
    assert q.events == {"tamper": (1, 1), "sos": (1, 0), "signal_loss": (1, 1)}
    assert q.detection_rate == pytest.approx(0.8)


def test_a_late_alert_beyond_two_intervals_is_a_miss_and_then_false() -> None:
    late = [
        alert(
            t(11, 2) + timedelta(seconds=121),
            "a-9",
            "proximity_violation",
            "opened",
            "S2",
            protected_person="P2",
        )
    ]
    q = score(TRUTH, late)
    assert q.detected == 0
    assert q.false_alerts == 0  # still within 5 min of a true violation of the pair


def test_nothing_true_nothing_raised() -> None:
    empty = Truth(DAY, DAY + timedelta(hours=12), 2, 60.0, (), (), ())
    q = score(empty, [])
    assert (q.true_violations, q.detected, q.false_alerts) == (0, 0, 0)
    assert q.delay_median_s is None and q.detection_rate is None


def test_the_scanner_places_crossings_to_the_second() -> None:
    """A margin falling at 10 m/s from 1 km crosses zero at 100 s and comes back at 300 s."""

    def margin(at: float) -> tuple[float, float, float]:
        m = 1000.0 - 10.0 * at if at < 200 else -1000.0 + 10.0 * (at - 200)
        return m, 10.0, float("inf")

    scanner = Scanner(margin, 10.0, 0.0)
    scanner.run(500.0)
    ((start, end, depth),) = scanner.intervals()
    assert abs(start - 100.0) <= 1.0
    assert end is not None and abs(end - 300.0) <= 1.0
    assert 900.0 <= depth <= 1000.0  # sampled every 10 s inside
