"""Registry writes. Each runs inside the processor's transaction and says what it touched, so the
engine reloads exactly that (an order added to a subject already wearing a monitor protects at once).

Subjects and protected persons share one namespace of ids: an id names one person only. The check
runs here, inside the single writer's transaction, so two requests cannot race past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from vigil.adapters.wire import Protocol
from vigil.commands import Conflict, NotFound, Refused, Touched
from vigil.domain.model import DeviceKind, LegalBasis, PersonKind, Schedule, Shape, ZoneKind
from vigil.store import tables as t
from vigil.store.codec import schedule_to_json, shape_to_json


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    id: str
    kind: ZoneKind
    shape: Shape
    label: str = ""
    schedule: Schedule | None = None


def _upsert(conn: Connection, table: Any, row_id: str, values: dict[str, Any], now: datetime) -> bool:
    """Insert or replace by id; True when it was new."""
    exists = conn.execute(select(table.c.id).where(table.c.id == row_id)).first() is not None
    if exists:
        conn.execute(update(table).where(table.c.id == row_id).values(**values, updated_at=now))
    else:
        conn.execute(insert(table).values(id=row_id, **values, created_at=now, updated_at=now))
    return not exists


KEEP = object()  # a probation officer left as it is
PROFILE = ("description", "vehicle_plate", "vehicle", "home_address", "work_address")


def exists(conn: Connection, table: Any, row_id: str) -> bool:
    """Whether `table` holds a row with this id."""
    return conn.execute(select(table.c.id).where(table.c.id == row_id)).first() is not None


def _one_namespace(conn: Connection, other: Any, person_id: str, field: str) -> None:
    """Refuse (409, naming the field) an id a person of the other kind already has. The message
    does not say which kind: to a caller who may not see that person, only that the id is taken."""
    if exists(conn, other, person_id):
        raise Conflict(
            f"{person_id!r} already names another person; subjects and protected persons "
            "share one namespace of ids, choose another",
            field,
        )


def put_subject(conn: Connection, now: datetime, *, subject_id: str, name: str, legal_basis: LegalBasis,
                case_reference: str = "", notes: str = "", probation_officer: object = KEEP,
                identity: dict[str, str | None] | None = None, **profile: str) -> Touched:  # fmt: skip
    """Create or update a subject. `probation_officer` (a user with that role, or None) puts him in
    that officer's caseload; KEEP leaves the assignment as it is. `profile` holds the profile fields
    given (description, vehicle_plate, vehicle, home_address, work_address); those not given are
    left as they are."""
    unknown = set(profile) - set(PROFILE)
    if unknown:
        raise TypeError(f"not a subject's profile field: {sorted(unknown)}")
    values: dict[str, Any] = {
        "name": name,
        "legal_basis": legal_basis.value,
        "case_reference": case_reference,
        "notes": notes,
        **profile,
        **(identity or {}),  # birth_date, national_id_hash: those given (the hash made at the edge)
    }
    if probation_officer is not KEEP:
        if probation_officer is not None:
            role = conn.execute(select(t.users.c.role).where(t.users.c.id == probation_officer)).scalar()
            if role != "probation_officer":
                raise Refused(
                    "probation_officer", f"{probation_officer!r} is not a probation officer's account"
                )
        values["probation_officer"] = probation_officer
    _one_namespace(conn, t.protected_persons, subject_id, "subject_id")
    created = _upsert(conn, t.subjects, subject_id, values, now)
    return Touched(result=created)


def put_protected_person(conn: Connection, now: datetime, *, person_id: str, name: str, phone: str = "",
                         notes: str = "", registered_by: str | None = None) -> Touched:  # fmt: skip
    """Create or update a protected person. `registered_by` (the caller) is kept only when she is
    created: who first registered her, not who last edited her."""
    _one_namespace(conn, t.subjects, person_id, "person_id")
    created = _upsert(
        conn, t.protected_persons, person_id, {"name": name, "phone": phone, "notes": notes}, now
    )
    if created and registered_by is not None:
        conn.execute(
            update(t.protected_persons)
            .where(t.protected_persons.c.id == person_id)
            .values(registered_by=registered_by)
        )
    return Touched(result=created)


def _person_kind(conn: Connection, person_id: str, field: str = "person_id") -> PersonKind:
    """Which kind of person `person_id` is; refused naming `field` (the caller's own field) if nobody,
    or if the id names both kinds (a database made before ids were one namespace: which one was
    meant cannot be known, so nothing is bound or ordered to it until an operator renames one)."""
    subject = exists(conn, t.subjects, person_id)
    protected = exists(conn, t.protected_persons, person_id)
    if subject and protected:
        raise Conflict(f"{person_id!r} names both a subject and a protected person; rename one", field)
    if subject:
        return PersonKind.SUBJECT
    if protected:
        return PersonKind.PROTECTED_PERSON
    raise Refused(field, f"no subject or protected person {person_id!r}")


def put_device(conn: Connection, now: datetime, *, device_id: str, kind: DeviceKind, person_id: str | None,
               silence_limit_s: float | None = None, location_limit_s: float | None = None,
               report_interval_s: float | None = None, protocol: Protocol | None = None,
              identifier: str | None = None, network: str | None = None,
              ble_tag: str | None = None) -> Touched:  # fmt: skip
    """Register a device and bind it to one person (or to nobody). Binding it elsewhere unbinds it.
    Its wire identifier names one device per protocol: one another device holds is a conflict (409),
    never a second owner for the same frames."""
    if identifier is not None and protocol is not None:
        holder = conn.execute(
            select(t.devices.c.id).where(
                t.devices.c.protocol == protocol.value,
                t.devices.c.identifier == identifier,
                t.devices.c.id != device_id,
            )
        ).scalar()
        if holder is not None:
            raise Conflict(f"device {holder!r} already has this {protocol.value} identifier", "identifier")
    if ble_tag is not None:
        taken = conn.execute(
            select(t.devices.c.id).where(t.devices.c.ble_tag == ble_tag, t.devices.c.id != device_id)
        ).scalar()
        if taken is not None:
            raise Conflict(f"device {taken!r} already broadcasts this BLE tag", "ble_tag")
    person_kind = None if person_id is None else _person_kind(conn, person_id)
    if person_kind is PersonKind.SUBJECT and kind is not DeviceKind.ANKLE_MONITOR:
        pass  # allowed: some programmes give subjects a phone as a second device
    values = {
        "kind": kind.value,
        "person_id": person_id,
        "person_kind": None if person_kind is None else person_kind.value,
        "silence_limit_s": silence_limit_s,
        "location_limit_s": location_limit_s,
        "report_interval_s": report_interval_s,
        "protocol": None if protocol is None else protocol.value,
        "identifier": identifier,
        "network": network,
        "ble_tag": ble_tag,
    }
    created = _upsert(conn, t.devices, device_id, values, now)
    return Touched(result=created, devices=(device_id,))


def _zone_row(spec: ZoneSpec, *, subject_id: str | None, order_id: str | None) -> dict[str, Any]:
    return {
        "subject_id": subject_id,
        "order_id": order_id,
        "kind": spec.kind.value,
        "label": spec.label,
        "shape": shape_to_json(spec.shape),
        "schedule": schedule_to_json(spec.schedule),
        "removed_at": None,
    }


def put_order(conn: Connection, now: datetime, *, order_id: str, subject_id: str, protected_person_id: str,
              violation_distance_m: float, warning_distance_m: float, legal_basis: LegalBasis,
              valid_from: datetime | None = None, valid_until: datetime | None = None, issuing_agency: str = "",
              reference: str = "", victim_view_m: float = 600.0, zones: tuple[ZoneSpec, ...] = ()) -> Touched:  # fmt: skip
    if _person_kind(conn, subject_id, "subject_id") is not PersonKind.SUBJECT:
        raise Refused("subject_id", f"{subject_id!r} is not a subject")
    if _person_kind(conn, protected_person_id, "protected_person_id") is not PersonKind.PROTECTED_PERSON:
        raise Refused("protected_person_id", f"{protected_person_id!r} is not a protected person")
    existing = conn.execute(select(t.orders.c.ended_at).where(t.orders.c.id == order_id)).first()
    if existing is not None and existing.ended_at is not None:
        raise Refused("", f"order {order_id!r} has ended; issue a new order")  # the order as a whole
    values = {
        "subject_id": subject_id,
        "protected_person_id": protected_person_id,
        "violation_distance_m": violation_distance_m,
        "warning_distance_m": warning_distance_m,
        "victim_view_m": victim_view_m,
        "legal_basis": legal_basis.value,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "issuing_agency": issuing_agency,
        "reference": reference,
        "ended_at": None,
    }
    created = _upsert(conn, t.orders, order_id, values, now)
    kept = {z.id for z in zones}
    conn.execute(
        update(t.zones)
        .where(t.zones.c.order_id == order_id, t.zones.c.id.not_in(kept), t.zones.c.removed_at.is_(None))
        .values(removed_at=now, updated_at=now)
    )
    for spec in zones:
        owner = conn.execute(select(t.zones.c.order_id).where(t.zones.c.id == spec.id)).first()
        if owner is not None and owner.order_id != order_id:
            raise Refused("zones", f"zone id {spec.id!r} belongs to something else")
        _upsert(conn, t.zones, spec.id, _zone_row(spec, subject_id=subject_id, order_id=order_id), now)
    return Touched(result=created, orders=(order_id,))


def end_order(conn: Connection, now: datetime, *, order_id: str) -> Touched:
    found = conn.execute(
        update(t.orders)
        .where(t.orders.c.id == order_id, t.orders.c.ended_at.is_(None))
        .values(ended_at=now, updated_at=now)
    )
    if found.rowcount == 0:
        raise Conflict(f"order {order_id!r} has already ended")
    return Touched(result=True, orders=(order_id,))


def put_zone(conn: Connection, now: datetime, *, subject_id: str, spec: ZoneSpec) -> Touched:
    """A subject's own zone (curfew at home, exclusion from an area), with an optional schedule."""
    if _person_kind(conn, subject_id, "subject_id") is not PersonKind.SUBJECT:
        raise Refused("subject_id", f"{subject_id!r} is not a subject")
    owner = conn.execute(
        select(t.zones.c.order_id, t.zones.c.subject_id).where(t.zones.c.id == spec.id)
    ).first()
    if owner is not None and (owner.order_id is not None or owner.subject_id != subject_id):
        raise Refused("id", f"zone {spec.id!r} belongs to something else")
    created = _upsert(conn, t.zones, spec.id, _zone_row(spec, subject_id=subject_id, order_id=None), now)
    return Touched(result=created, zones=(spec.id,))


def remove_zone(conn: Connection, now: datetime, *, zone_id: str) -> Touched:
    found = conn.execute(
        update(t.zones)
        .where(t.zones.c.id == zone_id, t.zones.c.order_id.is_(None), t.zones.c.removed_at.is_(None))
        .values(removed_at=now, updated_at=now)
    )
    if found.rowcount == 0:
        raise Conflict(f"zone {zone_id!r} is already removed or belongs to an order")
    return Touched(result=True, zones=(zone_id,))


# --- a subject's photo ------------------------------------------------------------------------------


def put_photo(conn: Connection, now: datetime, *, subject_id: str, media_type: str, data: bytes,
              sha256: str, uploaded_by: str) -> Touched:  # fmt: skip
    """Keep (or replace) a subject's photo; True when he had none. Checked bytes only: the edge
    decided the type from the content."""
    if not exists(conn, t.subjects, subject_id):
        raise NotFound(f"no subject {subject_id!r}")
    values = {"media_type": media_type, "data": data, "size": len(data), "sha256": sha256,
              "uploaded_by": uploaded_by, "uploaded_at": now}  # fmt: skip
    photos = t.subject_photos
    had = conn.execute(select(photos.c.subject_id).where(photos.c.subject_id == subject_id)).first()
    if had is not None:
        conn.execute(update(photos).where(photos.c.subject_id == subject_id).values(**values))
    else:
        conn.execute(insert(photos).values(subject_id=subject_id, **values))
    return Touched(result=had is None)


def delete_photo(conn: Connection, now: datetime, *, subject_id: str) -> Touched:
    """Remove a subject's photo; True when there was one."""
    photos = t.subject_photos
    gone = conn.execute(delete(photos).where(photos.c.subject_id == subject_id)).rowcount
    return Touched(result=bool(gone))
