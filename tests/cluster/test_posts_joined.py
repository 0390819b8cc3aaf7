"""A worker joins the parts of each post in its batch into one Ingest (worker `_posts_joined`):
every partition's reports keep their log order, and nothing moves across another command."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vigil.cluster.worker import _posts_joined
from vigil.commands import Command, Ingest, Tick
from vigil.domain.model import Fix

T0 = datetime(2026, 12, 7, 10, tzinfo=UTC)
Sink = Future[Any] | str | int | None


def _part(post: int, devices: list[str], vet: bool = False) -> Ingest:
    at = T0 + timedelta(milliseconds=post)
    return Ingest(tuple(enumerate(Fix(d, at, 37.5, 127.0) for d in devices)), at, None, vet)


def _devices(command: Command[Any]) -> list[str] | str:
    if not isinstance(command, Ingest):
        return type(command).__name__
    return [r.device_id for _, r in command.reports]


def test_the_parts_of_a_post_are_judged_as_one_unless_that_would_reorder_a_partition() -> None:
    local: Future[Any] = Future()
    batch: list[tuple[Command[Any], Sink]] = [
        (_part(1, ["a", "b"]), 3),
        (_part(2, ["p"]), 5),  # another post
        (_part(1, ["c"]), 4),  # joins post 1's first part, ahead of p: another partition
        (_part(1, ["q"]), 5),  # after p in partition 5: may not go ahead of it, so a new part
        (_part(2, ["r"]), 6),  # joins post 2
        (_part(2, ["s"], vet=True), 7),  # judged otherwise: its own
        (_part(1, ["x"]), local),  # a local command (someone awaits its answer): never joined
        (_part(1, ["d"]), 8),  # nothing moves across another command
        (Tick(), None),
        (_part(1, ["e"]), 9),
    ]
    joined, answers = _posts_joined([c for c, _ in batch], [s for _, s in batch])
    assert [_devices(c) for c in joined] == [
        ["a", "b", "c"], ["p", "r"], ["q"], ["s"], ["x"], ["d"], "Tick", ["e"],
    ]  # fmt: skip
    assert answers == [None, None, None, None, local, None, None, None]
    first = joined[0]
    assert isinstance(first, Ingest) and [i for i, _ in first.reports] == [0, 1, 2]


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("ingest"), st.integers(0, 2), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("tick"), st.just(0), st.just(0), st.just(False)),
    ),
    max_size=30,
)


@given(_steps)
def test_every_partition_keeps_its_order_and_every_other_command_its_place(steps: list[Any]) -> None:
    commands: list[Command[Any]] = []
    sinks: list[Sink] = []
    for n, (kind, post, partition, vet) in enumerate(steps):
        if kind == "tick":
            commands.append(Tick())
            sinks.append(None)
        else:
            commands.append(_part(post, [f"{partition}:{n}"], vet))
            sinks.append(partition)
    joined, answers = _posts_joined(commands, sinks)
    assert len(answers) == len(joined) and all(a is None for a in answers)
    flat = [d for c in joined if isinstance(c, Ingest) for d in _devices(c)]
    assert sorted(flat) == sorted(d for c in commands if isinstance(c, Ingest) for d in _devices(c))
    for partition in range(4):  # each partition's reports in their log order
        mine = [d for d in flat if d.startswith(f"{partition}:")]
        assert mine == sorted(mine, key=lambda d: int(d.split(":")[1]))

    # reports never cross a tick: each lies between the same ticks as before
    def segments(seq: list[Command[Any]]) -> list[list[str]]:
        out: list[list[str]] = [[]]
        for c in seq:
            if isinstance(c, Ingest):
                out[-1] += _devices(c)
            else:
                out.append([])
        return [sorted(s) for s in out]

    assert segments(joined) == segments(commands)
    for c in joined:
        if isinstance(c, Ingest):
            assert [i for i, _ in c.reports] == list(range(len(c.reports)))
            assert len({(r.time, c.vet) for _, r in c.reports}) == 1  # one post's parts only
