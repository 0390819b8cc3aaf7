"""The shared registry over REST: subjects, protected persons, devices, orders and zones.

Police and probation read and write the same records. Writes go through the processor, so an order
added to a subject already wearing a monitor protects the victim from the moment it is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from sqlalchemy import Connection, and_, literal, or_, select

from vigil.api import deps, writer
from vigil.api.auth import refuse_out_of_scope, require, scope
from vigil.api.bodies import PROFILE_FIELDS, DeviceIn, Ident, OrderIn, ProtectedPersonIn, SubjectIn, ZoneIn
from vigil.api.deps import Wired
from vigil.api.national_id import keyed_hash
from vigil.api.policy import Action, Record, may_protect
from vigil.commands import Touched, Write
from vigil.domain.model import PersonKind, Role, subject_ref
from vigil.store import cases, records
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import CodecError, iso

router = APIRouter(prefix="/v1", tags=["registry"])
# Each names the record its path points at, so the caller's scope is checked before anything else.
Lister = Annotated[Principal, Depends(require(Action.REGISTRY_READ))]
SubjectReader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.SUBJECT))]
SubjectWriter = Annotated[Principal, Depends(require(Action.REGISTRY_WRITE, on=Record.SUBJECT))]
PersonReader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.PERSON))]
PersonWriter = Annotated[Principal, Depends(require(Action.REGISTRY_WRITE, on=Record.PERSON))]
DeviceReader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.DEVICE))]
DeviceWriter = Annotated[Principal, Depends(require(Action.REGISTRY_WRITE, on=Record.DEVICE))]
OrderReader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.ORDER))]
OrderWriter = Annotated[Principal, Depends(require(Action.REGISTRY_WRITE, on=Record.ORDER))]

# --- plumbing -------------------------------------------------------------------------------------


def refused(field: str, reason: str) -> HTTPException:
    """422 naming the field at fault and why (the shape every router answers with)."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"field": field, "reason": reason}])


async def write(request: Request, apply: Callable[[Connection, datetime], Touched]) -> Any:
    """Run a registry write through the single writer. What it refuses is answered by the refusal
    handler (vigil.api.writer): 422 naming the field at fault, 409 for a conflict."""
    return await writer.run(request, Write(apply))


def _zone_spec(zone: ZoneIn, default_id: str, path: str) -> records.ZoneSpec:
    try:
        shape, schedule = zone.parts(path)
    except CodecError as exc:
        raise refused(exc.path, exc.reason) from None
    return records.ZoneSpec(zone.id or default_id, zone.kind, shape, zone.label, schedule)


def _row(conn_rows: Any) -> dict[str, Any]:
    found = {k: iso(v) if isinstance(v, datetime) else v for k, v in conn_rows._mapping.items()}
    if "national_id_hash" in found:  # never shown back, not even hashed: only whether there is one
        found["has_national_id"] = found.pop("national_id_hash") is not None
    return found


def _get(request: Request, table: Any, row_id: str) -> dict[str, Any]:
    with deps.services(request).db.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == row_id)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such record {row_id!r}")
    return _row(row)


def _visible(request: Request, column: Any, kind: PersonKind) -> tuple[Any, ...]:
    """A filter to the people of one kind the caller may see (none for operators)."""
    seen = scope(request)
    if seen.everything:
        return ()
    return (column.in_(sorted(seen.ids(kind))),)


def _devices_visible(request: Request) -> tuple[Any, ...]:
    """Devices bound to someone the caller may see (matched on the kind they were bound as), and
    those in stock, which concern no one."""
    seen = scope(request)
    if seen.everything:
        return ()
    bound = (
        and_(t.devices.c.person_kind == kind.value, t.devices.c.person_id.in_(sorted(seen.ids(kind))))
        for kind in PersonKind
    )
    return (or_(t.devices.c.person_id.is_(None), *bound),)


def _bound(person_id: str, kind: PersonKind) -> tuple[Any, ...]:
    return (t.devices.c.person_id == person_id, t.devices.c.person_kind == kind.value)


def _list(request: Request, table: Any, *where: Any) -> list[dict[str, Any]]:
    with deps.services(request).db.connect() as conn:
        return [_row(r) for r in conn.execute(select(table).where(*where).order_by(table.c.id))]


def _within(request: Request, principal: Principal, field: str, person_id: str | None) -> None:
    """A person named in the body must be within the caller's scope too, whatever kind the id
    names (or not exist: the write then names the field at fault)."""
    if person_id is None:
        return
    seen = scope(request)
    kinds = deps.services(request).reader.person_kinds(person_id)
    if not all(seen.sees(kind, person_id) for kind in kinds):
        raise refuse_out_of_scope(request, principal, Action.REGISTRY_WRITE, field)


def _subject_within(request: Request, principal: Principal, field: str, subject_id: str) -> None:
    """A subject named in the body must be within the caller's scope (or not be a subject: the
    write then names the field)."""
    seen = scope(request)
    if seen.sees(PersonKind.SUBJECT, subject_id):
        return
    if deps.services(request).reader.is_person(subject_ref(subject_id)):
        raise refuse_out_of_scope(request, principal, Action.REGISTRY_WRITE, field)


def _created(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


# --- search (the registry forms' pickers) ---------------------------------------------------------

SEARCH_KINDS = ("subject", "protected_person", "device")


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@router.get("/registry/search")
def search(
    request: Request,
    _: Lister,
    q: Annotated[str, Query(max_length=100, description="part of an id or a name; empty: any")] = "",
    kind: Annotated[
        list[str] | None,
        Query(description="subject, protected_person or device (repeatable); none: all three"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[dict[str, Any]]:
    """People and devices whose id or name holds `q` (case-insensitive), for picking one in a form:
    `{kind, id, name, detail}`, exact ids first, at most `limit`. Only what the caller's registry
    lists would show them: the same scope (a probation officer: his caseload and its devices, and
    devices in stock; a dispatcher: the parties of his open alerts), and like every call it is
    recorded in the audit trail with its query. A protected person's phone is not searched."""
    kinds = kind or list(SEARCH_KINDS)
    unknown = [k for k in kinds if k not in SEARCH_KINDS]
    if unknown:
        raise refused("kind", f"must be one of {', '.join(SEARCH_KINDS)}")
    text = q.strip()
    pattern = _like(text.lower())

    def matching(*columns: Any) -> tuple[Any, ...]:
        return (or_(*(c.ilike(pattern, escape="\\") for c in columns)),) if text else ()

    s, p, d = t.subjects.c, t.protected_persons.c, t.devices.c
    queries = {
        "subject": select(s.id, s.name, s.case_reference.label("detail")).where(
            *_visible(request, s.id, PersonKind.SUBJECT), *matching(s.id, s.name, s.case_reference)
        ),
        "protected_person": select(p.id, p.name, literal("").label("detail")).where(
            *_visible(request, p.id, PersonKind.PROTECTED_PERSON), *matching(p.id, p.name)
        ),
        "device": select(d.id, literal("").label("name"), d.kind.label("detail"), d.person_id).where(
            *_devices_visible(request), *matching(d.id, d.person_id)
        ),
    }
    found: list[dict[str, Any]] = []
    with deps.services(request).db.connect() as conn:
        for name in SEARCH_KINDS:
            if name not in kinds:
                continue
            query = queries[name]
            for row in conn.execute(query.order_by(query.selected_columns[0]).limit(limit)):
                item = {"kind": name, "id": row.id, "name": row.name or "", "detail": row.detail or ""}
                if name == "device":
                    item["person_id"] = row.person_id
                found.append(item)
    low = text.lower()
    found.sort(key=lambda f: (f["id"].lower() != low, not f["id"].lower().startswith(low)))  # stable
    return found[:limit]


# --- subjects and protected persons ---------------------------------------------------------------


@router.put("/subjects/{subject_id}")
async def put_subject(
    request: Request, response: Response, subject_id: Ident, body: SubjectIn, principal: SubjectWriter
) -> dict[str, Any]:
    """Create or update a subject (201 when created). A probation officer may create subjects (they
    join their caseload) and update those of their caseload."""
    # The profile's fields are written only when given: a client that knows none keeps them.
    left_out = {f for f in PROFILE_FIELDS if f not in body.model_fields_set}
    fields = body.model_dump(exclude={"probation_officer", "birth_date", "national_id", *left_out})
    identity: dict[str, Any] = {}
    if "birth_date" in body.model_fields_set:
        identity["birth_date"] = body.birth_date.isoformat() if body.birth_date else None
    if "national_id" in body.model_fields_set:
        identity["national_id_hash"] = keyed_hash(request, body.national_id) if body.national_id else None
    officer: object = records.KEEP
    if "probation_officer" in body.model_fields_set:
        officer = body.probation_officer
    elif principal.role is Role.PROBATION_OFFICER and not scope(request).sees(PersonKind.SUBJECT, subject_id):
        officer = principal.id  # a new subject: theirs (an existing one in scope is theirs already)
    created = await write(
        request,
        lambda c, now: records.put_subject(
            c, now, subject_id=subject_id, probation_officer=officer, identity=identity, **fields
        ),
    )
    if identity or created:  # open police cases he may be the suspect of (store/cases.py)
        await write(request, lambda c, now: cases.match_subject(c, now, subject_id))
    _created(response, created)
    return _get(request, t.subjects, subject_id)


@router.get("/subjects")
def list_subjects(request: Request, _: Lister) -> list[dict[str, Any]]:
    """The subjects the caller may see (a probation officer: their caseload)."""
    return _list(request, t.subjects, *_visible(request, t.subjects.c.id, PersonKind.SUBJECT))


@router.get("/subjects/{subject_id}")
def get_subject(request: Request, subject_id: str, _: SubjectReader) -> dict[str, Any]:
    """A subject with his devices, orders and zones, and `has_photo` (read it at `…/photo`)."""
    subject = _get(request, t.subjects, subject_id)
    photos = t.subject_photos
    with deps.services(request).db.connect() as conn:
        query = select(photos.c.subject_id).where(photos.c.subject_id == subject_id)
        subject["has_photo"] = conn.execute(query).first() is not None
    subject["devices"] = _list(request, t.devices, *_bound(subject_id, PersonKind.SUBJECT))
    subject["orders"] = _list(request, t.orders, t.orders.c.subject_id == subject_id)
    subject["zones"] = _list(
        request, t.zones, t.zones.c.subject_id == subject_id, t.zones.c.removed_at.is_(None)
    )
    return subject


@router.put("/protected-persons/{person_id}")
async def put_protected_person(
    request: Request, response: Response, person_id: Ident, body: ProtectedPersonIn, principal: PersonWriter
) -> dict[str, Any]:
    """Create or update a protected person (201 when created). Who registered her is kept: a
    probation officer may name in an order a protected person he registered, while she is in no
    one's order yet."""
    created = await write(
        request,
        lambda c, now: records.put_protected_person(
            c, now, person_id=person_id, registered_by=principal.id, **body.model_dump()
        ),
    )
    _created(response, created)
    return _get(request, t.protected_persons, person_id)


@router.get("/protected-persons")
def list_protected_persons(request: Request, _: Lister) -> list[dict[str, Any]]:
    """The protected persons the caller may see (a dispatcher: those of their open alerts)."""
    return _list(
        request,
        t.protected_persons,
        *_visible(request, t.protected_persons.c.id, PersonKind.PROTECTED_PERSON),
    )


@router.get("/protected-persons/{person_id}")
def get_protected_person(request: Request, person_id: str, _: PersonReader) -> dict[str, Any]:
    person = _get(request, t.protected_persons, person_id)
    person["devices"] = _list(request, t.devices, *_bound(person_id, PersonKind.PROTECTED_PERSON))
    person["orders"] = _list(request, t.orders, t.orders.c.protected_person_id == person_id)
    return person


# --- devices --------------------------------------------------------------------------------------


@router.put("/devices/{device_id}")
async def put_device(
    request: Request, response: Response, device_id: Ident, body: DeviceIn, principal: DeviceWriter
) -> dict[str, Any]:
    """Register a device and bind it to one person at a time (or to nobody: person_id null)."""
    _within(request, principal, "person_id", body.person_id)
    created = await write(
        request, lambda c, now: records.put_device(c, now, device_id=device_id, **body.model_dump())
    )
    _created(response, created)
    return _get(request, t.devices, device_id)


@router.get("/devices")
def list_devices(request: Request, _: Lister) -> list[dict[str, Any]]:
    """The devices of the people the caller may see, and those in stock (bound to no one)."""
    return _list(request, t.devices, *_devices_visible(request))


@router.get("/devices/{device_id}")
def get_device(request: Request, device_id: str, _: DeviceReader) -> dict[str, Any]:
    """The device record, with `online`: false from its last will (OwnTracks) until it is heard
    again, true otherwise; and `pursuit_since` while it is asked to report fast (pursuit mode)."""
    device = _get(request, t.devices, device_id)
    device["online"] = device["offline_since"] is None
    return device


# --- orders ---------------------------------------------------------------------------------------


def _with_party_names(request: Request, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each order with `subject_name` and `protected_person_name`: the party's name where the
    caller may see that party's record, else null (a probation officer sees his subject's orders,
    not the victim's record, so not her name either)."""
    seen = scope(request)
    wanted = {
        PersonKind.SUBJECT: {
            o["subject_id"] for o in orders if seen.sees(PersonKind.SUBJECT, o["subject_id"])
        },
        PersonKind.PROTECTED_PERSON: {
            o["protected_person_id"]
            for o in orders
            if seen.sees(PersonKind.PROTECTED_PERSON, o["protected_person_id"])
        },
    }
    names: dict[PersonKind, dict[str, str]] = {}
    with deps.services(request).db.connect() as conn:
        for kind, table in (
            (PersonKind.SUBJECT, t.subjects),
            (PersonKind.PROTECTED_PERSON, t.protected_persons),
        ):
            ids = sorted(wanted[kind])
            query = select(table.c.id, table.c.name).where(table.c.id.in_(ids))
            names[kind] = {r.id: r.name for r in conn.execute(query)} if ids else {}
    for order in orders:
        order["subject_name"] = names[PersonKind.SUBJECT].get(order["subject_id"])
        order["protected_person_name"] = names[PersonKind.PROTECTED_PERSON].get(order["protected_person_id"])
    return orders


def _order_view(request: Request, order_id: str) -> dict[str, Any]:
    order = _with_party_names(request, [_get(request, t.orders, order_id)])[0]
    order["zones"] = _list(request, t.zones, t.zones.c.order_id == order_id, t.zones.c.removed_at.is_(None))
    return order


@router.put("/orders/{order_id}")
async def put_order(
    request: Request,
    services: Wired,
    response: Response,
    order_id: Ident,
    body: OrderIn,
    principal: OrderWriter,
) -> dict[str, Any]:
    """Create or update an order linking a subject to a protected person, with its distances and
    fixed exclusion zones. It protects from the moment it is stored. A probation officer makes
    orders for the subjects of their caseload, naming a protected person already in an order of
    their caseload or one they registered who is in no one's order yet (`policy.may_protect`): an
    order sends her position to whoever follows its subject."""
    _subject_within(request, principal, "subject_id", body.subject_id)
    reader = services.reader
    if not may_protect(scope(request), principal, body.protected_person_id, reader):
        raise refuse_out_of_scope(request, principal, Action.REGISTRY_WRITE, "protected_person_id")
    zones = tuple(_zone_spec(z, f"{order_id}.z{i + 1}", f"zones[{i}]") for i, z in enumerate(body.zones))
    fields = body.model_dump(exclude={"zones"})
    created = await write(
        request, lambda c, now: records.put_order(c, now, order_id=order_id, zones=zones, **fields)
    )
    _created(response, created)
    return _order_view(request, order_id)


@router.get("/orders")
def list_orders(request: Request, _: Lister, active: bool = True) -> list[dict[str, Any]]:
    """The orders concerning anyone the caller may see."""
    where: list[Any] = [t.orders.c.ended_at.is_(None)] if active else []
    seen = scope(request)
    if not seen.everything:
        subjects, protected = seen.ids(PersonKind.SUBJECT), seen.ids(PersonKind.PROTECTED_PERSON)
        where.append(
            or_(
                t.orders.c.subject_id.in_(sorted(subjects)),
                t.orders.c.protected_person_id.in_(sorted(protected)),
            )
        )
    return _with_party_names(request, _list(request, t.orders, *where))


@router.get("/orders/{order_id}")
def get_order(request: Request, order_id: str, _: OrderReader) -> dict[str, Any]:
    return _order_view(request, order_id)


@router.post("/orders/{order_id}/end")
async def end_order(request: Request, order_id: str, _: OrderWriter) -> dict[str, Any]:
    """End an order now: its pair and zones stop being watched."""
    _get(request, t.orders, order_id)
    await write(request, lambda c, now: records.end_order(c, now, order_id=order_id))
    return _order_view(request, order_id)


# --- subject zones --------------------------------------------------------------------------------


@router.put("/subjects/{subject_id}/zones/{zone_id}")
async def put_zone(
    request: Request, response: Response, subject_id: Ident, zone_id: Ident, body: ZoneIn, _: SubjectWriter
) -> dict[str, Any]:
    """A subject's own zone: exclusion or inclusion, circle or polygon, optional weekly schedule in
    local time (a curfew: inclusion at home 22:00-06:00)."""
    spec = _zone_spec(body, zone_id, "body")
    spec = records.ZoneSpec(zone_id, spec.kind, spec.shape, spec.label, spec.schedule)
    created = await write(request, lambda c, now: records.put_zone(c, now, subject_id=subject_id, spec=spec))
    _created(response, created)
    return _get(request, t.zones, zone_id)


@router.delete("/subjects/{subject_id}/zones/{zone_id}")
async def delete_zone(request: Request, subject_id: str, zone_id: str, _: SubjectWriter) -> dict[str, Any]:
    zone = _get(request, t.zones, zone_id)
    if zone["subject_id"] != subject_id or zone["order_id"] is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no zone {zone_id!r} of subject {subject_id!r}")
    await write(request, lambda c, now: records.remove_zone(c, now, zone_id=zone_id))
    return _get(request, t.zones, zone_id)
