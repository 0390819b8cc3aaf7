"""Read-side queries for the API and streams. Reads never go through the processor: SQLite's WAL
and PostgreSQL's MVCC let them run beside the writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select

from vigil.domain.alerts import Alert
from vigil.store import tables as t
from vigil.store.codec import alert_from_row


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

    def alert_parties(self, alert_id: str) -> list[str] | None:
        alert = self.alert(alert_id)
        if alert is None:
            return None
        return [p for p in (alert.subject_id, alert.protected_person_id) if p]

    def alert(self, alert_id: str) -> Alert | None:
        with self.db.connect() as conn:
            row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        return None if row is None else alert_from_row(row)

    def alerts(self, *, open_only: bool, subject: str | None, limit: int) -> list[Alert]:
        query = select(t.alerts).order_by(t.alerts.c.updated_at.desc()).limit(limit)
        if open_only:
            query = query.where(t.alerts.c.state.not_in(("resolved", "false_alarm")))
        if subject:
            query = query.where(t.alerts.c.subject_id == subject)
        with self.db.connect() as conn:
            return [alert_from_row(r) for r in conn.execute(query)]

    def timeline(self, alert_id: str) -> list[dict[str, Any]]:
        query = (
            select(t.alert_changes)
            .where(t.alert_changes.c.alert_id == alert_id)
            .order_by(t.alert_changes.c.id)
        )
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def latest_positions(self, person_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """The newest fix of every bound device, with its person."""
        newest = (
            select(t.fixes.c.device_id, func.max(t.fixes.c.time).label("time"))
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
        """A person's fixes in time order, from every device bound to them now."""
        devices = select(t.devices.c.id).where(t.devices.c.person_id == person_id)
        query = (
            select(t.fixes)
            .where(t.fixes.c.device_id.in_(devices), t.fixes.c.time >= since)
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
