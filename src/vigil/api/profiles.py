"""A subject's profile for the police sent to find him (issue 17): his photo, what he looks like,
what he drives, where he lives and works, what his orders forbid him, and whom to call.

Staff read it as they read his record (`registry.read` on the subject: operators, a probation
officer for his caseload, a dispatcher while he is party to one of their open alerts), and it is
personal data beyond the alert: each read states a purpose (`purpose`, `reason`) and is audited
with it. A field unit holding a live-track link sees, through the link, the photo and description
of its incident's subject and nothing more (`/v1/incidents/{id}/subject?token=`), audited under
the holder like every use of a link.

The photo is JPEG or PNG by its first bytes (the declared type must agree), at most
`photo_max_bytes`; it is kept in the database (no path from a request reaches a disk) and served
with `Cache-Control: no-store`, as the type found when it was stored and never sniffed.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy import select

from vigil.api import deps, writer
from vigil.api.auth import require, scope
from vigil.api.bodies import Ident
from vigil.api.deps import Wired
from vigil.api.incidents import field_subject, link_holder
from vigil.api.policy import Action, Record
from vigil.api.trail import require_purpose
from vigil.commands import Write
from vigil.domain.model import PersonKind
from vigil.store import records
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["profiles"])
Reader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.SUBJECT))]
Writer = Annotated[Principal, Depends(require(Action.REGISTRY_WRITE, on=Record.SUBJECT))]

# What a photo is, by its first bytes: the only types stored or served.
MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def sniff(data: bytes) -> str | None:
    """JPEG or PNG by the content, or None."""
    return next((kind for kind, magic in MAGIC.items() if data.startswith(magic)), None)


def _photo_refused(code: int, reason: str) -> HTTPException:
    return HTTPException(code, [{"field": "photo", "reason": reason, "code": "photo"}])


# --- the photo ------------------------------------------------------------------------------------


@router.put(
    "/subjects/{subject_id}/photo",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {k: {"schema": {"type": "string", "format": "binary"}} for k in MAGIC},
        }
    },
)
async def put_photo(
    request: Request, response: Response, subject_id: Ident, principal: Writer
) -> dict[str, Any]:
    """His photo, the body being the image itself (`Content-Type: image/jpeg` or `image/png`): 201
    when he had none, 200 when it replaced one. 415 for any other declared type, 422 when the bytes
    are not what the type says (or not an image at all), 413 above the size limit, 404 for no such
    subject. Registry writers in scope, like his record."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared not in MAGIC:
        raise _photo_refused(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send a JPEG or PNG image")
    limit = deps.services(request).settings.photo_max_bytes
    data = await request.body()
    if len(data) > limit:
        raise _photo_refused(status.HTTP_413_CONTENT_TOO_LARGE, f"the photo is larger than {limit} bytes")
    found = sniff(data)
    if found is None or found != declared:
        raise _photo_refused(status.HTTP_422_UNPROCESSABLE_CONTENT, "the content is not a JPEG or PNG image")
    digest = hashlib.sha256(data).hexdigest()
    created = await writer.run(
        request,
        Write(
            lambda c, now: records.put_photo(
                c, now, subject_id=subject_id, media_type=found, data=data, sha256=digest,
                uploaded_by=principal.id,
            )
        ),
    )  # fmt: skip
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return {"subject_id": subject_id, "media_type": found, "size": len(data), "sha256": digest}


@router.get("/subjects/{subject_id}/photo", response_class=Response)
def get_photo(request: Request, subject_id: str, _: Reader) -> Response:
    """His photo, to whoever may read his record, with a stated purpose; 404 when he has none."""
    require_purpose(request)
    return _photo(request, subject_id)


@router.delete("/subjects/{subject_id}/photo")
async def delete_photo(request: Request, subject_id: str, _: Writer) -> dict[str, Any]:
    """Remove his photo (a wrong one, or on a request); 404 when he has none."""
    removed = await writer.run(
        request, Write(lambda c, now: records.delete_photo(c, now, subject_id=subject_id))
    )
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no photo")
    return {"subject_id": subject_id, "removed": True}


def _photo(request: Request, subject_id: str) -> Response:
    photos = t.subject_photos
    with deps.services(request).db.connect() as conn:
        row = conn.execute(
            select(photos.c.media_type, photos.c.data).where(photos.c.subject_id == subject_id)
        ).first()
    if row is None or row.media_type not in MAGIC:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no photo")
    return Response(bytes(row.data), media_type=row.media_type, headers=NO_STORE)


def _has_photo(request: Request, subject_id: str) -> bool:
    photos = t.subject_photos
    with deps.services(request).db.connect() as conn:
        query = select(photos.c.subject_id).where(photos.c.subject_id == subject_id)
        return conn.execute(query).first() is not None


# --- the profile ----------------------------------------------------------------------------------


@router.get("/subjects/{subject_id}/profile")
def profile(request: Request, services: Wired, subject_id: str, _: Reader) -> dict[str, Any]:
    """What the police sent to find him need, with a stated purpose: his name, description,
    vehicle, home and work addresses, whether he has a photo (read it at `…/photo`), the
    conditions of his orders in force (distances, zones, validity), and the numbers to call
    (`contacts`: the victim of each order where the caller may see her record, his probation
    officer, the emergency desk). 404 for no such subject."""
    require_purpose(request)
    seen = scope(request)
    s, o, z, p, u = t.subjects, t.orders, t.zones, t.protected_persons, t.users
    with services.db.connect() as conn:
        subject = conn.execute(select(s).where(s.c.id == subject_id)).first()
        if subject is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such record {subject_id!r}")
        orders = conn.execute(
            select(o).where(o.c.subject_id == subject_id, o.c.ended_at.is_(None)).order_by(o.c.id)
        ).all()
        zones = conn.execute(
            select(z).where(z.c.subject_id == subject_id, z.c.removed_at.is_(None)).order_by(z.c.id)
        ).all()
        victims = {
            r.id: r
            for r in conn.execute(
                select(p.c.id, p.c.name, p.c.phone).where(p.c.id.in_(sorted({r.protected_person_id for r in orders})))
            )
        }  # fmt: skip
        officer = None
        if subject.probation_officer:
            officer = conn.execute(
                select(u.c.id, u.c.name, u.c.phone).where(u.c.id == subject.probation_officer)
            ).first()
    contacts: list[dict[str, Any]] = []
    for person_id, victim in victims.items():
        if seen.sees(PersonKind.PROTECTED_PERSON, person_id) and victim.phone:
            contacts.append(
                {"role": "protected_person", "id": person_id, "name": victim.name, "phone": victim.phone}
            )
    if officer is not None:
        contacts.append(
            {"role": "probation_officer", "id": officer.id, "name": officer.name, "phone": officer.phone}
        )
    contacts.append({"role": "desk", "id": None, "name": "112", "phone": services.settings.desk_phone})

    def zone_json(row: Any) -> dict[str, Any]:
        return {"id": row.id, "kind": row.kind, "label": row.label, "shape": row.shape,
                "schedule": row.schedule, "order": row.order_id}  # fmt: skip

    return {
        "id": subject.id,
        "name": subject.name,
        "case_reference": subject.case_reference,
        "description": subject.description,
        "vehicle_plate": subject.vehicle_plate,
        "vehicle": subject.vehicle,
        "home_address": subject.home_address,
        "work_address": subject.work_address,
        "has_photo": _has_photo(request, subject_id),
        "orders": [
            {
                "id": r.id,
                "protected_person": r.protected_person_id,
                "violation_distance_m": r.violation_distance_m,
                "warning_distance_m": r.warning_distance_m,
                "legal_basis": r.legal_basis,
                "valid_from": iso(r.valid_from) if r.valid_from else None,
                "valid_until": iso(r.valid_until) if r.valid_until else None,
                "issuing_agency": r.issuing_agency,
                "reference": r.reference,
            }
            for r in orders
        ],
        "zones": [zone_json(r) for r in zones],
        "contacts": contacts,
    }


# --- through a live-track link --------------------------------------------------------------------


@router.get("/incidents/{incident_id}/subject")
def field_profile(request: Request, incident_id: str, token: str = "") -> dict[str, Any]:
    """For the unit holding this incident's live-track link (`?token=`): the photo (whether there
    is one; read it at `…/subject/photo`) and the description of the man it is sent to find, and
    nothing else of his record. 401 without a live link of this incident, 410 once it closed a
    while, 404 when the incident names no subject."""
    link = link_holder(request, incident_id, token, what="subject")
    subject_id = field_subject(request, link)
    if subject_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this incident names no subject")
    s = t.subjects
    with deps.services(request).db.connect() as conn:
        row = conn.execute(select(s.c.description).where(s.c.id == subject_id)).first()
    return {
        "id": subject_id,
        "description": row.description if row is not None else "",
        "has_photo": _has_photo(request, subject_id),
    }


@router.get("/incidents/{incident_id}/subject/photo", response_class=Response)
def field_photo(request: Request, incident_id: str, token: str = "") -> Response:
    """The photo of the incident's subject, for the unit holding its live-track link."""
    link = link_holder(request, incident_id, token, what="subject_photo")
    subject_id = field_subject(request, link)
    if subject_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this incident names no subject")
    return _photo(request, subject_id)
