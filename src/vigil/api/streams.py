"""Live fan-out over WebSocket. Each viewer has a bounded queue and a server-side filter; a viewer
that falls behind is dropped (and may reconnect), so one slow client never slows the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from vigil.api import trail
from vigil.api.auth import FORBIDDEN, identify
from vigil.api.policy import Action, allows
from vigil.api.views import change_json, position_feature
from vigil.processor import Published
from vigil.store.accounts import Principal

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_TOO_SLOW = 4008  # an application close code: "you fell behind, reconnect"
CLOSE_POLICY = 1008
CLOSE_UNAVAILABLE = 1013  # "try again later": the access could not be audited


@dataclass(eq=False)
class Viewer:
    principal: Principal
    queue: asyncio.Queue[str | None]
    subject: str | None = None  # only this subject (and the protected persons linked to his alerts)
    alert: str | None = None  # only this alert's parties and changes
    dropped: bool = False
    people: set[str] = field(default_factory=set)

    def wants_alert(self, alert_id: str, subject: str | None, protected: str | None) -> bool:
        if self.alert is not None:
            return alert_id == self.alert
        if self.subject is not None:
            return subject == self.subject
        return True

    def wants_position(self, person: str) -> bool:
        if self.alert is None and self.subject is None:
            return True
        return person in self.people


class Hub:
    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self.viewers: set[Viewer] = set()
        self.dropped = 0

    def join(
        self, principal: Principal, *, subject: str | None, alert: str | None, people: set[str]
    ) -> Viewer:
        viewer = Viewer(principal, asyncio.Queue(self._queue_size), subject, alert, people=people)
        self.viewers.add(viewer)
        return viewer

    def leave(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    def publish(self, published: Published) -> None:
        """Called on the event loop after a batch commits. Each message is encoded once."""
        if not self.viewers:
            return
        alerts = [(c, json.dumps(change_json(c))) for c in published.alerts]
        positions = [
            (
                p.person_id,
                json.dumps(
                    {"type": "position", "feature": position_feature(p.person_id, p.person_kind, p.fix)}
                ),
            )
            for p in published.positions
        ]
        for viewer in list(self.viewers):
            for change, text in alerts:
                a = change.alert
                if viewer.wants_alert(a.id, a.subject_id, a.protected_person_id):
                    # the parties of an alert a viewer follows become visible to that viewer
                    viewer.people.update(p for p in (a.subject_id, a.protected_person_id) if p)
                    self._offer(viewer, text)
            for person, text in positions:
                if viewer.wants_position(person):
                    self._offer(viewer, text)

    def _offer(self, viewer: Viewer, text: str) -> None:
        if viewer.dropped:
            return
        try:
            viewer.queue.put_nowait(text)
        except asyncio.QueueFull:
            viewer.dropped = True
            self.dropped += 1
            self.leave(viewer)
            with contextlib.suppress(asyncio.QueueFull):
                viewer.queue.get_nowait()
                viewer.queue.put_nowait(None)  # wakes the sender, which closes the socket


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    """Positions (GeoJSON Features) and alert changes, filtered to what the viewer may see.
    Query: token, and optionally subject=<id> or alert=<id>."""
    try:
        principal = identify(websocket)
    except HTTPException as exc:
        await websocket.close(code=CLOSE_POLICY, reason=str(exc.detail))
        return
    allowed = allows(principal.role, Action.STREAM)
    try:
        await trail.record(
            websocket, trail.entry(websocket, principal.id, principal.role.value, "stream", allowed=allowed)
        )
    except HTTPException as exc:
        await websocket.close(code=CLOSE_UNAVAILABLE, reason=str(exc.detail))
        return
    if not allowed:
        await websocket.close(code=CLOSE_POLICY, reason=FORBIDDEN)
        return
    subject = websocket.query_params.get("subject")
    alert_id = websocket.query_params.get("alert")
    people: set[str] = set()
    if subject:
        people.add(subject)
        people.update(await asyncio.to_thread(websocket.app.state.reader.protected_of, subject))
    if alert_id:
        parties = await asyncio.to_thread(websocket.app.state.reader.alert_parties, alert_id)
        if parties is None:
            await websocket.close(code=CLOSE_POLICY, reason="unknown alert")
            return
        people.update(parties)
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    viewer = hub.join(principal, subject=subject, alert=alert_id, people=people)
    try:
        await websocket.send_text(json.dumps({"type": "hello", "subject": subject, "alert": alert_id}))
        receiver = asyncio.create_task(_drain_incoming(websocket))
        while True:
            getter = asyncio.create_task(viewer.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                return
            text = getter.result()
            if text is None:
                await websocket.close(code=CLOSE_TOO_SLOW, reason="too slow: reconnect")
                return
            await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        hub.leave(viewer)


async def _drain_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
