"""What admins see of the system they run: its users and roles, and the settings it runs with
(secrets hidden). No one's records or positions: those are for the roles that follow cases."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends
from pydantic import SecretStr
from sqlalchemy import select

from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["accounts"])
Admin = Annotated[Principal, Depends(require(Action.USERS_MANAGE))]
HIDDEN = "(set)"


@router.get("/users")
def list_users(services: Wired, _: Admin) -> list[dict[str, Any]]:
    """Every user with their role, jurisdictions (dispatchers), the person a victim's account speaks
    for, and whether the account is disabled or locked. No password hashes or codes."""
    u = t.users.c
    query = select(u.id, u.name, u.role, u.person_id, u.areas, u.disabled, u.locked_until).order_by(u.id)
    with services.db.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {"id": r.id, "name": r.name, "role": r.role, "person_id": r.person_id,
         "areas": [a for a in r.areas.split(",") if a], "disabled": bool(r.disabled),
         "locked_until": iso(r.locked_until) if r.locked_until else None}
        for r in rows
    ]  # fmt: skip


@router.get("/settings")
def running_settings(services: Wired, _: Admin) -> dict[str, Any]:
    """The settings this server runs with. Secrets show only that they are set; URLs lose any
    user and password they carry."""
    shown: dict[str, Any] = {}
    for name, value in services.settings.model_dump().items():
        if ("secret" in name or isinstance(value, SecretStr)) and value:
            shown[name] = HIDDEN
        elif isinstance(value, str) and "://" in value:
            shown[name] = _without_credentials(value)
        else:
            shown[name] = value
    return shown


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{HIDDEN}@{host}"))
