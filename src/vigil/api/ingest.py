"""Device ingestion over HTTP: Vigil's native JSON and the OsmAnd / Traccar Client protocol.

A device is answered only after the processor has committed its reports. Statuses: 200 all stored
(or already stored: retries are idempotent); 422 some messages refused, the others stored, each
refusal with its field and reason; 400 the body as a whole is unreadable; 413 too large; 503 the
store failed, nothing was kept, retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

from vigil.adapters import Decoded, InputError, native, osmand
from vigil.api import deps, writer
from vigil.api.auth import identify, require
from vigil.api.deps import Wired
from vigil.api.policy import Action, allows
from vigil.commands import Ingest, IngestOutcome
from vigil.store.accounts import Principal
from vigil.tally import HTTP, OSMAND

router = APIRouter(tags=["devices"])
TOO_LARGE = "the body is larger than {limit} bytes"
STORE_DOWN = "the report could not be stored; nothing was kept: retry"


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (before reading it all)."""
    limit: int = deps.services(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE.format(limit=limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE.format(limit=limit))
        chunks.append(chunk)
    return b"".join(chunks)


async def store(
    request: Request, decoded: Decoded, received_at: datetime, principal: Principal, channel: str
) -> IngestOutcome:
    traffic = deps.services(request).traffic  # counted for /metrics by channel (vigil/tally.py)
    traffic.rejected(channel, decoded.errors)
    if not decoded.reports:
        return IngestOutcome()
    try:
        outcome = await writer.run(request, Ingest(decoded.reports, received_at, principal.device_id))
    except Exception as exc:
        traffic.lost(channel, len(decoded.reports))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, STORE_DOWN) from exc
    traffic.took(channel, len(decoded.reports), outcome)
    return outcome


async def commands_for(request: Request, decoded: Decoded, principal: Principal) -> list[dict[str, Any]]:
    """The pending commands of the devices this post spoke for (its own device, for a device-bound
    token), marked sent: an HTTP device's only channel back is the answer to its next post."""
    gateway = deps.services(request).gateway
    if gateway is None or gateway.courier is None or not gateway.courier.waiting:
        return []  # nothing waits for any HTTP device: the common case costs nothing
    devices = {principal.device_id} if principal.device_id else {r.device_id for _, r in decoded.reports}
    handed = await gateway.courier.handed_over(devices, "the answer to its post")
    return [
        {"id": c.id, "device": c.device_id, "ref": c.ref, "type": c.kind.value, "params": dict(c.params)}
        for c in handed
    ]


def answer(
    decoded: Decoded, outcome: IngestOutcome, commands: list[dict[str, Any]] | None = None
) -> JSONResponse:
    errors: list[InputError] = sorted(
        decoded.errors + outcome.errors, key=lambda e: (-1 if e.index is None else e.index, e.field)
    )
    body: dict[str, Any] = {
        "stored": outcome.stored,
        "duplicates": outcome.duplicates,
        "errors": [e.as_dict() for e in errors],
    }
    if commands:
        body["commands"] = commands
    if not errors:
        code = status.HTTP_200_OK
    elif any(e.index is None for e in errors):
        code = status.HTTP_400_BAD_REQUEST
    else:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return JSONResponse(body, status_code=code)


@router.post("/v1/devices/messages")
async def post_messages(
    request: Request, services: Wired, principal: Annotated[Principal, Depends(require(Action.DEVICE_POST))]
) -> JSONResponse:
    """One message or a batch (a JSON array, or {"messages": [...]}) of fixes and device events."""
    received_at = services.clock()
    decoded = native.decode(await read_body(request), received_at)
    outcome = await store(request, decoded, received_at, principal, HTTP)
    return answer(decoded, outcome, await commands_for(request, decoded, principal))


async def _osmand(request: Request, token: str | None) -> JSONResponse:
    services = deps.services(request)
    principal = services.tokens.principal(token) if token else identify(request)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the token is unknown, expired or revoked")
    if not allows(principal.role, Action.DEVICE_POST):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
    received_at = services.clock()
    body = await read_body(request)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        decoded = osmand.decode_json(body, received_at)
    else:
        if not params and body:
            form: FormData = await _form(request, body)
            params = [(k, str(v)) for k, v in form.multi_items() if k != "token"]
        decoded = osmand.decode_query(params, received_at)
    outcome = await store(request, decoded, received_at, principal, OSMAND)
    response = answer(decoded, outcome, await commands_for(request, decoded, principal))
    if response.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
        response.status_code = status.HTTP_400_BAD_REQUEST  # Traccar clients expect 400 for refusals
    return response


async def _form(request: Request, body: bytes) -> FormData:
    from urllib.parse import parse_qsl

    pairs: list[tuple[str, str | Any]] = list(
        parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    )
    return FormData(pairs)


# One route per method (not api_route(methods=[...])): each needs its own OpenAPI operation id.
@router.get("/osmand")
@router.post("/osmand")
async def osmand_query(request: Request) -> JSONResponse:
    """OsmAnd / Traccar Client: parameters in the query string, a form body, or a JSON body.
    Speed in knots as the protocol says. Token as ?token= or a Bearer header."""
    return await _osmand(request, None)


@router.get("/osmand/t/{token}")
@router.post("/osmand/t/{token}")
async def osmand_with_token(request: Request, token: str) -> JSONResponse:
    """The same, with the device token in the path, for apps that take only a server URL."""
    return await _osmand(request, token)
