"""What an alert change says to her (notify/planning.py, pure): which push, which text, and none for
what is not a live danger to her now."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from vigil.domain.alerts import Alert, AlertChange, AlertKey, AlertKind, AlertState, Change, Facts
from vigil.notify.planning import Kind, push_kind, rounded_up, text, text_due

T0 = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)


def change(kind: AlertKind = AlertKind.PROXIMITY_WARNING, what: Change = Change.OPENED, distance: float = 850,
           tier: str | None = "warning", **alert: object) -> AlertChange:  # fmt: skip
    facts = Facts(distance_m=distance, tier=tier, unconfirmed=bool(alert.pop("unconfirmed", False)),
                  inferred=bool(alert.pop("inferred", False)))  # fmt: skip
    base = Alert(id="a-1", key=AlertKey("proximity", "S1", "P1"), kind=kind, state=AlertState.OPEN, active=True,
                 opened_at=T0, updated_at=T0, facts=facts, subject_id="S1", protected_person_id="P1", order_id="O1")  # fmt: skip
    return AlertChange(replace(base, **alert), what, T0)  # type: ignore[arg-type]


VIEW = 600.0  # the order's victim view: within it the app shows him exactly


def test_pushes_once_he_is_within_her_view_a_danger_and_her_sos_answered() -> None:
    assert push_kind(change(distance=850), VIEW) is None  # a warning beyond her view: a text, no push
    assert push_kind(change(distance=500), VIEW) is Kind.NEAR
    assert push_kind(change(what=Change.UPDATED, distance=590), VIEW) is Kind.NEAR  # he came within it
    assert push_kind(change(what=Change.UPDATED, distance=450), VIEW, {"near"}) is None  # once
    violation = change(AlertKind.PROXIMITY_VIOLATION, Change.ESCALATED, 90, "violation")
    assert push_kind(violation, VIEW, {"near"}) is Kind.DANGER
    assert push_kind(replace(violation, change=Change.UPDATED), VIEW, {"near", "danger"}) is None
    assert (
        push_kind(change(AlertKind.PROXIMITY_VIOLATION, distance=50, tier="violation"), VIEW) is Kind.DANGER
    )
    sos = change(AlertKind.SOS, tier=None)
    assert push_kind(sos, VIEW) is None
    for answered in (Change.ACKNOWLEDGED, Change.DISPATCHED):
        assert push_kind(replace(sos, change=answered), VIEW) is Kind.SOS_ANSWERED
    assert push_kind(replace(sos, change=Change.RESOLVED), VIEW) is None


def test_a_violation_beyond_her_view_is_not_pushed_one_without_a_distance_is() -> None:
    # an order whose violation distance is wider than her view: the exact line is not hers to learn
    wide = change(AlertKind.PROXIMITY_VIOLATION, distance=800, tier="violation")
    assert push_kind(wide, VIEW) is None
    assert push_kind(wide, 1000) is Kind.DANGER
    # her device saw his tag (no GPS): a danger, as her status says
    tag = change(AlertKind.PROXIMITY_VIOLATION, tier="violation")
    tag = replace(tag, alert=replace(tag.alert, facts=replace(tag.alert.facts, distance_m=None, ble=True)))
    assert push_kind(tag, VIEW) is Kind.DANGER
    assert push_kind(tag, None) is Kind.DANGER


@pytest.mark.parametrize(
    "other", [{"late": True}, {"unconfirmed": True}, {"active": False}, {"protected_person_id": None}]
)
def test_nothing_for_what_is_not_a_live_danger_to_her(other: dict) -> None:
    assert push_kind(change(distance=300, **other), VIEW) is None
    assert text_due(change(**other), None, 100) is None


def test_texts_at_the_warning_distance_then_per_step_closer_or_farther() -> None:
    assert text_due(change(), None, 100) == (Kind.NEAR, 850)
    assert text_due(change(what=Change.UPDATED, distance=760), 850, 100) is None  # 90 m: jitter
    assert text_due(change(what=Change.UPDATED, distance=750), 850, 100) == (Kind.DISTANCE, 750)
    assert text_due(change(what=Change.UPDATED, distance=950), 850, 100) == (Kind.DISTANCE, 950)
    assert text_due(change(what=Change.UPDATED, distance=1300, tier=None), 850, 100) is None  # he left
    assert text_due(change(AlertKind.PROXIMITY_VIOLATION, Change.ESCALATED, 90, "violation"), 150, 100) == (
        Kind.DANGER,
        90,
    )
    assert text_due(change(inferred=True), None, 100) is None  # he has passed: no distance now


def test_the_text_rounds_up_and_speaks_the_deployments_language() -> None:
    assert [rounded_up(d) for d in (0, 1, 100, 100.5, 850, 901)] == [100, 100, 100, 200, 900, 1000]
    assert "약 900 m 이내" in text(Kind.NEAR, 850, "ko")
    assert "within about 900 m" in text(Kind.NEAR, 850, "en")
    assert text(Kind.DANGER, 40, "xx") == text(Kind.DANGER, 40, "ko")
