"""The auditors' view of the trail: search, export (with a purpose) and verify."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from vigil.api import trail
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action
from vigil.store import audit
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1/audit", tags=["audit"])


# --- the auditors' view -------------------------------------------------------------------------------


Auditor = Annotated[Principal, Depends(require(Action.AUDIT_READ))]


def _query(
    actor: str | None, action: str | None, target: str | None, since: datetime | None, until: datetime | None
) -> Any:
    query = select(t.audit_log).order_by(t.audit_log.c.seq)
    if actor:
        query = query.where(t.audit_log.c.actor == actor)
    if action:
        query = query.where(t.audit_log.c.action == action)
    if target:
        query = query.where(t.audit_log.c.target.contains(target, autoescape=True))
    if since is not None:
        query = query.where(t.audit_log.c.at >= since)
    if until is not None:
        query = query.where(t.audit_log.c.at <= until)
    return query


def _json(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq, "at": iso(row.at), "actor": row.actor, "role": row.role, "action": row.action,
        "target": row.target, "purpose": row.purpose, "reason": row.reason, "source": row.source,
        "detail": row.detail, "hash": row.hash, "mac": row.mac,
    }  # fmt: skip


@router.get("")
def search(
    services: Wired,
    _: Auditor,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = Query(default=None, description="part of the path accessed, e.g. a person id"),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Search the trail (auditors): by actor, action, what was accessed, and time."""
    with services.db.connect() as conn:
        return [_json(r) for r in conn.execute(_query(actor, action, target, since, until).limit(limit))]


@router.get("/export")
def export(
    request: Request,
    services: Wired,
    _: Auditor,
    format: str = Query(default="json", pattern="^(json|csv)$"),
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    """Export the matching entries as JSON or CSV. Exporting needs a purpose (and is itself audited)."""
    trail.require_purpose(request)
    with services.db.connect() as conn:
        rows = [_json(r) for r in conn.execute(_query(actor, action, target, since, until))]
    if format == "json":
        return Response(json.dumps(rows, ensure_ascii=False), media_type="application/json")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["seq"])
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "detail": json.dumps(row["detail"], ensure_ascii=False)})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/verify")
def verify(services: Wired, _: Auditor, expect_head: str | None = None) -> dict[str, Any]:
    """Walk the chain with the server's audit key and check every anchor: whether it is intact, and
    where it breaks if not."""
    assert services.audit_key is not None and services.anchorer is not None  # a server has both
    with services.db.connect() as conn:
        verdict = audit.verify(conn, services.audit_key, expect_head, services.anchorer.path)
    return {
        "entries": verdict.entries,
        "head": verdict.head,
        "intact": verdict.intact,
        "legacy": verdict.legacy,
        "keyed": verdict.keyed,
        "anchors": verdict.anchors,
        "notes": list(verdict.notes),
        "findings": [{"seq": f.seq, "problem": f.problem} for f in verdict.findings],
    }
