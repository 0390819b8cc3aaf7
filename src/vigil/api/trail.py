"""Purpose and audit at the edge: every authenticated access is recorded (who, role, when, what, for
what purpose, from where) before it is served, and reading history or exporting asks for a purpose."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from fastapi import HTTPException, Request, WebSocket, status

from vigil.api import deps, writer
from vigil.api.policy import Action
from vigil.commands import Audit
from vigil.store import audit
from vigil.store.accounts import Principal

# Devices posting their own reports is ingestion, not access to anyone's data: recording each of
# thousands of posts a second would bury the accesses that matter.
UNAUDITED = frozenset({Action.DEVICE_POST})
AUDIT_TIMEOUT_S = 10.0


class Purpose(StrEnum):
    """Why someone reads history or exports: the reason codes an auditor can search by."""

    ALERT_RESPONSE = "alert_response"
    INVESTIGATION = "investigation"
    COURT_ORDER = "court_order"
    SUPERVISION = "supervision"  # probation's casework
    VICTIM_SAFETY = "victim_safety"
    AUDIT_REVIEW = "audit_review"
    MONITORING = "monitoring"  # a control-centre shift watching everyone monitored, not one alert
    DATA_SUBJECT_REQUEST = "data_subject_request"


def stated_purpose(conn: Request | WebSocket) -> tuple[str, str]:
    """The purpose the caller gave (query `purpose` and `reason`, or headers X-Purpose and
    X-Purpose-Reason, the latter percent-encoded UTF-8), as given; checked only where one is required."""
    code = conn.query_params.get("purpose") or conn.headers.get("x-purpose") or ""
    # Header values are Latin-1 on the wire: the apps percent-encode a reason written in Korean.
    reason = conn.query_params.get("reason") or unquote(conn.headers.get("x-purpose-reason") or "")
    return code[:40], reason[:500]


def purpose_problems(conn: Request | WebSocket) -> list[dict[str, str]]:
    """What is missing from the caller's stated purpose (nothing: it will do)."""
    code, reason = stated_purpose(conn)
    problems = []
    if code not in set(Purpose):
        problems.append({"field": "purpose", "reason": f"a purpose is required: one of {', '.join(Purpose)}"})
    if len(reason.strip()) < 5:
        problems.append({"field": "reason", "reason": "say why, in a few words (at least 5 characters)"})
    return problems


def require_purpose(request: Request) -> tuple[Purpose, str]:
    """A reason code and at least a few words, or 422 naming what is missing."""
    problems = purpose_problems(request)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems)
    code, reason = stated_purpose(request)
    return Purpose(code), reason.strip()


def entry(conn: Request | WebSocket, actor: str, role: str, action: str, **detail: Any) -> audit.Entry:
    code, reason = stated_purpose(conn)
    query = _without_secrets(conn)
    target = conn.url.path + (f"?{query}" if query else "")
    source = conn.client.host if conn.client else ""
    method = getattr(conn, "method", "WS")
    return audit.Entry(actor, role, action, target[:240], code, reason, source, {"method": method, **detail})


def _without_secrets(conn: Request | WebSocket) -> str:
    """The query string without credentials (tokens must never reach the trail), nor the purpose
    (recorded in its own fields)."""
    kept = (f"{k}={v}" for k, v in conn.query_params.multi_items() if k not in {"token", "purpose", "reason"})
    return "&".join(kept)


def record_sync(conn: Request | WebSocket, item: audit.Entry) -> None:
    """Record before serving, from a worker thread; refuse to serve (503) if it cannot be recorded."""
    future: Future[int] = deps.services(conn).runner.submit(Audit((item,)))
    try:
        future.result(timeout=AUDIT_TIMEOUT_S)  # raises if the writer refused the entry
    except Exception:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the access could not be audited; retry"
        ) from None


async def record(conn: Request | WebSocket, item: audit.Entry) -> None:
    """Record before serving, from the event loop."""
    try:
        # raises if the writer refused the entry
        await asyncio.wait_for(writer.run(conn, Audit((item,))), AUDIT_TIMEOUT_S)
    except Exception:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the access could not be audited; retry"
        ) from None


def access(
    conn: Request | WebSocket, principal: Principal, action: Action, allowed: bool, **detail: Any
) -> None:
    """What `require` records for every authenticated call, allowed or refused."""
    if action in UNAUDITED:
        return
    record_sync(
        conn, entry(conn, principal.id, principal.role.value, action.value, allowed=allowed, **detail)
    )
