"""The municipalities an alert concerns: every one a party has stood in while it was open, kept in
`alert_areas` by the single writer. Police dispatchers see the alerts of their jurisdictions through
it (a dispatcher who was told keeps seeing the alert after the parties have moved on)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from vigil import jurisdiction
from vigil.domain.alerts import TERMINAL, AlertChange, Change, Facts
from vigil.store import tables as t


def codes_of(facts: Facts) -> set[str]:
    """The municipality codes of the positions an alert reports (the nearest one at sea)."""
    return {
        jurisdiction.locate(p.lat, p.lon).code
        for p in (facts.subject_position, facts.protected_position)
        if p is not None
    }


class AlertAreas:
    """The writer's memory of the open alerts' areas, so each (alert, code) is written once."""

    def __init__(self) -> None:
        self._known: dict[str, frozenset[str]] = {}
        self._pending: dict[str, frozenset[str] | None] = {}  # this batch's, until it commits

    def load(self, conn: Connection) -> None:
        """From the database, for the alerts still open (after start-up or a failed commit)."""
        rows = conn.execute(
            select(t.alert_areas.c.alert_id, t.alert_areas.c.code)
            .join(t.alerts, t.alerts.c.id == t.alert_areas.c.alert_id)
            .where(t.alerts.c.state.not_in([s.value for s in TERMINAL]))
        )
        known: dict[str, set[str]] = {}
        for alert_id, code in rows:
            known.setdefault(alert_id, set()).add(code)
        self._known = {a: frozenset(c) for a, c in known.items()}
        self._pending = {}

    def committed(self) -> None:
        """The batch that noted them is committed: remember its areas (closed alerts are let go)."""
        for alert_id, codes in self._pending.items():
            if codes is None:
                self._known.pop(alert_id, None)
            else:
                self._known[alert_id] = codes
        self._pending = {}

    def note(self, conn: Connection, changes: Iterable[AlertChange]) -> dict[str, frozenset[str]]:
        """Record the areas of these changes (in the batch's transaction); returns every area of
        each changed alert so far, for the live stream."""
        self._pending = {}
        new: set[tuple[str, str]] = set()
        seen: dict[str, frozenset[str]] = {}
        for change in changes:
            alert = change.alert
            before = seen.get(alert.id) or self._known.get(alert.id)
            if before is None and change.change is not Change.OPENED:
                before = _stored(conn, alert.id)  # opened before this process started
            before = before or frozenset()
            now = before | codes_of(alert.facts)
            new.update((alert.id, code) for code in now - before)
            seen[alert.id] = now
            self._pending[alert.id] = None if alert.state in TERMINAL else now
        if new:
            conn.execute(insert(t.alert_areas), [{"alert_id": a, "code": c} for a, c in sorted(new)])
        return seen


def _stored(conn: Connection, alert_id: str) -> frozenset[str]:
    rows = conn.execute(select(t.alert_areas.c.code).where(t.alert_areas.c.alert_id == alert_id))
    return frozenset(r[0] for r in rows)
