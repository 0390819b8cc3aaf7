"""Notes on a person outside any alert: an operator or probation officer writes a note on a subject
or protected person ("called his probation officer: new job in Suwon from Monday"), read by whoever
may read that person's record, under the same scope. Each note is stored by the single writer with
its author and time, and written and read notes are in the audit trail (the access, and the note's
id for a write)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Connection, insert, select

from vigil.api import deps, trail
from vigil.api.auth import require
from vigil.api.policy import Action, Record
from vigil.api.registry import write
from vigil.commands import Touched
from vigil.domain.model import PersonKind, PersonRef
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["notes"])


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000, description="the note (not blank)")

    @field_validator("text")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a note cannot be blank")
        return value.strip()


def note_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "person": row.person_id,
        "person_kind": row.person_kind,
        "author": row.author,
        "author_role": row.author_role,
        "at": iso(row.at),
        "text": row.text,
    }


def _known(request: Request, person: PersonRef) -> None:
    if not deps.services(request).reader.is_person(person):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {person.kind.value.replace('_', ' ')}")


def _list(request: Request, person: PersonRef) -> list[dict[str, Any]]:
    _known(request, person)
    c = t.person_notes.c
    query = (
        select(t.person_notes)
        .where(c.person_kind == person.kind.value, c.person_id == person.id)
        .order_by(c.at.desc(), c.id)
    )
    with deps.services(request).db.connect() as conn:
        return [note_json(r) for r in conn.execute(query)]


async def _add(request: Request, person: PersonRef, note: NoteIn, principal: Principal) -> dict[str, Any]:
    _known(request, person)
    note_id = f"note-{uuid.uuid4().hex}"

    def apply(conn: Connection, now: datetime) -> Touched:
        conn.execute(
            insert(t.person_notes).values(
                id=note_id, person_kind=person.kind.value, person_id=person.id, author=principal.id,
                author_role=principal.role.value, at=now, text=note.text,
            )
        )  # fmt: skip
        return Touched(
            result=conn.execute(select(t.person_notes).where(t.person_notes.c.id == note_id)).one()
        )

    row = await write(request, apply)
    detail = {"person": person.id, "person_kind": person.kind.value, "note": note_id}
    await trail.record(
        request, trail.entry(request, principal.id, principal.role.value, "note.write", **detail)
    )
    return note_json(row)


SubjectReader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.SUBJECT))]
SubjectWriter = Annotated[Principal, Depends(require(Action.NOTES_WRITE, on=Record.SUBJECT))]
PersonReader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.PERSON))]
PersonWriter = Annotated[Principal, Depends(require(Action.NOTES_WRITE, on=Record.PERSON))]


@router.get("/subjects/{subject_id}/notes")
def subject_notes(request: Request, subject_id: str, _: SubjectReader) -> list[dict[str, Any]]:
    """The notes on this subject, newest first. 404 for no such subject; 403 outside the scope."""
    return _list(request, PersonRef(PersonKind.SUBJECT, subject_id))


@router.post("/subjects/{subject_id}/notes", status_code=status.HTTP_201_CREATED)
async def add_subject_note(
    request: Request, subject_id: str, note: NoteIn, principal: SubjectWriter
) -> dict[str, Any]:
    """A note on this subject, outside any alert, with its author and time."""
    return await _add(request, PersonRef(PersonKind.SUBJECT, subject_id), note, principal)


@router.get("/protected-persons/{person_id}/notes")
def person_notes(request: Request, person_id: str, _: PersonReader) -> list[dict[str, Any]]:
    """The notes on this protected person, newest first. 404 for no such person; 403 outside the scope."""
    return _list(request, PersonRef(PersonKind.PROTECTED_PERSON, person_id))


@router.post("/protected-persons/{person_id}/notes", status_code=status.HTTP_201_CREATED)
async def add_person_note(
    request: Request, person_id: str, note: NoteIn, principal: PersonWriter
) -> dict[str, Any]:
    """A note on this protected person, outside any alert, with its author and time."""
    return await _add(request, PersonRef(PersonKind.PROTECTED_PERSON, person_id), note, principal)
