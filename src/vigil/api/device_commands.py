"""Commands to a device: queued durably, delivered over the device's own channel as soon as it is
reachable (the gateway's open connection), and followed to the device's answer.

`POST /v1/devices/{id}/commands` queues one (201, pending); `GET` lists the device's commands,
newest first, with their status: pending -> sent -> acknowledged | expired | failed. Both are
audited at the edge like every access; the gateway's steps (sent, answered, failed) are audited as
the system's."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy import select

from vigil.api import deps, writer
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action, Record
from vigil.commands import Refused, Write
from vigil.domain.model import CommandKind
from vigil.store import device_commands
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["devices"])
Commander = Annotated[Principal, Depends(require(Action.DEVICE_COMMAND, on=Record.DEVICE))]
DevicePoster = Annotated[Principal, Depends(require(Action.DEVICE_POST))]
Reader = Annotated[Principal, Depends(require(Action.REGISTRY_READ, on=Record.DEVICE))]

DEFAULT_LIFETIME = timedelta(hours=1)  # a fix asked for an hour ago is no longer the question
MAX_LIFETIME = timedelta(days=7)
INTERVAL_RANGE = (5, 86_400)  # seconds between reports a command may set
TEXT_MAX = 100  # a watch's screen
LISTED = 100

# What each command takes, and nothing else.
PARAMS: dict[CommandKind, frozenset[str]] = {
    CommandKind.SET_INTERVAL: frozenset({"seconds"}),
    CommandKind.LOCATE: frozenset(),
    CommandKind.VIBRATE: frozenset(),
    CommandKind.ALARM: frozenset(),
    CommandKind.MESSAGE: frozenset({"text"}),
}


class CommandIn(BaseModel):
    type: CommandKind
    params: dict[str, str | int] = Field(
        default_factory=dict,
        description="set_interval: {seconds: 5..86400}; message: {text: 1..100 characters}; others none",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="not delivered after this (default an hour from now, at most 7 days)"
    )

    @model_validator(mode="after")
    def _params_fit(self) -> CommandIn:
        allowed = PARAMS[self.type]
        unknown = sorted(set(self.params) - allowed)
        if unknown:
            raise ValueError(f"params: {self.type.value} takes no {', '.join(unknown)}")
        missing = sorted(allowed - set(self.params))
        if missing:
            raise ValueError(f"params: {self.type.value} needs {', '.join(missing)}")
        if self.type is CommandKind.SET_INTERVAL:
            seconds = self.params["seconds"]
            low, high = INTERVAL_RANGE
            if (isinstance(seconds, str) and not seconds.isdigit()) or not low <= int(seconds) <= high:
                raise ValueError(f"params.seconds: a whole number of seconds, {low}..{high}")
        if self.type is CommandKind.MESSAGE:
            text = str(self.params["text"])
            if not 0 < len(text) <= TEXT_MAX or not text.isprintable():
                raise ValueError(f"params.text: 1..{TEXT_MAX} printable characters")
        return self


def _view(row: Any) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}


def _one(request: Request, command_id: str) -> dict[str, Any]:
    with deps.services(request).db.connect() as conn:
        row = conn.execute(select(t.device_commands).where(t.device_commands.c.id == command_id)).one()
    return _view(row)


@router.post("/devices/{device_id}/commands", status_code=status.HTTP_201_CREATED)
async def post_command(
    request: Request,
    response: Response,
    services: Wired,
    device_id: str,
    body: CommandIn,
    principal: Commander,
) -> dict[str, Any]:
    """Queue a command for the device; it goes out as soon as the device is reachable."""
    now = services.clock()
    expires = now + DEFAULT_LIFETIME if body.expires_at is None else body.expires_at
    if expires <= now:
        raise Refused("expires_at", "must be in the future")
    if expires > now + MAX_LIFETIME:
        raise Refused("expires_at", f"at most {MAX_LIFETIME.days} days ahead")
    with services.db.connect() as conn:
        known = conn.execute(select(t.devices.c.id).where(t.devices.c.id == device_id)).first()
    if known is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such device {device_id!r}")
    command_id = f"cmd-{uuid.uuid4().hex[:16]}"
    params = {key: str(value) for key, value in body.params.items()}
    await writer.run(
        request,
        Write(
            lambda conn, at: device_commands.queue(
                conn,
                at,
                command_id=command_id,
                device_id=device_id,
                kind=body.type,
                params=params,
                expires_at=expires,
                requested_by=principal.id,
            )
        ),
    )
    if services.gateway is not None:
        services.gateway.deliver_soon(device_id)
    response.headers["Location"] = f"/v1/devices/{device_id}/commands/{command_id}"
    return _one(request, command_id)


@router.get("/devices/{device_id}/commands")
def list_commands(request: Request, services: Wired, device_id: str, _: Reader) -> list[dict[str, Any]]:
    """The device's commands, newest first (at most 100), with their status and the device's answer."""
    with services.db.connect() as conn:
        rows = conn.execute(
            select(t.device_commands)
            .where(t.device_commands.c.device_id == device_id)
            .order_by(t.device_commands.c.created_at.desc(), t.device_commands.c.ref.desc())
            .limit(LISTED)
        )
        return [_view(row) for row in rows]


class ReplyIn(BaseModel):
    reply: str = Field(default="", max_length=500, description="what the device says it did")


@router.post("/devices/{device_id}/commands/{command_id}/reply")
async def reply_to_command(
    request: Request, services: Wired, device_id: str, command_id: str, body: ReplyIn, principal: DevicePoster
) -> dict[str, Any]:
    """An HTTP device's answer to a command it was handed in the answer to a post (native or
    OsmAnd): the command is acknowledged. A device-bound token answers for its own device only."""
    if principal.device_id is not None and principal.device_id != device_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may answer only for its own device")
    if not body.reply.isprintable():
        raise Refused("reply", "must be printable text")
    done = await writer.run(
        request,
        Write(lambda conn, at: device_commands.answered_by_id(conn, at, device_id, command_id, body.reply)),
    )
    if not done:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no command {command_id!r} sent to {device_id!r} waits for an answer"
        )
    return _one(request, command_id)
