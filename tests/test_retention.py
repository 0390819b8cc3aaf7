"""The retention purge on both backends: old plain history goes, evidence (around alerts, under legal
holds) stays, recent history is never touched, a second run changes nothing, and it works in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from vigil.retention import direct, gaps, merge, purge
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = pytest.mark.both_backends  # retention: chunked deletes and savepoints

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=180)
OLD = NOW - timedelta(days=200)  # well before the cut-off (NOW - 180 days)
MIN = timedelta(minutes=1)


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    with engine.begin() as conn:
        for person, table, device in (("S1", t.subjects, "AM-1"), ("P1", t.protected_persons, "W-1")):
            values: dict[str, Any] = {"id": person, "name": person, "created_at": OLD, "updated_at": OLD}
            if table is t.subjects:
                values["legal_basis"] = "parole"
            conn.execute(insert(table).values(**values))
            kind = "subject" if table is t.subjects else "protected_person"
            conn.execute(
                insert(t.devices).values(
                    id=device,
                    kind="phone",
                    person_id=person,
                    person_kind=kind,
                    created_at=OLD,
                    updated_at=OLD,
                )
            )
        conn.execute(  # a device of somebody else, with no alert
            insert(t.devices).values(id="X-1", kind="phone", person_id=None, created_at=OLD, updated_at=OLD)
        )
    try:
        yield engine
    finally:
        engine.dispose()


def add_fixes(conn: Connection, device: str, times: list[datetime]) -> None:
    conn.execute(
        insert(t.fixes),
        [
            {"device_id": device, "time": at, "lat": 37.6, "lon": 127.2, "source": "gnss", "received_at": at}
            for at in times
        ],
    )


def add_event(conn: Connection, device: str, at: datetime, kind: str = "heartbeat") -> None:
    conn.execute(
        insert(t.device_events).values(device_id=device, time=at, kind=kind, detail={}, received_at=at)
    )


def add_alert(conn: Connection, alert_id: str, opened: datetime, last: datetime, state: str) -> None:
    conn.execute(
        insert(t.alerts).values(
            id=alert_id, key="proximity:S1:P1", kind="proximity_violation", severity="critical", state=state,
            active=False, late=False, subject_id="S1", protected_person_id="P1", zone_id=None, order_id=None,
            opened_at=opened, updated_at=last, facts={},
        )
    )  # fmt: skip


def add_hold(
    conn: Connection, hold_id: str, person: str | None, start: datetime, end: datetime | None
) -> None:
    conn.execute(
        insert(t.legal_holds).values(
            id=hold_id, person_id=person, held_from=start, held_until=end, reason="court request",
            created_by="u-operator", created_at=NOW,
        )
    )  # fmt: skip


def times_of(db: Engine, device: str, table: Any = t.fixes) -> list[datetime]:
    with db.connect() as conn:
        return [
            r[0]
            for r in conn.execute(select(table.c.time).where(table.c.device_id == device).order_by("time"))
        ]


def count(db: Engine, table: Any) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def run(db: Engine, *, chunk: int = 5000, dry_run: bool = False, now: datetime = NOW) -> Any:
    return purge(db, direct(db), now=now, retention=RETENTION, chunk=chunk, dry_run=dry_run)


def test_old_plain_history_goes_and_recent_history_stays(db: Engine) -> None:
    recent = [NOW - timedelta(days=179, hours=23), NOW - timedelta(days=1), NOW]
    old = [OLD, OLD + MIN, NOW - timedelta(days=180, minutes=1)]
    with db.begin() as conn:
        add_fixes(conn, "AM-1", old + recent)
        add_fixes(conn, "X-1", [OLD])
        add_event(conn, "AM-1", OLD)
        add_event(conn, "AM-1", OLD, "battery_low")
        add_event(conn, "AM-1", NOW - timedelta(days=3))
    report = run(db)
    assert (report.fixes_deleted, report.events_deleted, report.kept) == (4, 2, 0)
    assert times_of(db, "AM-1") == recent
    assert times_of(db, "X-1") == []
    assert times_of(db, "AM-1", t.device_events) == [NOW - timedelta(days=3)]


def test_fixes_around_a_closed_alert_are_kept(db: Engine) -> None:
    opened, closed = OLD, OLD + timedelta(hours=1)
    around = [opened - 29 * MIN, opened, opened + 30 * MIN, closed + 29 * MIN]
    outside = [opened - 31 * MIN, closed + 31 * MIN, OLD + timedelta(days=5)]
    with db.begin() as conn:
        add_alert(conn, "a-1", opened, closed, "resolved")
        for device in ("AM-1", "W-1"):  # both parties' devices
            add_fixes(conn, device, around + outside)
        add_fixes(conn, "X-1", around)  # not a party: no evidence
        add_event(conn, "AM-1", opened + MIN, "strap_cut")
        add_event(conn, "AM-1", OLD + timedelta(days=5))
    report = run(db)
    for device in ("AM-1", "W-1"):
        assert times_of(db, device) == around
    assert times_of(db, "X-1") == []
    assert times_of(db, "AM-1", t.device_events) == [opened + MIN]
    assert (report.fixes_deleted, report.fixes_kept) == (2 * len(outside) + len(around), 2 * len(around))
    assert (report.events_deleted, report.events_kept) == (1, 1)


def test_an_open_incident_keeps_everything_from_its_start(db: Engine) -> None:
    opened = OLD
    with db.begin() as conn:
        add_alert(conn, "a-1", opened, opened + MIN, "dispatched")  # an incident, still open
        add_fixes(conn, "AM-1", [opened - 31 * MIN, opened - 29 * MIN, opened + timedelta(days=10)])
    run(db)
    assert times_of(db, "AM-1") == [opened - 29 * MIN, opened + timedelta(days=10)]


def test_a_legal_hold_keeps_its_window_until_it_is_released(db: Engine) -> None:
    start, end = OLD, OLD + timedelta(days=2)
    held = [start, start + timedelta(days=1), end]
    free = [start - MIN, end + MIN]
    with db.begin() as conn:
        add_hold(conn, "lh-1", "P1", start, end)
        for device in ("W-1", "AM-1"):
            add_fixes(conn, device, held + free)
    run(db)
    assert times_of(db, "W-1") == held  # the held person
    assert times_of(db, "AM-1") == []  # not held: he is not the hold's person
    assert run(db).fixes_kept == len(held)
    with db.begin() as conn:
        conn.execute(update(t.legal_holds).values(released_at=NOW, released_by="u-auditor"))
    report = run(db)
    assert report.fixes_deleted == len(held)
    assert times_of(db, "W-1") == []


def test_a_hold_on_everyone_and_an_open_ended_hold(db: Engine) -> None:
    with db.begin() as conn:
        add_hold(conn, "lh-all", None, OLD, OLD + timedelta(hours=1))
        add_hold(conn, "lh-open", "S1", OLD + timedelta(days=3), None)
        for device in ("AM-1", "W-1", "X-1"):
            add_fixes(conn, device, [OLD + 30 * MIN, OLD + timedelta(days=2), OLD + timedelta(days=4)])
    run(db)
    assert times_of(db, "X-1") == [OLD + 30 * MIN]
    assert times_of(db, "W-1") == [OLD + 30 * MIN]
    assert times_of(db, "AM-1") == [OLD + 30 * MIN, OLD + timedelta(days=4)]


def test_a_second_run_changes_nothing(db: Engine) -> None:
    with db.begin() as conn:
        add_alert(conn, "a-1", OLD, OLD + MIN, "false_alarm")
        add_fixes(conn, "AM-1", [OLD - timedelta(days=1), OLD, OLD + 10 * MIN, NOW])
    first = run(db)
    before = times_of(db, "AM-1")
    second = run(db)
    assert (first.fixes_deleted, first.fixes_kept) == (1, 2)
    assert (second.fixes_deleted, second.events_deleted, second.fixes_kept) == (0, 0, 2)
    assert times_of(db, "AM-1") == before


def test_it_deletes_in_chunks(db: Engine) -> None:
    old = [OLD + i * MIN for i in range(23)]
    with db.begin() as conn:
        add_alert(conn, "a-1", OLD + timedelta(days=1), OLD + timedelta(days=1), "resolved")
        add_fixes(conn, "AM-1", [*old, OLD + timedelta(days=1)])
        add_fixes(conn, "W-1", old)
        add_fixes(conn, "X-1", old)
        for at in old[:7]:
            add_event(conn, "AM-1", at)
    seen: list[int] = []
    execute = direct(db)

    def counting(apply: Any) -> Any:
        step = execute(apply)
        seen.append(step.fixes_deleted + step.events_deleted)
        return step

    report = purge(db, counting, now=NOW, retention=RETENTION, chunk=5)
    assert (report.fixes_deleted, report.events_deleted, report.fixes_kept) == (3 * 23, 7, 1)
    assert max(seen) <= 5
    assert report.transactions == len(seen) >= (3 * 23 + 7) // 5
    assert count(db, t.fixes) == 1 and count(db, t.device_events) == 0


def test_a_dry_run_deletes_nothing_and_says_what_would_go(db: Engine) -> None:
    with db.begin() as conn:
        add_alert(conn, "a-1", OLD, OLD, "resolved")
        add_fixes(conn, "AM-1", [OLD - timedelta(days=1), OLD, NOW])
        add_event(conn, "W-1", OLD - timedelta(days=1))
    dry = run(db, dry_run=True)
    assert (count(db, t.fixes), count(db, t.device_events)) == (3, 1)
    real = run(db)
    assert (dry.fixes_deleted, dry.events_deleted, dry.fixes_kept) == (1, 1, 1)
    assert (real.fixes_deleted, real.events_deleted, real.fixes_kept) == (1, 1, 1)
    assert dry.transactions == 0


def test_windows_merge_and_leave_gaps_before_the_cutoff() -> None:
    h = timedelta(hours=1)
    cutoff = OLD + 10 * h
    windows = merge([(OLD + 5 * h, OLD + 6 * h), (OLD + h, OLD + 2 * h), (OLD + 2 * h, OLD + 3 * h)])
    assert windows == [(OLD + h, OLD + 3 * h), (OLD + 5 * h, OLD + 6 * h)]
    assert gaps(windows, cutoff) == [(None, OLD + h), (OLD + 3 * h, OLD + 5 * h), (OLD + 6 * h, cutoff)]
    assert merge([(OLD, None), (OLD + h, OLD + 2 * h)]) == [(OLD, None)]
    assert gaps([(OLD, None)], cutoff) == [(None, OLD)]
    assert gaps([(OLD + 11 * h, OLD + 12 * h)], cutoff) == [(None, cutoff)]
    assert gaps([], cutoff) == [(None, cutoff)]


def test_the_cli_purge_and_its_dry_run(
    db: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vigil.cli import main

    really_old = datetime.now(UTC) - timedelta(days=400)
    with db.begin() as conn:
        add_fixes(conn, "AM-1", [really_old, datetime.now(UTC) - timedelta(days=1)])
    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)
    assert main(["purge", "--dry-run"]) == 0
    assert "would delete 1 fixes" in capsys.readouterr().out
    assert count(db, t.fixes) == 2
    assert main(["purge"]) == 0
    assert "deleted 1 fixes" in capsys.readouterr().out
    assert count(db, t.fixes) == 1


class _Writer:
    """The server's writer reduced to what a purge asks of it: each Write in its own transaction."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def submit(self, command: Any) -> Any:
        from concurrent.futures import Future

        done: Future[Any] = Future()
        with self.db.begin() as conn:
            done.set_result(command.apply(conn, NOW).result)
        return done


def test_one_purge_at_a_time_across_a_cluster(db: Engine, database_url: str) -> None:
    """Every edge of a cluster keeps the purge's schedule; on PostgreSQL the one that takes the lock
    does the work and the others skip their turn (None) instead of deleting the same rows at once."""
    from types import SimpleNamespace

    from vigil.retention import PURGE_LOCK, purge_now

    with db.begin() as conn:
        add_fixes(conn, "AM-1", [OLD, OLD + MIN])
    services: Any = SimpleNamespace(
        db=db,
        runner=_Writer(db),
        clock=lambda: NOW,
        settings=SimpleNamespace(retention_days=RETENTION.days, retention_chunk=5000),
    )
    if db.dialect.name == "postgresql":
        other = open_engine(database_url)  # another edge, purging meanwhile
        try:
            with other.connect() as busy:
                busy.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PURGE_LOCK})
                assert purge_now(services) is None
                assert count(db, t.fixes) == 2
                busy.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PURGE_LOCK})
        finally:
            other.dispose()
    report = purge_now(services)
    assert report is not None and report.fixes_deleted == 2
    assert count(db, t.fixes) == 0
    assert purge_now(services) is not None  # the lock was given back
