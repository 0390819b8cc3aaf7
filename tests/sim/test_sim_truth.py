"""Scoring alerts against the truth, on a hand-made case where every number is known."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil_sim.simulator import TZ
from vigil_sim.truth import (
    PROXIMITY,
    ZONE,
    PairDay,
    Scanner,
    TrueBlind,
    TrueEvent,
    TrueViolation,
    Truth,
    load,
    raises,
    score,
)

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
    assert sorted(d for _, d in q.detections) == sorted(q.delays_s)
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


# --- the tamper excuse ------------------------------------------------------------------------------

CUT = TrueBlind("S1", "AM-1", t(10, 0), t(12, 0))


def _cut_truth(*violations: TrueViolation) -> Truth:
    return Truth(DAY, DAY + timedelta(days=1), 10, 60.0, violations, (), (), blind=(CUT,))


def test_a_violation_that_begins_after_his_monitor_was_cut_is_excused_not_missed() -> None:
    after = TrueViolation(ZONE, "S1", None, None, "S1.curfew", t(11, 0), t(11, 30), 900.0)
    before = proximity("S1", "P1", t(9, 50), t(10, 20))  # under way at the cut: still expected
    other = proximity("S2", "P2", t(11, 0), t(11, 5))  # another subject: not excused
    q = score(_cut_truth(after, before, other), [])
    assert q.excused_violations == (after,)
    assert q.true_violations == 2 and q.missed == 2
    assert set(q.missed_violations) == {before, other}


def test_an_alert_on_the_dropped_monitor_is_excused_not_false() -> None:
    lines = [
        alert(t(11, 0), "a-1", "zone_violation", "opened", "S1", zone="O1.z1"),  # in the window
        alert(t(12, 4), "a-2", "zone_violation", "opened", "S1", zone="O1.z1"),  # 4 min after: still
        alert(t(12, 10), "a-3", "zone_violation", "opened", "S1", zone="O1.z2"),  # after: false
    ]
    q = score(_cut_truth(), lines)
    assert [line["alert"] for line in q.excused_alert_lines] == ["a-1", "a-2"]
    assert [line["alert"] for line in q.false_alert_lines] == ["a-3"]


def test_a_proximity_reactivation_counts_as_false_only_when_its_tier_says_violation() -> None:
    def lines(tier: str | None) -> list[dict[str, Any]]:
        p = {"protected_person": "P4"}
        return [
            alert(t(13, 0), "a-1", "proximity_warning", "opened", "S4", **p, tier="warning"),
            alert(t(13, 1), "a-1", "proximity_warning", "cleared", "S4", **p, active=False, tier=None),
            alert(t(13, 5), "a-1", "proximity_violation", "updated", "S4", **p, active=True, tier=tier),
        ]

    empty = Truth(DAY, DAY + timedelta(days=1), 10, 60.0, (), (), ())
    assert score(empty, lines("warning")).false_alerts == 0
    assert score(empty, lines(None)).false_alerts == 0  # an engine that does not say: benefit of doubt
    assert score(empty, lines("violation")).false_alerts == 1


def test_the_detection_window_follows_the_slower_partys_interval() -> None:
    v = proximity("S1", "P1", t(10, 0), t(10, 2))
    raised = [alert(t(10, 10), "a-1", "proximity_violation", "opened", "S1", protected_person="P1")]
    fast = Truth(DAY, DAY + timedelta(days=1), 1, 60.0, (v,), (), ())
    slow = Truth(DAY, DAY + timedelta(days=1), 1, 60.0, (v,), (), (), intervals={"P1": 300.0})
    assert score(fast, raised).missed == 1  # 8 min after the end: beyond 2 x 60 s
    assert score(slow, raised).missed == 0  # within 2 x 300 s


# --- operator load ----------------------------------------------------------------------------------


def test_raises_are_openings_and_returns_to_active_not_escalations_of_an_active_alert() -> None:
    p = {"protected_person": "P1"}
    lines = [
        alert(t(9, 0), "a-1", "proximity_warning", "opened", "S1", **p),  # raise
        alert(t(9, 1), "a-1", "proximity_violation", "escalated", "S1", **p),  # active already
        alert(t(9, 2), "a-1", "proximity_violation", "updated", "S1", **p),  # active already
        alert(t(9, 3), "a-1", "proximity_violation", "cleared", "S1", **p, active=False),
        alert(t(9, 4), "a-1", "proximity_violation", "updated", "S1", **p, active=True),  # raise
        alert(t(9, 5), "a-1", "proximity_violation", "cleared", "S1", **p, active=False),
        alert(t(9, 6), "a-1", "proximity_violation", "escalated", "S1", **p, active=True),  # raise
        alert(t(9, 7), "a-2", "signal_loss", "opened", "S1", device="AM-1"),  # raise
        alert(t(9, 8), "a-2", "signal_loss", "updated", "S1", device="AM-1", active=False),
        alert(t(9, 9), "a-2", "signal_loss", "updated", "S1", device="AM-1", active=True),  # raise
    ]
    found = raises(lines)
    assert [(r.alert, r.at.minute) for r in found] == [
        ("a-1", 0),
        ("a-1", 4),
        ("a-1", 6),
        ("a-2", 7),
        ("a-2", 9),
    ]
    assert {r.pair for r in found} == {("S1", "protected:P1"), ("S1", "signal_loss:AM-1")}
    assert found[0].day == "2026-03-16"


def test_load_counts_raises_per_pair_and_day_and_names_the_unjustified_ones() -> None:
    def flaps(alert_id: str, subject: str, person: str, hour: int, n: int) -> list[dict[str, Any]]:
        out = []
        for k in range(n):
            p = {"protected_person": person}
            out.append(
                alert(
                    t(hour, 2 * k),
                    alert_id,
                    "proximity_warning",
                    "opened" if k == 0 else "updated",
                    subject,
                    **p,
                )
            )
            out.append(
                alert(
                    t(hour, 2 * k + 1), alert_id, "proximity_warning", "cleared", subject, **p, active=False
                )
            )
        return out

    lines = flaps("a-1", "S1", "P1", 9, 4) + flaps("a-2", "S2", "P2", 10, 5) + flaps("a-3", "S3", "P3", 11, 2)
    # S2 and P2 truly met that day: their flapping is justified, S1's is not
    truth = Truth(DAY, DAY + timedelta(days=1), 4, 60.0, (proximity("S2", "P2", t(10, 3), t(10, 4)),), (), ())
    found = load(truth, lines)
    assert found.raises == 11 and found.lines == len(lines)
    assert found.raises_by_kind == {"proximity_warning": 11}
    assert found.raises_per_subject_day == pytest.approx(11 / 4)
    assert found.worst == PairDay("S2", "protected:P2", "2026-03-16", 5, True)
    assert found.noisy_pairs == (PairDay("S1", "protected:P1", "2026-03-16", 4, False),)


@given(st.lists(st.sampled_from(["opened", "updated+", "updated-", "escalated+", "cleared"]), max_size=30))
def test_raises_are_exactly_the_returns_to_active(steps: list[str]) -> None:
    lines, active, expected = [], False, 0
    for k, step in enumerate(steps):
        change = step.rstrip("+-")
        now = change != "cleared" and (change == "opened" or "+" in step)
        if change == "opened" or (now and not active):
            expected += 1
        active = now
        lines.append(alert(DAY + timedelta(seconds=k), "a-1", "tamper", change, "S1", active=now))
    assert len(raises(lines)) == expected <= len(lines)


def test_a_late_alert_from_a_batch_detects_the_breach_it_reveals_with_its_true_delay() -> None:
    v = proximity("S1", "P1", t(10, 0), t(10, 5))
    truth = Truth(DAY, DAY + timedelta(days=1), 1, 60.0, (v,), (), ())
    line = alert(t(10, 45), "a-1", "proximity_violation", "opened", "S1", protected_person="P1", late=True)
    revealed = {**line, "occurred_at": t(10, 1).isoformat()}
    q = score(truth, [revealed])
    assert (q.detected, q.false_alerts, q.delays_s) == (1, 0, (45 * 60.0,))
    q = score(truth, [line])  # no occurred_at: judged by when it was raised
    assert (q.missed, q.false_alerts) == (1, 1)


def test_the_warm_up_before_the_truths_start_is_not_scored() -> None:
    """A quality run's devices report for an hour before the measured day (the engine starts it
    knowing where everyone was). What was raised then only tells which alerts were active at the
    start: no raise, no line, no false alert is counted before it, and an alert still open then
    detects a violation under way."""
    start = t(1, 0)
    truth = Truth(
        start, DAY + timedelta(days=1), 1, 60.0, (proximity("S1", "P1", t(1, 30), t(1, 40)),), (), ()
    )
    p = {"protected_person": "P1"}
    lines = [
        alert(t(0, 10), "a-1", "location_loss", "opened", "S1", device="AM-1"),
        alert(t(0, 20), "a-2", "proximity_violation", "opened", "S9", protected_person="P9"),  # no truth
        alert(t(0, 50), "a-3", "proximity_warning", "opened", "S1", **p),
        alert(t(1, 30), "a-3", "proximity_violation", "escalated", "S1", **p),  # detects it at once
        alert(t(2, 0), "a-1", "location_loss", "cleared", "S1", device="AM-1", active=False),
        alert(t(2, 10), "a-1", "location_loss", "updated", "S1", device="AM-1", active=True),  # a raise
    ]
    found = load(truth, lines)
    assert found.raises_by_kind == {"location_loss": 1}
    assert found.lines == 3
    quality = score(truth, lines)
    assert (quality.detected, quality.missed, quality.false_alerts) == (1, 0, 0)
    assert quality.delays_s == (0.0,)
