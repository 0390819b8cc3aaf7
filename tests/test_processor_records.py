"""A batch's delivery records merged (processor `_records_together`): which commands a record may
be moved ahead of, and every command answered at its own place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vigil.commands import Attempt, Callback, Command, Escalate, Ingest, Record, Tick
from vigil.dispatch.reports import Status
from vigil.processor import _records_together

AT = datetime(2026, 12, 7, tzinfo=UTC)


def _record(delivery: int) -> Record:
    return Record((Attempt(delivery, AT, 200, delivered=True),))


def test_records_separated_by_reports_and_ticks_become_one_at_the_first_ones_turn() -> None:
    commands: list[Command[Any]] = [_record(1), Ingest([], AT), _record(2), Tick(), _record(3)]
    plan = _records_together(commands)
    assert [places for _, places in plan] == [[0, 2, 4], [1], [3]]
    merged = plan[0][0]
    assert isinstance(merged, Record)
    assert [a.delivery_id for a in merged.attempts] == [1, 2, 3]


def test_a_record_is_never_moved_ahead_of_an_escalation_or_a_dispatch_report() -> None:
    # both touch delivery rows: a record after one must see what it wrote
    escalate = Escalate(7, "no acknowledgement")
    commands: list[Command[Any]] = [_record(1), escalate, _record(2), _record(3)]
    plan = _records_together(commands)
    assert [places for _, places in plan] == [[0], [1], [2, 3]]
    assert plan[0][0] is commands[0] and plan[1][0] is escalate


_kinds = st.sampled_from(["record", "ingest", "tick", "escalate", "callback"])


def _command(kind: str, n: int) -> Command[Any]:
    if kind == "record":
        return _record(n)
    if kind == "ingest":
        return Ingest([], AT)
    if kind == "tick":
        return Tick()
    if kind == "escalate":
        return Escalate(n, "why")
    return Callback("target", f"cb-{n}", "alert", Status.ACCEPTED, None, "", {})


@given(st.lists(_kinds, max_size=30))
def test_every_command_is_answered_once_and_no_attempt_crosses_a_delivery_writer(kinds: list[str]) -> None:
    commands = [_command(kind, n) for n, kind in enumerate(kinds)]
    plan = _records_together(commands)
    places = sorted(p for _, group in plan for p in group)
    assert places == list(range(len(commands)))  # every command answered, once
    # the plan runs in order of each group's first place, and every attempt keeps its order
    assert [group[0] for _, group in plan] == sorted(group[0] for _, group in plan)
    attempts = [a.delivery_id for c, _ in plan if isinstance(c, Record) for a in c.attempts]
    assert attempts == [n for n, k in enumerate(kinds) if k == "record"]
    for command, group in plan:
        if isinstance(command, Record):
            # no command that writes delivery rows lies between the first and the last merged
            between = kinds[group[0] : group[-1] + 1]
            assert "escalate" not in between and "callback" not in between
            assert len(command.attempts) == len(group)
        else:
            assert len(group) == 1 and command is commands[group[0]]
