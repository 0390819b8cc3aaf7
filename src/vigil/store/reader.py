"""Read-side queries for the API and streams. Reads never go through the processor: SQLite's WAL
and PostgreSQL's MVCC let them run beside the writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, false, func, or_, select

from vigil.domain.alerts import TERMINAL, Alert
from vigil.store import tables as t
from vigil.store.codec import alert_from_row

OPEN_NOT = tuple(s.value for s in TERMINAL)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a scoped caller may see: any of these subjects, alert ids, or municipality code
    prefixes (an alert matches a prefix if a party stood there while it was open)."""

    subjects: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def clause(self) -> Any:
        terms: list[Any] = []
        if self.subjects:
            terms.append(t.alerts.c.subject_id.in_(sorted(self.subjects)))
        if self.ids:
            terms.append(t.alerts.c.id.in_(sorted(self.ids)))
        if self.prefixes:
            inside = select(t.alert_areas.c.alert_id).where(
                or_(*(t.alert_areas.c.code.startswith(p, autoescape=True) for p in self.prefixes))
            )
            terms.append(t.alerts.c.id.in_(inside))
        return or_(*terms) if terms else false()


class Reader:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def protected_of(self, subject_id: str) -> list[str]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(t.orders.c.protected_person_id).where(
                    t.orders.c.subject_id == subject_id, t.orders.c.ended_at.is_(None)
                )
            )
            return [r[0] for r in rows]

    def subjects_of(self, protected_person_id: str) -> list[str]:
        """The subjects of the orders in force protecting this person."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(t.orders.c.subject_id)
                .where(t.orders.c.protected_person_id == protected_person_id, t.orders.c.ended_at.is_(None))
                .order_by(t.orders.c.id)
            )
            return [r[0] for r in rows]

    def alert(self, alert_id: str) -> Alert | None:
        with self.db.connect() as conn:
            row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        return None if row is None else alert_from_row(row)

    def alerts(
        self,
        *,
        open_only: bool,
        subject: str | None,
        limit: int,
        within: AlertFilter | None = None,
    ) -> list[Alert]:
        """Newest change first; `within` narrows to what a scoped caller may see."""
        query = select(t.alerts).order_by(t.alerts.c.updated_at.desc()).limit(limit)
        if open_only:
            query = query.where(t.alerts.c.state.not_in(OPEN_NOT))
        if subject:
            query = query.where(t.alerts.c.subject_id == subject)
        if within is not None:
            query = query.where(within.clause())
        with self.db.connect() as conn:
            return [alert_from_row(r) for r in conn.execute(query)]

    # --- what scoped callers may see (read by api.policy) -------------------------------------------

    def caseload(self, officer: str) -> frozenset[str]:
        """The subjects a probation officer is responsible for."""
        with self.db.connect() as conn:
            rows = conn.execute(select(t.subjects.c.id).where(t.subjects.c.probation_officer == officer))
            return frozenset(r[0] for r in rows)

    def assigned(self, user_id: str) -> list[Alert]:
        """The incidents a field officer is assigned to, open or closed."""
        query = select(t.alerts).join(t.assignments, t.assignments.c.alert_id == t.alerts.c.id)
        with self.db.connect() as conn:
            return [alert_from_row(r) for r in conn.execute(query.where(t.assignments.c.user_id == user_id))]

    def assignees(self, alert_id: str) -> list[dict[str, Any]]:
        query = (
            select(t.assignments.c.user_id, t.assignments.c.assigned_by, t.assignments.c.assigned_at)
            .where(t.assignments.c.alert_id == alert_id)
            .order_by(t.assignments.c.assigned_at)
        )
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def in_open_alert(self, person_id: str) -> bool:
        """Whether the person is a party to an alert not yet closed."""
        alerts = t.alerts.c
        query = select(alerts.id).where(
            alerts.state.not_in(OPEN_NOT),
            or_(alerts.subject_id == person_id, alerts.protected_person_id == person_id),
        )
        with self.db.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def alert_codes(self, alert_id: str) -> frozenset[str]:
        """Every municipality the alert's parties have stood in while it was open."""
        with self.db.connect() as conn:
            rows = conn.execute(select(t.alert_areas.c.code).where(t.alert_areas.c.alert_id == alert_id))
            return frozenset(r[0] for r in rows)

    def owner(self, table: str, row_id: str) -> tuple[str | None, str | None] | None:
        """Whom a registry record concerns: (subject, protected person) for an order, (person, None)
        for a device, (id, None) for a subject or protected person; None if there is no such record."""
        with self.db.connect() as conn:
            if table == "order":
                row = conn.execute(
                    select(t.orders.c.subject_id, t.orders.c.protected_person_id).where(
                        t.orders.c.id == row_id
                    )
                ).first()
                return None if row is None else (row[0], row[1])
            if table == "device":
                row = conn.execute(select(t.devices.c.person_id).where(t.devices.c.id == row_id)).first()
                return None if row is None else (row[0], None)
            tables = {"subject": (t.subjects,), "protected_person": (t.protected_persons,)}
            for found in tables.get(table, (t.subjects, t.protected_persons)):
                if conn.execute(select(found.c.id).where(found.c.id == row_id)).first() is not None:
                    return (row_id, None)
            return None

    def timeline(self, alert_id: str) -> list[dict[str, Any]]:
        query = (
            select(t.alert_changes)
            .where(t.alert_changes.c.alert_id == alert_id)
            .order_by(t.alert_changes.c.id)
        )
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def latest_positions(self, person_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """The newest believed fix of every bound device, with its person (a doubted position, kept
        for the record, places no one)."""
        newest = (
            select(t.fixes.c.device_id, func.max(t.fixes.c.time).label("time"))
            .where(t.fixes.c.doubt.is_(None))
            .group_by(t.fixes.c.device_id)
            .subquery()
        )
        query = (
            select(t.fixes, t.devices.c.person_id, t.devices.c.person_kind)
            .join(newest, (newest.c.device_id == t.fixes.c.device_id) & (newest.c.time == t.fixes.c.time))
            .join(t.devices, t.devices.c.id == t.fixes.c.device_id)
            .where(t.devices.c.person_id.is_not(None))
        )
        if person_ids is not None:
            query = query.where(t.devices.c.person_id.in_(person_ids))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def track(
        self, person_id: str, since: datetime, until: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        """A person's believed fixes in time order, from every device bound to them now."""
        devices = select(t.devices.c.id).where(t.devices.c.person_id == person_id)
        query = (
            select(t.fixes)
            .where(t.fixes.c.device_id.in_(devices), t.fixes.c.time >= since, t.fixes.c.doubt.is_(None))
            .order_by(t.fixes.c.time)
            .limit(limit)
        )
        if until is not None:
            query = query.where(t.fixes.c.time <= until)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def events(self, device_ids: list[str], limit: int) -> list[dict[str, Any]]:
        query = (
            select(t.device_events)
            .where(or_(*(t.device_events.c.device_id == d for d in device_ids)))
            .order_by(t.device_events.c.time.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
