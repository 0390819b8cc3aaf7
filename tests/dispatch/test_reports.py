"""What a dispatch system's report does to the alert: the callback state machine, as a table."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.dispatch.reports import IllegalReport, Outcome, Status, Verdict, judge, latest
from vigil.domain.alerts import TERMINAL, AlertState, can_move

S, A = Status, AlertState
OPEN, ACK, DISP, SCENE, RESOLVED, FALSE = (
    A.OPEN,
    A.ACKNOWLEDGED,
    A.DISPATCHED,
    A.ON_SCENE,
    A.RESOLVED,
    A.FALSE_ALARM,
)
LIVE = (OPEN, ACK, DISP, SCENE)
NOTE = Verdict(None)  # a timeline entry only
ESCALATE = Verdict(None, escalate=True)
ILLEGAL = "illegal"


def outcome_for(status: Status) -> Outcome | None:
    return Outcome.RESOLVED if status is S.CLOSED else None


# (status, outcome, alert state, this target's previous report) -> verdict, or ILLEGAL
TABLE: list[tuple[Status, Outcome | None, AlertState, Status | None, Verdict | str]] = [
    # the first report of each kind on an open alert
    (S.RECEIVED, None, OPEN, None, NOTE),
    (S.ACCEPTED, None, OPEN, None, Verdict(ACK)),
    (S.REJECTED, None, OPEN, None, ESCALATE),
    (S.UNITS_ASSIGNED, None, OPEN, None, Verdict(DISP)),  # a step may skip ahead
    (S.EN_ROUTE, None, OPEN, None, Verdict(DISP)),
    (S.ON_SCENE, None, OPEN, None, Verdict(SCENE)),
    (S.CLOSED, Outcome.RESOLVED, OPEN, None, Verdict(RESOLVED)),
    (S.CLOSED, Outcome.FALSE_ALARM, OPEN, None, Verdict(FALSE)),
    (S.CLOSED, None, OPEN, None, ILLEGAL),  # closed needs an outcome
    # the usual cycle, step by step
    (S.ACCEPTED, None, OPEN, S.RECEIVED, Verdict(ACK)),
    (S.UNITS_ASSIGNED, None, ACK, S.ACCEPTED, Verdict(DISP)),
    (S.EN_ROUTE, None, DISP, S.UNITS_ASSIGNED, NOTE),  # the alert already says dispatched
    (S.ON_SCENE, None, DISP, S.EN_ROUTE, Verdict(SCENE)),
    (S.CLOSED, Outcome.RESOLVED, SCENE, S.ON_SCENE, Verdict(RESOLVED)),
    (S.CLOSED, Outcome.FALSE_ALARM, SCENE, S.ON_SCENE, Verdict(FALSE)),
    # another agency got further first: news only, the state never goes back
    (S.ACCEPTED, None, ACK, None, NOTE),
    (S.ACCEPTED, None, DISP, None, NOTE),
    (S.ACCEPTED, None, SCENE, S.RECEIVED, NOTE),
    (S.UNITS_ASSIGNED, None, DISP, None, NOTE),
    (S.UNITS_ASSIGNED, None, SCENE, None, NOTE),
    (S.EN_ROUTE, None, SCENE, None, NOTE),
    (S.ON_SCENE, None, SCENE, None, NOTE),
    (S.RECEIVED, None, SCENE, None, NOTE),
    (S.CLOSED, Outcome.RESOLVED, DISP, None, Verdict(RESOLVED)),
    # a refusal escalates and moves nothing, wherever the alert stands
    (S.REJECTED, None, ACK, None, ESCALATE),
    (S.REJECTED, None, DISP, S.RECEIVED, ESCALATE),
    (S.REJECTED, None, SCENE, None, ESCALATE),
    (S.REJECTED, None, OPEN, S.ACCEPTED, ESCALATE),  # accepted, then took it back (same step)
    # the same step again is allowed (a second unit, a repeated en route)
    (S.RECEIVED, None, OPEN, S.RECEIVED, NOTE),
    (S.ACCEPTED, None, ACK, S.ACCEPTED, NOTE),
    (S.EN_ROUTE, None, DISP, S.EN_ROUTE, NOTE),
    (S.ON_SCENE, None, SCENE, S.ON_SCENE, NOTE),
    (S.ACCEPTED, None, ACK, S.REJECTED, ILLEGAL),
    # a receipt is never a step back: it may acknowledge whichever push came last, from anyone
    (S.RECEIVED, None, ACK, S.ACCEPTED, NOTE),
    (S.RECEIVED, None, SCENE, S.ON_SCENE, NOTE),
    (S.RECEIVED, None, OPEN, S.REJECTED, NOTE),  # e.g. the escalation re-sent to a refusing target
    (S.RECEIVED, None, RESOLVED, S.CLOSED, NOTE),
    (S.RECEIVED, None, OPEN, S.CLOSED, NOTE),
    # backwards
    (S.ACCEPTED, None, DISP, S.UNITS_ASSIGNED, ILLEGAL),
    (S.UNITS_ASSIGNED, None, DISP, S.EN_ROUTE, ILLEGAL),
    (S.EN_ROUTE, None, SCENE, S.ON_SCENE, ILLEGAL),
    (S.REJECTED, None, DISP, S.UNITS_ASSIGNED, ILLEGAL),
    # after a rejection, nothing further from that target
    (S.UNITS_ASSIGNED, None, OPEN, S.REJECTED, ILLEGAL),
    (S.ON_SCENE, None, OPEN, S.REJECTED, ILLEGAL),
    (S.CLOSED, Outcome.RESOLVED, OPEN, S.REJECTED, ILLEGAL),
    (S.REJECTED, None, OPEN, S.REJECTED, ILLEGAL),
    # after its close, nothing at all from that target
    (S.CLOSED, Outcome.RESOLVED, RESOLVED, S.CLOSED, ILLEGAL),
    (S.ON_SCENE, None, SCENE, S.CLOSED, ILLEGAL),
    # a closed alert: the close reached them, or they closed it too; nothing else
    (S.RECEIVED, None, RESOLVED, None, NOTE),
    (S.RECEIVED, None, FALSE, S.RECEIVED, NOTE),
    (S.CLOSED, Outcome.RESOLVED, RESOLVED, None, NOTE),
    (S.CLOSED, Outcome.RESOLVED, FALSE, S.ON_SCENE, NOTE),  # their outcome does not reopen ours
    (S.CLOSED, None, RESOLVED, S.EN_ROUTE, NOTE),  # no outcome needed: it moves nothing
    (S.ACCEPTED, None, RESOLVED, None, ILLEGAL),
    (S.REJECTED, None, RESOLVED, None, ILLEGAL),
    (S.UNITS_ASSIGNED, None, FALSE, S.ACCEPTED, ILLEGAL),
    (S.ON_SCENE, None, RESOLVED, S.EN_ROUTE, ILLEGAL),
]


@pytest.mark.parametrize(("status", "outcome", "state", "previous", "expected"), TABLE)
def test_judge_table(
    status: Status,
    outcome: Outcome | None,
    state: AlertState,
    previous: Status | None,
    expected: Verdict | str,
) -> None:
    if expected == ILLEGAL:
        with pytest.raises(IllegalReport):
            judge(status, outcome, state, previous)
    else:
        assert judge(status, outcome, state, previous) == expected


def test_the_table_has_no_contradictions() -> None:
    keys = [row[:4] for row in TABLE]
    assert len(keys) == len(set(keys))


ORDER = [S.RECEIVED, S.ACCEPTED, S.UNITS_ASSIGNED, S.EN_ROUTE, S.ON_SCENE, S.CLOSED]


def step(status: Status) -> int:
    return ORDER.index(S.ACCEPTED if status is S.REJECTED else status)


def expected_verdict(status: Status, state: AlertState, previous: Status | None) -> Verdict | str:
    """An independent statement of the rules, for every combination (outcome given when closed)."""
    if status is S.RECEIVED:
        return NOTE
    if previous in (S.CLOSED, S.REJECTED):
        return ILLEGAL
    if previous is not None and step(status) < step(previous):
        return ILLEGAL
    if state in TERMINAL:
        return NOTE if status is S.CLOSED else ILLEGAL
    if status is S.REJECTED:
        return ESCALATE
    if status is S.CLOSED:
        return Verdict(RESOLVED)
    wanted = {S.ACCEPTED: ACK, S.UNITS_ASSIGNED: DISP, S.EN_ROUTE: DISP, S.ON_SCENE: SCENE}.get(status)
    if wanted is not None and LIVE.index(wanted) > LIVE.index(state):
        return Verdict(wanted)
    return NOTE


@pytest.mark.parametrize(
    ("status", "state", "previous"),
    list(itertools.product(list(Status), list(AlertState), [None, *Status])),
)
def test_every_combination(status: Status, state: AlertState, previous: Status | None) -> None:
    expected = expected_verdict(status, state, previous)
    if expected == ILLEGAL:
        with pytest.raises(IllegalReport):
            judge(status, outcome_for(status), state, previous)
    else:
        assert judge(status, outcome_for(status), state, previous) == expected


def test_a_receipt_is_never_refused() -> None:
    for state, previous in itertools.product(list(AlertState), [None, *Status]):
        assert judge(S.RECEIVED, None, state, previous) == NOTE


# --- properties -------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    status=st.sampled_from(list(Status)),
    outcome=st.none() | st.sampled_from(list(Outcome)),
    state=st.sampled_from(list(AlertState)),
    previous=st.none() | st.sampled_from(list(Status)),
)
def test_judge_never_breaks_the_lifecycle(
    status: Status, outcome: Outcome | None, state: AlertState, previous: Status | None
) -> None:
    try:
        verdict = judge(status, outcome, state, previous)
    except IllegalReport:
        return
    assert isinstance(verdict, Verdict)
    if verdict.move_to is not None:
        assert can_move(state, verdict.move_to)
        assert state not in TERMINAL
    if state in TERMINAL:
        assert verdict.move_to is None and not verdict.escalate
    if status is S.REJECTED:
        assert verdict == ESCALATE  # a rejection never moves the state
    else:
        assert not verdict.escalate
    if status is S.CLOSED and state not in TERMINAL:
        assert outcome is not None and verdict.move_to == AlertState(outcome.value)
    if status is S.RECEIVED:
        assert verdict == NOTE  # a receipt, whenever it comes, moves nothing
        return
    # any other accepted report is this target's furthest from now on: its reports only move forward
    assert latest([previous, status] if previous is not None else [status]) is status
    assert previous not in (S.CLOSED, S.REJECTED)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(Status)), max_size=8))
def test_latest_is_the_furthest_and_the_later_of_a_tie(statuses: list[Status]) -> None:
    found = latest(statuses)
    if not statuses:
        assert found is None
        return
    assert found is not None
    furthest = max(step(s) for s in statuses)
    assert step(found) == furthest
    assert found is [s for s in statuses if step(s) == furthest][-1]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], None),
        ([S.RECEIVED], S.RECEIVED),
        ([S.RECEIVED, S.ACCEPTED], S.ACCEPTED),
        ([S.ACCEPTED, S.REJECTED], S.REJECTED),
        ([S.REJECTED, S.ACCEPTED], S.ACCEPTED),
        ([S.ON_SCENE, S.EN_ROUTE], S.ON_SCENE),
        ([S.CLOSED, S.RECEIVED], S.CLOSED),
    ],
)
def test_latest(statuses: list[Status], expected: Status | None) -> None:
    assert latest(statuses) is expected
