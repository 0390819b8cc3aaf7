"""Pushes are rendered after the commit, from the draft staged with the alert change
(dispatch/draft.py): nothing of a rolled-back batch is ever sent, a push that cannot be rendered
alarms the operators and is still delivered once it can be, and a push committed before a crash is
rendered and sent after the restart under the same id with the bytes it would have had."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from dispatch.receiver import Receiver
from dispatch.schemas import validate_cap, validate_cloudevent, validate_eido
from vigil.commands import Attempt, Ingest, Record
from vigil.dispatch import draft
from vigil.dispatch.deliverer import Deliverer, DeliverySettings
from vigil.dispatch.dossier import Dossier
from vigil.dispatch.fallback import Notice
from vigil.dispatch.formats import render as render_formats
from vigil.dispatch.outbox import Outbox, OutboxSettings, Pending
from vigil.dispatch.outbox.staging import Stager
from vigil.dispatch.signing import new_secret
from vigil.dispatch.targets import load_targets, sync_env_target
from vigil.domain.model import Fix
from vigil.processor import Processor, Published
from vigil.runner import Runner
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine
from vigil_sim import bench
from vigil_sim.dispatchbench import FAR_M, VIOLATE_M, Pair, driven_pairs

PATH = "/112"
T0 = datetime.now(UTC).replace(microsecond=0)


def _validate(event: dict[str, Any]) -> None:
    validate_cloudevent(event)
    validate_cap(event["data"]["cap"])
    validate_eido(event["data"]["eido"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver({PATH: new_secret()}, _validate)
    found.up()
    try:
        yield found
    finally:
        found.down()


@pytest.fixture
def db(tmp_path: Path, receiver: Receiver) -> Iterator[Engine]:
    """Three subject-victim pairs under orders (violation 100 m), one target taking CAP and EIDO."""
    engine = open_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    migrate(engine)
    yield from _scene(engine, receiver)


def _scene(engine: Engine, receiver: Receiver) -> Iterator[Engine]:
    """The pairs and the target on a migrated database; disposed of after the test."""
    bench.register(engine, bench.plan(3, 6), T0)
    with engine.begin() as conn:
        sync_env_target(conn, receiver.url + PATH, receiver.secrets[PATH], T0)
    try:
        yield engine
    finally:
        engine.dispose()


def _processor(db: Engine) -> Processor:
    processor = Processor(
        db,
        outbox=Outbox(OutboxSettings(), link_base=lambda: "https://vigil.test"),
        new_id=lambda: f"a-{uuid.uuid4()}",
    )
    processor.load(T0)
    return processor


def _fix(device: str, at: datetime, where: tuple[float, float]) -> Fix:
    return Fix(device, at, where[0], where[1], accuracy_m=bench.ACCURACY_M)


def _violate(processor: Processor, pair: Pair, at: datetime) -> Published:
    """The victim placed and her subject far, then the subject at 50 m: a violation, one push."""
    placed = [
        _fix(pair.victim_device, at, pair.victim),
        _fix(pair.subject_device, at, pair.subject_at(FAR_M)),
    ]
    processor.run([Ingest(list(enumerate(placed)), at)], at)
    later = at + timedelta(seconds=5)
    close = [_fix(pair.subject_device, later, pair.subject_at(VIOLATE_M))]
    _, out = processor.run([Ingest(list(enumerate(close)), later)], later)
    return out


def _count(db: Engine, table: Any) -> int:
    with db.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


class Notices:
    def __init__(self) -> None:
        self.sent: list[Notice] = []

    async def send(self, notice: Notice) -> None:
        self.sent.append(notice)


async def _deliver_until(
    db: Engine, processor: Processor, done: Any, *, then: Any = None, timeout_s: float = 20.0
) -> Notices:
    """The writer (a Runner) and a deliverer over `db`, as the server runs them, until `done()`;
    `then(runner)` first, on the loop, if given. The deliverer takes over what the outbox holds."""
    loop = asyncio.get_running_loop()
    notices = Notices()
    holder: dict[str, Deliverer] = {}

    def publish(out: Published) -> None:
        loop.call_soon_threadsafe(holder["d"].accept, out.deliveries, out.acks)

    runner = Runner(processor, publish)
    runner.start()

    def state() -> tuple[list[Pending], list[tuple[int, str, str, datetime]]]:
        with db.connect() as conn:
            return Outbox.pending(conn), Outbox.awaiting_ack(conn)

    def targets() -> list[Any]:
        with db.connect() as conn:
            return load_targets(conn)

    client = httpx.AsyncClient(trust_env=False)
    deliverer = Deliverer(
        submit=runner.submit,
        load=state,
        targets=targets,
        settings=DeliverySettings(backoff_s=0.05, backoff_max_s=0.2, ack_timeout_s=3600),
        fallback=notices,
        client=client,
        clock=lambda: datetime.now(UTC),
        wall=lambda: datetime.now(UTC),
    )
    holder["d"] = deliverer
    await deliverer.start()
    try:
        if then is not None:
            await then(runner)
        deadline = loop.time() + timeout_s
        while not done() and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert done(), "timed out"
        await asyncio.sleep(0.2)  # the last record reaches the writer
    finally:
        await deliverer.stop()
        await client.aclose()
        runner.stop()
    return notices


def test_a_push_staged_in_a_transaction_that_rolls_back_is_never_sent(
    db: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = _processor(db)
    pair = driven_pairs(0, 1)[0]
    staged: list[Pending] = []
    real_stage = Outbox.stage

    def stage_then_fail(self: Outbox, *args: Any) -> tuple[list[Pending], list[Any]]:
        staged.extend(real_stage(self, *args)[0])
        raise RuntimeError("the commit fails after the pushes were staged")

    monkeypatch.setattr(Outbox, "stage", stage_then_fail)
    with pytest.raises(RuntimeError):
        _violate(processor, pair, T0)
    monkeypatch.undo()
    assert staged, "the push was staged inside the transaction"
    assert _count(db, t.dispatch_events) == 0 and _count(db, t.deliveries) == 0

    # A deliverer taking over the outbox finds nothing to send; the same violation, judged again,
    # is the alert's first push (the stager's memory holds nothing of the rolled-back one either).

    async def go() -> None:
        async def violate_again(runner: Runner) -> None:
            await asyncio.sleep(0.5)  # long enough for anything left to have gone out
            assert receiver.attempts == []
            at = datetime.now(UTC)  # the runner's clock
            close = [_fix(pair.subject_device, at, pair.subject_at(VIOLATE_M))]
            await asyncio.wrap_future(runner.submit(Ingest(list(enumerate(close)), at)))

        await _deliver_until(db, processor, lambda: len(receiver.ids(PATH)) >= 1, then=violate_again)

    asyncio.run(go())
    [event] = receiver.events(PATH)
    assert event["id"] not in {p.event_id for p in staged}
    assert event["sequence"] == "0000000001" and receiver.problems == []


def test_a_push_that_cannot_be_rendered_alarms_and_is_delivered_once_it_can_be(
    db: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = _processor(db)
    pair = driven_pairs(0, 1)[0]
    _violate(processor, pair, T0)  # committed; nothing is rendered in the transaction
    failing = True
    real = draft.render_formats

    def flaky(dossier: Dossier, formats: frozenset[str]) -> bytes:
        if failing:
            raise ValueError("a renderer bug")
        return real(dossier, formats)

    monkeypatch.setattr(draft, "render_formats", flaky)

    def alarmed() -> bool:
        with db.connect() as conn:
            row = conn.execute(select(t.deliveries.c.alarmed_at, t.deliveries.c.last_error)).one()
            alarm = conn.execute(
                select(t.alerts.c.id).where(t.alerts.c.kind == "dispatch_failure", t.alerts.c.active)
            ).first()
        return row.alarmed_at is not None and "could not render" in row.last_error and alarm is not None

    async def go() -> Notices:
        async def heal(_: Runner) -> None:
            nonlocal failing
            deadline = asyncio.get_running_loop().time() + 10
            while not alarmed() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            assert alarmed(), "the operators were not alarmed"
            assert receiver.attempts == []  # nothing unrenderable was sent
            failing = False  # e.g. a fixed renderer: the retries go on meanwhile

        return await _deliver_until(db, processor, lambda: len(receiver.ids(PATH)) >= 1, then=heal)

    notices = asyncio.run(go())
    assert [n.alert_id for n in notices.sent] == [receiver.events(PATH)[0]["subject"]]
    assert "could not render" in notices.sent[0].text
    with db.connect() as conn:
        row = conn.execute(select(t.deliveries.c.state, t.deliveries.c.body)).one()
        still = conn.execute(
            select(t.alerts.c.active).where(t.alerts.c.kind == "dispatch_failure")
        ).scalar_one()
    assert row.state == "delivered" and row.body.encode() == receiver.pushes[PATH][0].raw
    assert still is False  # the alarm is cleared by the delivery
    assert receiver.problems == []


def test_a_push_committed_before_a_crash_is_rendered_and_sent_on_restart_unchanged(
    db: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the transaction had in hand: the dossier, as rendering it there (as before) would have.
    dossiers: list[Dossier] = []
    real_dossier = Stager._dossier

    def keep(self: Stager, *args: Any) -> Dossier:
        found = real_dossier(self, *args)
        dossiers.append(found)
        return found

    monkeypatch.setattr(Stager, "_dossier", keep)
    processor = _processor(db)
    pair = driven_pairs(0, 1)[0]
    out = _violate(processor, pair, T0)
    [pending] = out.deliveries
    # The crash: the committed push never reached a deliverer, and nothing was rendered.
    del processor, out
    with db.connect() as conn:
        assert conn.execute(select(t.deliveries.c.body)).scalar_one() == ""
        [target] = [x for x in load_targets(conn) if x.id == pending.target_id]
    legs = draft.load(pending.draft)[1]
    expected = render_formats(
        dataclasses.replace(dossiers[0], live_track_url=legs[target.id].live_track_url), target.formats
    )
    assert legs[target.id].live_track_url is not None  # the target's link is in it

    restarted = _processor(db)
    asyncio.run(_deliver_until(db, restarted, lambda: len(receiver.ids(PATH)) >= 1))
    [push] = receiver.pushes[PATH]
    assert push.id == pending.event_id
    assert push.raw == expected
    assert push.event["type"] == "org.vigil.alert.opened" and receiver.problems == []
    with db.connect() as conn:
        row = conn.execute(select(t.deliveries.c.state, t.deliveries.c.body)).one()
    assert row.state == "delivered" and row.body.encode() == expected  # kept as sent


def test_a_draft_round_trips_to_the_same_dossier(db: Engine) -> None:
    dossiers: list[Dossier] = []
    processor = _processor(db)
    real_dossier = Stager._dossier

    def keep(self: Stager, *args: Any) -> Dossier:
        found = real_dossier(self, *args)
        dossiers.append(found)
        return found

    Stager._dossier = keep  # type: ignore[method-assign]
    try:
        out = _violate(processor, driven_pairs(0, 1)[0], T0)
    finally:
        Stager._dossier = real_dossier  # type: ignore[method-assign]
    [pending] = out.deliveries
    decoded, _ = draft.load(pending.draft)
    assert decoded == dossiers[0]
    # and renders to the same bytes (equal is not enough: a renderer must not tell objects apart)
    everything = frozenset({"cap", "eido"})
    assert render_formats(decoded, everything) == render_formats(dossiers[0], everything)


def test_a_push_that_cannot_be_staged_alarms_in_the_same_commit(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = _processor(db)

    def broken(self: Stager, *args: Any, **kwargs: Any) -> list[Pending]:
        raise RuntimeError("the registry could not be read")

    monkeypatch.setattr(Stager, "push", broken)
    out = _violate(processor, driven_pairs(0, 1)[0], T0)  # committed all the same
    assert out.deliveries == []
    [alarm] = [c.alert for c in out.alerts if c.alert.kind.value == "dispatch_failure"]
    assert "not staged" in (alarm.facts.event or "")
    with db.connect() as conn:
        kinds = set(conn.scalars(select(t.alerts.c.kind).where(t.alerts.c.active)))
    assert "dispatch_failure" in kinds and len(kinds) == 2  # the alert itself, and the alarm


@pytest.fixture
def any_db(database_url: str, receiver: Receiver) -> Iterator[Engine]:
    """`db`'s scene on the test's backend (SQLite, and PostgreSQL where the test says both)."""
    yield from _scene(open_engine(database_url), receiver)


def _two_pushed(db: Engine) -> tuple[Processor, list[Pair], int, int]:
    """Two pairs' violations, each pushed: the processor, the pairs, the first two deliveries."""
    processor = _processor(db)
    pairs = driven_pairs(0, 2)
    for i, pair in enumerate(pairs):
        _violate(processor, pair, T0 + timedelta(seconds=10 * i))
    with db.connect() as conn:
        ids = [r.id for r in conn.execute(select(t.deliveries.c.id).order_by(t.deliveries.c.id))]
    assert len(ids) >= 2
    return processor, pairs, ids[0], ids[1]


@pytest.mark.both_backends
def test_attempts_recorded_in_one_batch_are_written_together_each_delivery_ending_as_its_last_said(
    any_db: Engine,
) -> None:
    """The deliverer reports many attempts at once; they are written a statement per set of columns
    (records.py `_write`; on PostgreSQL, one UPDATE joined to arrays of the values), and a delivery
    reported twice ends as its later attempt says: a failure, then the retry delivered, with the
    bytes sent kept from the first."""
    db = any_db
    processor, _, first, second = _two_pushed(db)
    at = T0 + timedelta(minutes=1)
    attempts = (
        Attempt(first, at, 503, "busy", next_attempt_at=at + timedelta(seconds=5), body=b"sent bytes"),
        Attempt(second, at, None, "refused", next_attempt_at=at + timedelta(seconds=5)),
        Attempt(first, at + timedelta(seconds=5), 200, delivered=True, body=b"other bytes"),
    )
    processor.run([Record(attempts)], at + timedelta(seconds=5))
    with db.connect() as conn:
        rows = {
            r.id: r for r in conn.execute(select(t.deliveries).where(t.deliveries.c.id.in_([first, second])))
        }
    one, two = rows[first], rows[second]
    assert (one.state, one.attempts, one.last_status, one.body) == ("delivered", 2, 200, "sent bytes")
    assert one.delivered_at is not None and one.last_attempt_at == at + timedelta(seconds=5)
    assert (two.state, two.attempts, two.last_status, two.last_error) == ("pending", 1, None, "refused")
    assert two.next_attempt_at == at + timedelta(seconds=5)


@pytest.mark.both_backends
def test_records_sent_one_by_one_in_a_batch_are_merged_and_each_answered_in_its_place(
    any_db: Engine,
) -> None:
    """The deliverer sends a Record per attempt; a batch's runs of them are written as one
    (processor `_records_together`) with reports in between, and each command still gets its own
    answer at its own place: the reports' outcomes where the reports were."""
    db = any_db
    processor, pairs, first, second = _two_pushed(db)
    at = T0 + timedelta(minutes=1)
    far = _fix(pairs[0].victim_device, at, pairs[0].victim)
    commands = [
        Record((Attempt(first, at, 503, "busy", next_attempt_at=at + timedelta(seconds=5), body=b"sent"),)),
        Ingest([(0, far)], at),
        Record((Attempt(second, at, 200, delivered=True, body=b"two"),)),
        Record((Attempt(first, at + timedelta(seconds=5), 200, delivered=True, body=b"again"),)),
    ]
    results, _ = processor.run(commands, at + timedelta(seconds=5))
    assert len(results) == 4
    assert results[0] is None and results[2] is None and results[3] is None
    assert results[1].stored == 1 and not results[1].errors
    with db.connect() as conn:
        rows = {
            r.id: r for r in conn.execute(select(t.deliveries).where(t.deliveries.c.id.in_([first, second])))
        }
    assert (rows[first].state, rows[first].attempts, rows[first].body) == ("delivered", 2, "sent")
    assert (rows[second].state, rows[second].attempts, rows[second].body) == ("delivered", 1, "two")
