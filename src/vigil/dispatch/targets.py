"""Dispatch targets in the registry: read, written, and the one the environment may define."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from vigil.dispatch.dossier import Agency
from vigil.dispatch.routing import FORMATS, Target
from vigil.domain.alerts import AlertKind
from vigil.store import tables as t

ENV_TARGET = "env-default"  # the target VIGIL_DISPATCH_URL and VIGIL_DISPATCH_SECRET define


def load_targets(conn: Connection) -> list[Target]:
    return [
        target_from_row(r) for r in conn.execute(select(t.dispatch_targets).order_by(t.dispatch_targets.c.id))
    ]


def target_from_row(row: Any) -> Target:
    return Target(
        id=row.id,
        name=row.name,
        url=row.url,
        secret=row.secret,
        agency=Agency(row.agency),
        codes=frozenset(row.codes),
        formats=frozenset(row.formats),
        kinds=None if row.kinds is None else frozenset(AlertKind(k) for k in row.kinds),
        priority=row.priority,
        enabled=row.enabled,
    )


def put_target(conn: Connection, target: Target, now: datetime, disabled_reason: str = "") -> bool:
    """Create or replace a target; True when created."""
    values = {
        "name": target.name,
        "url": target.url,
        "secret": target.secret,
        "agency": target.agency.value,
        "codes": sorted(target.codes),
        "formats": sorted(target.formats),
        "kinds": None if target.kinds is None else sorted(k.value for k in target.kinds),
        "priority": target.priority,
        "enabled": target.enabled,
        "disabled_reason": "" if target.enabled else disabled_reason,
        "updated_at": now,
    }
    exists = conn.execute(select(t.dispatch_targets.c.id).where(t.dispatch_targets.c.id == target.id)).first()
    if exists is None:
        conn.execute(insert(t.dispatch_targets).values(id=target.id, created_at=now, **values))
        return True
    conn.execute(update(t.dispatch_targets).where(t.dispatch_targets.c.id == target.id).values(**values))
    return False


def sync_env_target(conn: Connection, url: str | None, secret: str | None, now: datetime) -> None:
    """Make the registry match the environment: one target receiving everything while
    VIGIL_DISPATCH_URL is set, disabled once it is unset (its history stays)."""
    exists = conn.execute(
        select(t.dispatch_targets.c.id).where(t.dispatch_targets.c.id == ENV_TARGET)
    ).first()
    if url and secret:
        target = Target(ENV_TARGET, "VIGIL_DISPATCH_URL", url, secret, Agency.ANY, frozenset(), FORMATS)
        put_target(conn, target, now)
    elif exists is not None:
        conn.execute(
            update(t.dispatch_targets)
            .where(t.dispatch_targets.c.id == ENV_TARGET)
            .values(enabled=False, disabled_reason="VIGIL_DISPATCH_URL is no longer set", updated_at=now)
        )


def target_json(row: Any) -> dict[str, Any]:
    """A target as the API shows it: never its secret."""
    return {
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "agency": row.agency,
        "codes": row.codes,
        "formats": row.formats,
        "kinds": row.kinds,
        "priority": row.priority,
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
    }
