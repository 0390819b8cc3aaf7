"""Who an alert is about and where each of them is now: the parties a push names, and the
whereabouts its routing plan is drawn from. Read-only: it looks at the engine through `SceneView`
(orders and live positions) and at the registry for names and phones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from vigil import jurisdiction
from vigil.dispatch import routing
from vigil.dispatch.dossier import OrderInfo, Party
from vigil.dispatch.outbox.views import SceneView
from vigil.dispatch.routing import Whereabouts
from vigil.domain import geo
from vigil.domain.alerts import Alert, AlertKind, Position
from vigil.domain.model import Circle, Order, ZoneKind
from vigil.domain.track import position
from vigil.store import tables as t

# Zone labels that name a victim's home, in the languages the registry is kept in.
HOME_LABELS = ("home", "자택", "집", "주거지")


@dataclass(slots=True)
class Known:
    """What the registry says of the people and incidents a batch's pushes name, read in one query
    each for the whole batch (`known`): after a burst of alerts, a read per push and person was a
    round trip each on PostgreSQL. Anyone not in it is read on their own, as before."""

    # (role, person) -> (name, phone, case reference): keyed by the kind too, since a subject and a
    # protected person may share an id
    people: dict[tuple[str, str], tuple[str, str, str]]
    numbers: dict[str, str]  # incident -> its radio number


def known(conn: Connection, alerts: Iterable[Alert], engine: SceneView) -> Known:
    """The names and numbers a batch's pushes about `alerts` will ask for."""
    subjects: set[str] = set()
    victims: set[str] = set()
    incidents: set[str] = set()
    for alert in alerts:
        order = engine.orders.get(alert.order_id or "")
        subjects.update(x for x in (alert.subject_id, order.subject_id if order else None) if x)
        victims.update(
            x for x in (alert.protected_person_id, order.protected_person_id if order else None) if x
        )
        if alert.incident_id is not None:
            incidents.add(alert.incident_id)
    people: dict[tuple[str, str], tuple[str, str, str]] = {}
    if subjects:
        c = t.subjects.c
        for row in conn.execute(select(c.id, c.name, c.case_reference).where(c.id.in_(sorted(subjects)))):
            people["subject", row.id] = (row.name, "", row.case_reference)
    if victims:
        c = t.protected_persons.c
        for row in conn.execute(select(c.id, c.name, c.phone).where(c.id.in_(sorted(victims)))):
            people["protected_person", row.id] = (row.name, row.phone, "")
    numbers: dict[str, str] = {}
    if incidents:
        c = t.incidents.c
        numbers = {
            r.id: r.number for r in conn.execute(select(c.id, c.number).where(c.id.in_(sorted(incidents))))
        }
    return Known(people, numbers)


@dataclass(frozen=True, slots=True)
class Scene:
    order: Order | None
    subject: Party | None
    victim: Party | None
    offender_at: Whereabouts | None
    victim_at: Whereabouts | None


def scene(
    conn: Connection,
    alert: Alert,
    engine: SceneView,
    now: datetime,
    stale_s: float,
    found: Known | None = None,
) -> Scene:
    """Who is involved, where they are now, and where each agency should go. `stale_s`: a fix older
    than this no longer says where a person is (the police go to her home instead). `found`: the
    batch's names read already, if they were."""
    order = order_of(alert, engine, now)
    subject_id = alert.subject_id or (order.subject_id if order else None)
    victim_id = alert.protected_person_id or (order.protected_person_id if order else None)
    subject = _party(conn, engine, subject_id, "subject", now, found)
    victim = _party(conn, engine, victim_id, "protected_person", now, found)
    offender_at = routing.offender_whereabouts(subject.position, subject.area, stale_s) if subject else None
    victim_at = None
    # A flat battery is probation's business alone: no police leg.
    if victim is not None and alert.kind is not AlertKind.BATTERY_LOW:
        home = _home(order, now) if order is not None else None
        victim_at = routing.victim_whereabouts(victim.position, victim.area, stale_s, home)
    return Scene(order, subject, victim, offender_at, victim_at)


def order_of(alert: Alert, engine: SceneView, now: datetime) -> Order | None:
    """The alert's order; for an alert about one person (tamper, sos), their order in force."""
    if alert.order_id and alert.order_id in engine.orders:
        return engine.orders[alert.order_id]
    person = alert.subject_id or alert.protected_person_id
    if person is None:
        return None
    return next((o for o in engine.orders_of(person) if o.active_at(now)), None)


def order_info(order: Order | None) -> OrderInfo | None:
    if order is None:
        return None
    return OrderInfo(
        id=order.id,
        reference=order.reference,
        legal_basis=order.legal_basis.value,
        issuing_agency=order.issuing_agency,
        violation_distance_m=order.violation_distance_m,
        warning_distance_m=order.warning_distance_m,
        valid_until=order.valid_until,
    )


def incident_number(conn: Connection, incident_id: str | None, found: Known | None = None) -> str | None:
    """The incident's radio number (written with the alert changes, before the pushes are staged)."""
    if incident_id is None:
        return None
    if found is not None and incident_id in found.numbers:
        return found.numbers[incident_id]
    number: str | None = conn.scalar(select(t.incidents.c.number).where(t.incidents.c.id == incident_id))
    return number


def _party(
    conn: Connection, engine: SceneView, person_id: str | None, role: str, now: datetime, found: Known | None
) -> Party | None:
    if person_id is None:
        return None
    if found is not None and (role, person_id) in found.people:
        name, phone, reference = found.people[role, person_id]
    elif role == "subject":
        row = conn.execute(
            select(t.subjects.c.name, t.subjects.c.case_reference).where(t.subjects.c.id == person_id)
        ).first()
        name, phone, reference = (row.name, "", row.case_reference) if row else ("", "", "")
    else:
        row = conn.execute(
            select(t.protected_persons.c.name, t.protected_persons.c.phone).where(
                t.protected_persons.c.id == person_id
            )
        ).first()
        name, phone, reference = (row.name, row.phone, "") if row else ("", "", "")
    track = engine.tracks.get(person_id)
    latest = track.latest if track is not None else None
    where = position(latest, now) if latest is not None else None
    area = jurisdiction.locate(where.lat, where.lon) if where is not None else None
    return Party(person_id, role, name, phone, reference, where, area)


def _home(order: Order, now: datetime) -> tuple[Position, jurisdiction.Area | None] | None:
    """The victim's home, from the order's exclusion zones: one labelled home, else the first."""
    zones = [z for z in order.zones if z.kind is ZoneKind.EXCLUSION]
    zone = next((z for z in zones if z.label.strip().lower() in HOME_LABELS), zones[0] if zones else None)
    if zone is None:
        return None
    if isinstance(zone.shape, Circle):
        lat, lon, radius = zone.shape.lat, zone.shape.lon, zone.shape.radius_m
    else:
        ring = zone.shape.ring
        lat = sum(p[1] for p in ring) / len(ring)
        lon = sum(p[0] for p in ring) / len(ring)
        radius = max(geo.distance_m(lat, lon, p[1], p[0]) for p in ring)  # a disc around it all
    where = Position(lat=lat, lon=lon, accuracy_m=radius, time=now, age_s=0.0, source="zone")
    return where, jurisdiction.locate(lat, lon)
