"""Accounts for tests that run the server: a migrated database with a user and token per role (user
id `u-<role>`, token keyed by the role's value) and a device-gateway token under "gateway", made
straight in the store. Callers add what else they need in `extra`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection

from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import migrate, open_engine

GATEWAY = "gateway"  # a device token not bound to any device


def provision(
    url: str,
    roles: Iterable[Role],
    now: datetime | None = None,
    extra: Callable[[Connection, datetime, dict[str, str]], None] | None = None,
) -> dict[str, str]:
    now = now or datetime.now(UTC)
    db = open_engine(url)
    try:
        migrate(db)
        tokens: dict[str, str] = {}
        with db.begin() as conn:
            for role in roles:
                create_user(conn, user_id=f"u-{role.value}", name=role.value, role=role, now=now)
                tokens[role.value] = issue_token(conn, role=role, now=now, user_id=f"u-{role.value}")
            tokens[GATEWAY] = issue_token(conn, role=Role.DEVICE, now=now)
            if extra is not None:
                extra(conn, now, tokens)
        return tokens
    finally:
        db.dispose()
