"""How the edge says no: one JSON body, `{"detail": ...}`, the same shape the routers answer with,
sent before the app runs. A WebSocket refused before its handshake is closed instead."""

from __future__ import annotations

import json

from starlette.types import Receive, Scope, Send


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str | list[dict[str, str]],
    headers: dict[str, str] | None = None,
) -> None:
    if scope["type"] == "websocket":
        # Refused before the handshake: the server answers 403 (or closes), the app never runs.
        await receive()
        await send(
            {"type": "websocket.close", "code": 1008 if status != 429 else 1013, "reason": str(detail)}
        )
        return
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
