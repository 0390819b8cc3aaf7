"""Read-side queries for the API and streams. Reads never go through the processor: SQLite's WAL
and PostgreSQL's MVCC let them run beside the writer."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, false, func, or_, select

from vigil.domain.alerts import TERMINAL, Alert
from vigil.domain.model import PersonKind, PersonRef
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


@dataclass(frozen=True, slots=True)
class IncidentSearch:
    """What the control centre's queue is narrowed to (each given term must match; none: all).

    `text` matches, without regard to case, an incident's id, its radio number (or part of it), one
    of its alerts' ids, a party's id (or part of it) or name (part of it); protected persons' names
    only with `victim_names` (a probation officer does not read the victims' records, so he may not
    find an incident by a victim's name either). `person`: a party's exact id. `area`: a
    municipality code prefix one of its alerts' parties stood in. `kind`: one of its alerts is of
    this kind. `severity`: the incident's."""

    text: str = ""
    person: str = ""
    area: str = ""
    kind: str = ""
    severity: str = ""
    victim_names: bool = False

    def clauses(self) -> list[Any]:
        c, a = t.incidents.c, t.alerts.c
        terms: list[Any] = []
        if self.text:
            q = self.text
            named = select(t.subjects.c.id).where(t.subjects.c.name.icontains(q, autoescape=True))
            protected = select(t.protected_persons.c.id).where(
                t.protected_persons.c.name.icontains(q, autoescape=True)
            )
            terms.append(
                or_(
                    c.id == q,
                    c.number.icontains(q, autoescape=True),
                    c.subject_id.icontains(q, autoescape=True),
                    c.protected_person_id.icontains(q, autoescape=True),
                    c.id.in_(select(a.incident_id).where(a.id == q)),
                    c.subject_id.in_(named),
                    *([c.protected_person_id.in_(protected)] if self.victim_names else []),
                )
            )
        if self.person:
            terms.append(or_(c.subject_id == self.person, c.protected_person_id == self.person))
        if self.area:
            inside = (
                select(a.incident_id)
                .join(t.alert_areas, t.alert_areas.c.alert_id == a.id)
                .where(t.alert_areas.c.code.startswith(self.area, autoescape=True))
            )
            terms.append(c.id.in_(inside))
        if self.kind:
            terms.append(c.id.in_(select(a.incident_id).where(a.kind == self.kind)))
        if self.severity:
            terms.append(c.severity == self.severity)
        return terms


class Reader:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def device_for(self, protocol: str, identifier: str) -> str | None:
        """The device whose frames carry `identifier` on `protocol`, if one is registered."""
        with self.db.connect() as conn:
            found = conn.execute(
                select(t.devices.c.id).where(
                    t.devices.c.protocol == protocol, t.devices.c.identifier == identifier
                )
            ).scalar()
        return None if found is None else str(found)

    def in_pursuit(self) -> set[str]:
        """The devices asked to report fast now (pursuit mode)."""
        with self.db.connect() as conn:
            return set(
                conn.execute(select(t.devices.c.id).where(t.devices.c.pursuit_since.is_not(None))).scalars()
            )

    def identity_of(self, device_id: str) -> tuple[str | None, str | None]:
        """The device's protocol and wire identifier (None, None: unknown device)."""
        with self.db.connect() as conn:
            row = conn.execute(
                select(t.devices.c.protocol, t.devices.c.identifier).where(t.devices.c.id == device_id)
            ).first()
        return (None, None) if row is None else (row.protocol, row.identifier)

    def network_of(self, device_id: str) -> str | None:
        """The network (CIDR) the device's reports must come from; None: any."""
        with self.db.connect() as conn:
            found = conn.execute(select(t.devices.c.network).where(t.devices.c.id == device_id)).scalar()
        return None if found is None else str(found)

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

    # --- incidents: the alerts of one danger ------------------------------------------------------------

    def incident(self, incident_id: str) -> Any | None:
        """One incident's row (with its radio number), or None."""
        with self.db.connect() as conn:
            return conn.execute(select(t.incidents).where(t.incidents.c.id == incident_id)).first()

    def incidents(
        self,
        *,
        state: str,
        limit: int,
        within: AlertFilter | None = None,
        search: IncidentSearch | None = None,
    ) -> list[Any]:
        """Incident rows, latest escalation first; `state` is open, closed or all; `within` narrows to
        the incidents with at least one alert a scoped caller may see; `search` to those it matches."""
        c = t.incidents.c
        query = select(t.incidents).order_by(c.escalated_at.desc(), c.id).limit(limit)
        if state != "all":
            query = query.where(c.open.is_(state == "open"))
        if search is not None:
            query = query.where(*search.clauses())
        if within is not None:
            visible = select(t.alerts.c.incident_id).where(
                t.alerts.c.incident_id.is_not(None), within.clause()
            )
            query = query.where(c.id.in_(visible))
        with self.db.connect() as conn:
            return list(conn.execute(query))

    def incident_alerts(
        self, incident_ids: Collection[str], within: AlertFilter | None = None
    ) -> list[Alert]:
        """The alerts of these incidents (those a scoped caller may see), oldest first."""
        if not incident_ids:
            return []
        query = (
            select(t.alerts)
            .where(t.alerts.c.incident_id.in_(sorted(incident_ids)))
            .order_by(t.alerts.c.opened_at, t.alerts.c.id)
        )
        if within is not None:
            query = query.where(within.clause())
        with self.db.connect() as conn:
            return [alert_from_row(r) for r in conn.execute(query)]

    def claims(self, incident_ids: Collection[str]) -> dict[str, Any]:
        """The claims on these incidents, while open (a closed incident's claim is over), by id."""
        if not incident_ids:
            return {}
        c = t.incident_claims.c
        query = (
            select(t.incident_claims)
            .join(t.incidents, t.incidents.c.id == c.incident_id)
            .where(c.incident_id.in_(sorted(incident_ids)), t.incidents.c.open.is_(True))
        )
        with self.db.connect() as conn:
            return {r.incident_id: r for r in conn.execute(query)}

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

    def in_open_alert(self, person: PersonRef) -> bool:
        """Whether the person is a party to an alert not yet closed (in the column of their kind)."""
        alerts = t.alerts.c
        column = alerts.subject_id if person.kind is PersonKind.SUBJECT else alerts.protected_person_id
        query = select(alerts.id).where(alerts.state.not_in(OPEN_NOT), column == person.id)
        with self.db.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def alert_codes(self, alert_id: str) -> frozenset[str]:
        """Every municipality the alert's parties have stood in while it was open."""
        with self.db.connect() as conn:
            rows = conn.execute(select(t.alert_areas.c.code).where(t.alert_areas.c.alert_id == alert_id))
            return frozenset(r[0] for r in rows)

    # --- whom a record concerns (read by api.policy) ---------------------------------------------------
    # Each names the table of the kind it asks about: a subject is looked up among subjects only, a
    # protected person among protected persons only, so an id shared by both (a database made before
    # ids were one namespace) never lets one stand for the other.

    def is_person(self, person: PersonRef) -> bool:
        table = _PEOPLE[person.kind]
        with self.db.connect() as conn:
            return conn.execute(select(table.c.id).where(table.c.id == person.id)).first() is not None

    def person_kinds(self, person_id: str) -> frozenset[PersonKind]:
        """The kinds of person this id names: one, none, or (only in an old database) both."""
        return frozenset(kind for kind in PersonKind if self.is_person(PersonRef(kind, person_id)))

    def order_parties(self, order_id: str) -> tuple[str, str] | None:
        """(subject, protected person) of an order; None if there is no such order."""
        query = select(t.orders.c.subject_id, t.orders.c.protected_person_id).where(t.orders.c.id == order_id)
        with self.db.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row[0], row[1])

    def device_holder(self, device_id: str) -> tuple[str | None, str | None] | None:
        """(person id, person kind) a device is bound to, both None for a device in stock; None if
        there is no such device. The kind is the one recorded when it was bound."""
        query = select(t.devices.c.person_id, t.devices.c.person_kind).where(t.devices.c.id == device_id)
        with self.db.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row[0], row[1])

    def protection(self, person_id: str) -> tuple[str | None, frozenset[str]]:
        """Who registered a protected person, and the subjects of every order naming her (ended
        ones too): what decides whether a probation officer may name her in an order."""
        with self.db.connect() as conn:
            registered_by = conn.execute(
                select(t.protected_persons.c.registered_by).where(t.protected_persons.c.id == person_id)
            ).scalar()
            rows = conn.execute(
                select(t.orders.c.subject_id).where(t.orders.c.protected_person_id == person_id)
            )
            return registered_by, frozenset(r[0] for r in rows)

    def shared_ids(self) -> list[str]:
        """Ids used by both a subject and a protected person (possible only in a database made
        before ids were one namespace): each must be renamed by an operator."""
        both = select(t.subjects.c.id).join(t.protected_persons, t.protected_persons.c.id == t.subjects.c.id)
        with self.db.connect() as conn:
            return sorted(r[0] for r in conn.execute(both.order_by(t.subjects.c.id)))

    def timeline(self, alert_id: str) -> list[dict[str, Any]]:
        query = (
            select(t.alert_changes)
            .where(t.alert_changes.c.alert_id == alert_id)
            .order_by(t.alert_changes.c.id)
        )
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def latest_positions(self, people: Collection[PersonRef] | None = None) -> list[dict[str, Any]]:
        """The newest believed fix of every bound device, with its person (of these people: each matched on
        the kind the device was bound to, not the bare id). A doubted position, kept for the record, places no one."""
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
        if people is not None:
            query = query.where(bound_to(people))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def track(
        self, person: PersonRef, since: datetime, until: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        """A person's believed fixes in time order, from every device bound to them (as that kind) now."""
        devices = select(t.devices.c.id).where(bound_to((person,)))
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


_PEOPLE = {PersonKind.SUBJECT: t.subjects, PersonKind.PROTECTED_PERSON: t.protected_persons}


def bound_to(people: Collection[PersonRef]) -> Any:
    """A filter on `devices`: bound to one of these people, kind and id alike."""
    terms = []
    for kind in PersonKind:
        ids = sorted(p.id for p in people if p.kind is kind)
        if ids:
            terms.append(and_(t.devices.c.person_kind == kind.value, t.devices.c.person_id.in_(ids)))
    return or_(*terms) if terms else false()
