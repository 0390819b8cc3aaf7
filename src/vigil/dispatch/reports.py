"""What a dispatch system reports back about a pushed alert, and what each report does to the alert.
Pure: handed the alert's state and what the same target reported before, it decides.

Police and probation answer independently (a joint response), so each target's reports must move
forward on their own; the alert's state moves only when a report is ahead of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vigil.domain.alerts import TERMINAL, AlertState, can_move


class Status(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNITS_ASSIGNED = "units_assigned"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    CLOSED = "closed"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


_ORDER = {
    Status.RECEIVED: 0,
    Status.ACCEPTED: 1,
    Status.REJECTED: 1,
    Status.UNITS_ASSIGNED: 2,
    Status.EN_ROUTE: 3,
    Status.ON_SCENE: 4,
    Status.CLOSED: 5,
}

_STATE = {
    Status.ACCEPTED: AlertState.ACKNOWLEDGED,
    Status.UNITS_ASSIGNED: AlertState.DISPATCHED,
    Status.EN_ROUTE: AlertState.DISPATCHED,
    Status.ON_SCENE: AlertState.ON_SCENE,
}


class IllegalReport(ValueError):
    """A report that the alert's or the target's history does not allow; nothing is changed."""


@dataclass(frozen=True, slots=True)
class Verdict:
    move_to: AlertState | None  # None: a timeline entry only
    escalate: bool = False  # the target refused: the next one by priority is told at once


def judge(status: Status, outcome: Outcome | None, state: AlertState, previous: Status | None) -> Verdict:
    """What a target's report does, given the alert's state and that target's latest report."""
    if status is Status.RECEIVED:
        return Verdict(None)  # a receipt for whichever push came last: never a step back
    if previous is Status.CLOSED:
        raise IllegalReport(f"this target already reported the alert closed; {status} cannot follow")
    if previous is Status.REJECTED:
        raise IllegalReport(f"this target rejected the alert; {status} cannot follow")
    if previous is not None and _ORDER[status] < _ORDER[previous]:
        raise IllegalReport(f"{status} after {previous} goes backwards")
    if state in TERMINAL:
        if status is Status.CLOSED:
            return Verdict(None)  # they closed it too
        raise IllegalReport(f"the alert is already {state}; {status} cannot follow")
    if status is Status.REJECTED:
        return Verdict(None, escalate=True)
    if status is Status.CLOSED:
        if outcome is None:
            raise IllegalReport("closed needs an outcome: resolved or false_alarm")
        return Verdict(AlertState(outcome.value))
    target = _STATE.get(status)
    if target is not None and can_move(state, target):
        return Verdict(target)
    return Verdict(None)  # news the alert's state already reflects (another agency got there first)


def latest(statuses: list[Status]) -> Status | None:
    """A target's furthest report so far."""
    furthest: Status | None = None
    for status in statuses:  # in the order received: of two at the same step, the later counts
        if furthest is None or _ORDER[status] >= _ORDER[furthest]:
            furthest = status
    return furthest
