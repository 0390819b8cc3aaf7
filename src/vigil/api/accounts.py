"""Accounts over REST: login with a password for a short-lived token and a refresh token, refresh,
logout, users (admins), a protected person's activation code (issued by an operator after checking
who she is), and rotating a device's credential. Every attempt is audited.

A new code for someone who already has an account, and a new device credential, hand whoever holds
them her account or her device's voice: they need an operator and a reason, are recorded under their
own action, and she is told (an account notice her current session shows)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from vigil import commands
from vigil.api import deps, trail, writer
from vigil.api.auth import FORBIDDEN, identify, require, token_of
from vigil.api.bodies import Ident, Phone
from vigil.api.policy import Action, Record, allows
from vigil.commands import Conflict, Touched, Write
from vigil.domain.model import Role
from vigil.store import accounts, notices
from vigil.store import tables as t
from vigil.store.accounts import Limits, Principal, Refused, Session

router = APIRouter(prefix="/v1", tags=["accounts"])
Secret = Annotated[str, Field(min_length=1, max_length=200)]


class LoginIn(BaseModel):
    user: Ident
    password: Secret


class RefreshIn(BaseModel):
    refresh_token: Secret


class ActivateIn(BaseModel):
    code: Annotated[str, Field(min_length=6, max_length=40)]
    password: Annotated[str, Field(min_length=accounts.MIN_PASSWORD, max_length=200)]


class UserIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role
    password: Annotated[str, Field(min_length=accounts.MIN_PASSWORD, max_length=200)] | None = None
    person_id: Ident | None = Field(default=None, description="for a protected person's own account")
    areas: list[Annotated[str, Field(pattern=r"^[0-9]{2,10}$")]] = Field(
        default_factory=list,
        max_length=100,
        description="a police dispatcher's jurisdictions: municipality code prefixes ('11' is Seoul)",
    )
    disabled: bool = False
    phone: Phone | None = Field(
        default=None,
        description="a work phone (a probation officer's, in his subjects' profiles); left out: unchanged",
    )


VALID = timedelta(hours=24)  # an activation code's life


class ReasonIn(BaseModel):
    reason: str = Field(
        default="",
        max_length=500,
        description="why (required for a code for someone who has an account, and for a device credential)",
    )


def _limits(request: Request) -> Limits:
    settings = deps.services(request).settings
    return Limits(
        access_s=settings.access_token_s,
        refresh_s=settings.refresh_token_s,
        max_failures=settings.login_max_failures,
        lock_s=settings.login_lock_s,
    )


async def _write(request: Request, apply: Any) -> Any:
    """Account changes go through the single writer like every other write: a conflict (a state
    that changed under the caller) answers 409, a refusal naming a field 422 (vigil.api.writer)."""
    return await writer.run(request, Write(apply))


def _session_json(session: Session) -> dict[str, Any]:
    return {
        "access_token": session.access_token,
        "token_type": "bearer",
        "expires_in": session.expires_in,
        "refresh_token": session.refresh_token,
        "user": session.user_id,
        "role": session.role.value,
    }


async def _sessioned(request: Request, action: str, actor: str, make: Any) -> dict[str, Any]:
    """Run a session-making write; refusals answer 401 (423 when locked) and change only counters."""
    await trail.record(request, trail.entry(request, actor, "anonymous", action))
    holder: dict[str, Any] = {}

    def apply(conn: Any, now: datetime) -> Touched:
        try:
            holder["session"] = make(conn, now)
        except Refused as refused:  # keep the failure counters: the write commits
            holder["refused"] = refused
        return Touched()

    await _write(request, apply)
    refused = holder.get("refused")
    if refused is not None:
        if refused.locked_until is not None:
            wait = max(1, int((refused.locked_until - deps.services(request).clock()).total_seconds()))
            raise HTTPException(status.HTTP_423_LOCKED, str(refused), headers={"Retry-After": str(wait)})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(refused))
    return _session_json(holder["session"])


@router.post("/auth/login")
async def login(request: Request, body: LoginIn) -> dict[str, Any]:
    """A password login: a bearer token for 15 minutes and a refresh token for the shift. After five
    wrong passwords in a row the account locks for 15 minutes (423 with Retry-After)."""
    limits = _limits(request)
    return await _sessioned(
        request,
        "auth.login",
        body.user,
        lambda c, now: accounts.login(c, body.user, body.password, now, limits),
    )


@router.post("/auth/refresh")
async def refresh(request: Request, body: RefreshIn) -> dict[str, Any]:
    """A new pair for a refresh token, which is spent. A spent one coming back revokes the session."""
    limits = _limits(request)
    return await _sessioned(
        request,
        "auth.refresh",
        "refresh-token",
        lambda c, now: accounts.refresh(c, body.refresh_token, now, limits),
    )


@router.post("/auth/activate")
async def activate(request: Request, body: ActivateIn) -> dict[str, Any]:
    """A protected person's first login: the one-time code an operator gave her, and her password."""
    limits = _limits(request)
    return await _sessioned(
        request,
        "auth.activate",
        "activation-code",
        lambda c, now: accounts.activate(c, body.code, body.password, now, limits),
    )


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request) -> Response:
    """End this session: its bearer and refresh tokens stop working."""
    principal = identify(request)
    await trail.record(request, trail.entry(request, principal.id, principal.role.value, "auth.logout"))
    token = token_of(request) or ""

    def apply(conn: Any, now: datetime) -> Touched:
        accounts.logout(conn, token, now)
        return Touched()

    await _write(request, apply)  # the token cache is told by the revocation itself (store.revocations)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/users/{user_id}")
async def put_user(
    request: Request,
    response: Response,
    user_id: Ident,
    body: UserIn,
    _: Annotated[Principal, Depends(require(Action.USERS_MANAGE))],
) -> dict[str, Any]:
    """Create or update a user (admins). A password, when given, replaces the old one."""
    if body.role is Role.PROTECTED_PERSON and body.person_id is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "person_id", "reason": "a protected person's account speaks for one person"}],
        )

    def apply(conn: Any, now: datetime) -> Touched:
        if body.role is Role.PROTECTED_PERSON:
            _speaks_for(conn, user_id, str(body.person_id))
        created = accounts.put_user(
            conn, user_id, body.name, body.role, body.person_id, body.disabled, now, areas=body.areas
        )
        if body.phone is not None:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(phone=body.phone))
        if body.password is not None:
            accounts.set_password(conn, user_id, body.password, now)
        return Touched(result=created)

    created = await _write(request, apply)  # a new role, areas or a disabled account: caches are told
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return {
        "id": user_id,
        "name": body.name,
        "role": body.role.value,
        "person_id": body.person_id,
        "areas": body.areas,
        "disabled": body.disabled,
        "phone": body.phone,
    }


def _speaks_for(conn: Any, user_id: str, person_id: str) -> None:
    """A protected person's account speaks for one protected person (not a subject, nor someone
    another account already speaks for): checked in the writer's transaction."""
    exists = conn.execute(
        select(t.protected_persons.c.id).where(t.protected_persons.c.id == person_id)
    ).first()
    if exists is None:
        raise commands.Refused("person_id", f"no protected person {person_id!r}")
    others = [u for u in notices.accounts_of(conn, person_id) if u != user_id]
    if others:
        raise Conflict(
            f"{person_id!r} already has an account ({others[0]}); issue her a new code instead", "person_id"
        )


@router.post("/users/{user_id}/revoke")
async def revoke_user(
    request: Request, user_id: Ident, _: Annotated[Principal, Depends(require(Action.USERS_MANAGE))]
) -> dict[str, Any]:
    """Revoke every token a user holds (a lost phone, someone leaving)."""
    revoked = await _write(request, lambda c, now: Touched(result=accounts.revoke_user(c, user_id, now)))
    return {"revoked": revoked}


def _refused(field: str, reason: str, code: int = status.HTTP_422_UNPROCESSABLE_CONTENT) -> HTTPException:
    return HTTPException(code, [{"field": field, "reason": reason}])


async def _takeover(
    request: Request, principal: Principal, action: Action, body: ReasonIn | None, **detail: Any
) -> str:
    """The gate for handing someone an account or a device's voice: an operator (refusals recorded)
    and a reason (422 naming `reason`), recorded under the action's own name with the reason before
    anything is done. Returns the reason."""
    if not allows(principal.role, action):
        await trail.record(
            request,
            trail.entry(request, principal.id, principal.role.value, action.value, allowed=False, **detail),
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{FORBIDDEN}: {action.value} needs an operator")
    reason = (body.reason if body is not None else "").strip()
    if not reason:
        raise _refused("reason", "say why (the person is told, and it is kept in the audit trail)")
    await trail.record(
        request,
        trail.entry(
            request, principal.id, principal.role.value, action.value, allowed=True, reason=reason, **detail
        ),
    )
    return reason


def _has_account(request: Request, person_id: str) -> bool:
    with deps.services(request).db.connect() as conn:
        return bool(notices.accounts_of(conn, person_id))


@router.post("/protected-persons/{person_id}/activation")
async def activation(
    request: Request,
    person_id: Ident,
    principal: Annotated[Principal, Depends(require(Action.REGISTRY_WRITE, on=Record.PERSON))],
    body: ReasonIn | None = None,
) -> dict[str, Any]:
    """A one-time code (valid 24 hours) for her own account, to hand over once her identity is
    checked. Shown once; a new code replaces the old. When she already has an account, whoever holds
    the code can set her password: that needs an operator and a reason (`{"reason": "..."}`), is
    recorded as `account.reactivate`, and she is told in an account notice. Her current session
    keeps working, so she learns of it, and can call if she did not ask."""
    reactivating = await asyncio.to_thread(_has_account, request, person_id)
    reason = ""
    if reactivating:
        reason = await _takeover(request, principal, Action.ACCOUNT_REACTIVATE, body, person=person_id)
    elif body is not None:
        reason = body.reason.strip()

    def apply(conn: Any, now: datetime) -> Touched:
        if not accounts.person_exists(conn, person_id):
            raise Conflict(f"no protected person {person_id!r}")  # 409, as it has always answered
        told = notices.accounts_of(conn, person_id)
        if told and not reactivating:  # she got an account since the check: ask again, as an operator
            raise Conflict(
                f"{person_id!r} has an account now; a new code needs an operator and a reason", "person_id"
            )
        try:
            user_id, code = accounts.issue_activation(conn, person_id, now, VALID.total_seconds())
        except accounts.AccountTaken as taken:
            raise Conflict(str(taken), "person_id") from None
        detail = {"by_role": principal.role.value, "user": user_id, "valid_until": (now + VALID).isoformat()}
        notices.tell(conn, told, notices.REACTIVATED, now, actor=principal.id, reason=reason, detail=detail)
        return Touched(result=(user_id, code))

    user_id, code = await _write(request, apply)
    return {
        "user": user_id,
        "code": code,
        "valid_for_s": int(VALID.total_seconds()),
        "reactivation": reactivating,
    }


@router.post("/devices/{device_id}/credentials")
async def rotate(
    request: Request,
    device_id: Ident,
    principal: Annotated[Principal, Depends(require(Action.REGISTRY_WRITE, on=Record.DEVICE))],
    body: ReasonIn | None = None,
) -> dict[str, Any]:
    """A new token for one device; its previous tokens stop working. Shown once. Whoever holds it
    posts positions as that device: an operator and a reason (`{"reason": "..."}`), recorded as
    `device.rotate`. The protected person the device is bound to is told in an account notice."""
    reason = await _takeover(request, principal, Action.DEVICE_ROTATE, body, device=device_id)

    def apply(conn: Any, now: datetime) -> Touched:
        if not accounts.device_exists(conn, device_id):
            raise Conflict(f"no device {device_id!r}")  # 409, as it has always answered
        token = accounts.rotate_device_token(conn, device_id, now)
        role = principal.role.value
        notices.device_credential(conn, device_id, now, actor=principal.id, by_role=role, reason=reason)
        return Touched(result=token)

    token = await _write(request, apply)
    return {"device": device_id, "token": token}
