"""Live fan-out over WebSocket. Each viewer has a bounded queue and a server-side filter; a viewer
that falls behind is dropped (and may reconnect), so one slow client never slows the server.

What it costs is kept per change, not per viewer: each alert change and each position is encoded
once, and the same text is handed to every viewer that may see it (`Hub.publish`). Viewers of the
whole map (no subject or alert filter) get positions in batches, at most one every `batch_s`, the
latest fix per person winning (`Viewer.hold`); an alert change is never held back: the positions
gathered for that viewer go out just before it, then the change itself. However far behind a viewer
is, it holds at most two positions per person it may see (one gathering, one queued and not yet
sent: `Hub._flush` keeps only the newest queued); its queue (alert changes, batches, and single
positions for filtered viewers) is bounded, and a full queue drops the viewer (4008)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import msgspec
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from vigil.api import deps, trail
from vigil.api.auth import FORBIDDEN, OUT_OF_SCOPE, identify, token_of
from vigil.api.deps import Wired
from vigil.api.policy import Action, Record, Scope, allows, reaches, scope_of
from vigil.api.stream_areas import Tally
from vigil.api.views import change_json, position_feature
from vigil.domain.alerts import TERMINAL, Alert, parties
from vigil.domain.model import PersonKind, PersonRef, protected_ref, subject_ref
from vigil.jurisdiction import locate
from vigil.processor import Published
from vigil.store.accounts import Principal

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_TOO_SLOW = 4008  # an application close code: "you fell behind, reconnect"
CLOSE_POLICY = 1008
NO_PURPOSE = "a purpose is required: purpose=<code>&reason=<a few words>"  # a close reason: <= 123 bytes
CLOSE_UNAVAILABLE = 1013  # "try again later": the access could not be audited
REVOKED = "the token was revoked, or what it stands for changed: sign in again"

Key: TypeAlias = tuple[str, str]  # (person_kind, person_id) as the position names them
Held: TypeAlias = tuple[datetime, str]  # a fix's time and its feature, encoded
Batch: TypeAlias = dict[Key, Held]  # positions for one message, at most one per person
# a text to send, a batch or a tally to render when sent, or None: "close: too slow"
Item: TypeAlias = str | Batch | Tally | None

_encoder = msgspec.json.Encoder()


def encode(value: Any) -> str:
    """JSON text (compact). msgspec: several times faster than json.dumps on these small dicts."""
    return _encoder.encode(value).decode()


def batch_text(features: Iterable[str]) -> str:
    """A batch of positions: {"type": "positions", "features": [Feature, ...]} from encoded features
    (joined, not re-encoded)."""
    return '{"type":"positions","features":[' + ",".join(features) + "]}"


@dataclass(eq=False)
class Viewer:
    principal: Principal
    queue: asyncio.Queue[Item]
    scope: Scope  # what the viewer may see at all; the filters below narrow it
    subject: str | None = None  # only this subject (and the protected persons linked to his alerts)
    alert: str | None = None  # only this alert's parties and changes
    dropped: bool = False
    people: set[PersonRef] = field(default_factory=set)  # the filter's people
    # The open alerts this viewer follows, with their parties: a dispatcher sees a party's position
    # while an alert of theirs is open, a filtered viewer sees the parties of the alerts it follows.
    # People are compared with their kind: an id shared by a subject and a protected person (an old
    # database) does not make one's positions flow to a viewer of the other.
    followed: dict[str, frozenset[PersonRef]] = field(default_factory=dict)
    # Batching (whole-map viewers only): the positions gathered since the last flush (one per
    # person), the queued batch, not yet sent, that holds each person's position (one per person
    # across the queue), and the batch at the queue's tail while nothing was queued after it (a
    # flush adds to it rather than queue another).
    batched: bool = False
    gathering: Batch = field(default_factory=dict)
    held: dict[Key, Batch] = field(default_factory=dict)
    tail: Batch | None = None
    # The whole map at national zoom (view=areas): counts per municipality instead of positions.
    tally: Tally | None = None

    def wants_alert(self, alert: Alert, codes: Iterable[str]) -> bool:
        if not self.scope.sees_alert(alert, codes):
            return False
        if self.alert is not None:
            return alert.id == self.alert
        if self.subject is not None:
            return alert.subject_id == self.subject
        return True

    def follow(self, alert: Alert, concerned: frozenset[PersonRef]) -> None:
        """Note an alert this viewer receives, with its parties (none once it has closed)."""
        if alert.state in TERMINAL:
            self.followed.pop(alert.id, None)
            return
        self.followed[alert.id] = self.followed.get(alert.id, frozenset()) | concerned

    def wants_position(self, person: PersonRef | None) -> bool:
        unfiltered = self.alert is None and self.subject is None
        if self.scope.everything and unfiltered:
            return True  # the control centre's whole map: no per-person work on the hot path
        if person is None:
            return False  # a device bound with no recorded kind: only the whole map shows it
        followed = any(person in concerned for concerned in self.followed.values())
        allowed = followed if self.scope.by_alerts else self.scope.sees(person.kind, person.id)
        return allowed and (unfiltered or person in self.people or followed)

    def hold(self, key: Key, held: Held) -> None:
        """Keep a person's position for the next flush; the newest fix (by its time) wins."""
        mine = self.gathering.get(key)
        if mine is None:
            queued = self.held.get(key)
            mine = None if queued is None else queued.get(key)
        if mine is not None and mine[0] > held[0]:
            return  # a late fix, older than one this viewer is about to be sent
        self.gathering[key] = held

    def take(self, batch: Batch | Tally) -> str | None:
        """The text of a batch or tally the sender took from the queue (None if nothing is left to
        say: every position in it was overtaken by a newer one); a batch's people are no longer held."""
        if isinstance(batch, Tally):
            return batch.take()
        if self.tail is batch:
            self.tail = None
        for key in batch:
            if self.held.get(key) is batch:
                del self.held[key]
        return batch_text(text for _, text in batch.values()) if batch else None


class Hub:
    def __init__(self, queue_size: int, batch_s: float = 0.25) -> None:
        self._queue_size = queue_size
        self._batch_s = batch_s  # 0: no batching, every fix its own message to every viewer
        self._timer: asyncio.TimerHandle | None = None
        self.viewers: set[Viewer] = set()
        self.dropped = 0

    def join(
        self,
        principal: Principal,
        scope: Scope,
        *,
        subject: str | None,
        alert: str | None,
        people: set[PersonRef],
        areas: bool = False,
    ) -> Viewer:
        """A new viewer; `areas`: counts per municipality instead of positions (the whole map only)."""
        whole = subject is None and alert is None
        viewer = Viewer(
            principal, asyncio.Queue(self._queue_size), scope, subject, alert, people=people,
            followed=dict(scope.followed),
            batched=self._batch_s > 0 and whole and not areas,
            tally=Tally() if areas and whole else None,
        )  # fmt: skip
        self.viewers.add(viewer)
        return viewer

    def leave(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    def publish(self, published: Published) -> None:
        """Called on the event loop after a batch commits. Each message is encoded once, whoever
        and however many receive it."""
        if not self.viewers:
            return
        alerts = [(c, encode(change_json(c))) for c in published.alerts]
        positions = [
            (
                _ref(p.person_kind, p.person_id),
                (p.person_kind, p.person_id),
                (p.fix.time, encode(position_feature(p.person_id, p.person_kind, p.fix, p.pursuit))),
            )
            for p in published.positions
        ]
        single: dict[int, str] = {}  # the one-position message, made once if a filtered viewer wants it
        codes: dict[int, str] = {}  # the municipality of a position, found once if a tally wants it
        gathered = False
        for viewer in list(self.viewers):
            for change, text in alerts:
                alert = change.alert
                if viewer.wants_alert(alert, published.areas.get(alert.id, ())):
                    viewer.follow(alert, published.parties.get(alert.id, frozenset()))
                    if viewer.batched:
                        self._flush(viewer)  # what it was shown before the change goes first
                    self._offer(viewer, text)
            for i, (person, key, held) in enumerate(positions):
                if not viewer.wants_position(person):
                    continue
                if viewer.tally is not None:
                    code = codes.get(i)
                    if code is None:
                        fix = published.positions[i].fix
                        code = codes[i] = locate(fix.lat, fix.lon).code
                    viewer.tally.place(key, held[0], code)
                    gathered = True
                elif viewer.batched:
                    viewer.hold(key, held)
                    gathered = True
                else:
                    one = single.get(i)
                    if one is None:
                        one = single[i] = '{"type":"position","feature":' + held[1] + "}"
                    self._offer(viewer, one)
        if gathered and self._timer is None:
            # a tally without batching (batch_s 0) is still sent at most every 250 ms
            self._timer = asyncio.get_running_loop().call_later(self._batch_s or 0.25, self.flush)

    def flush(self) -> None:
        """Send every whole-map viewer what it has gathered (the batching timer calls it)."""
        self._timer = None
        for viewer in list(self.viewers):
            if viewer.batched:
                self._flush(viewer)
            elif viewer.tally is not None:
                self.tell(viewer)

    def tell(self, viewer: Viewer) -> None:
        """Queue a tally's message, unless one is waiting already (it will say the newest counts)."""
        tally = viewer.tally
        if tally is not None and tally.changed and not tally.queued and self._offer(viewer, tally):
            tally.queued = True

    def _flush(self, viewer: Viewer) -> None:
        gathered = viewer.gathering
        if not gathered:
            return
        viewer.gathering = {}
        tail = viewer.tail  # the sender has not taken the last batch yet: one message will do
        batch = gathered if tail is None else tail
        held = viewer.held
        for key, position in gathered.items():
            older = held.get(key)
            if older is not None and older is not batch:
                # still queued a window later, behind this one: the viewer is behind, and it is
                # sent the newest only (so it holds one position per person at most, queued)
                del older[key]
            batch[key] = position
            held[key] = batch
        if tail is None and self._offer(viewer, batch):
            viewer.tail = batch

    def _offer(self, viewer: Viewer, item: str | Batch | Tally) -> bool:
        if viewer.dropped:
            return False
        viewer.tail = None  # anything queued after a batch closes it: the batch keeps its place
        try:
            viewer.queue.put_nowait(item)
        except asyncio.QueueFull:
            viewer.dropped = True
            self.dropped += 1
            self.leave(viewer)
            viewer.gathering, viewer.held = {}, {}
            with contextlib.suppress(asyncio.QueueFull):
                viewer.queue.get_nowait()
                viewer.queue.put_nowait(None)  # wakes the sender, which closes the socket
            return False
        return True


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket, services: Wired) -> None:
    """Positions (GeoJSON Features) and alert changes, filtered to what the viewer may see.
    Query: token, and optionally subject=<id> or alert=<id>. Without either (the whole map),
    positions come batched ({"type": "positions", "features": [...]}), or with view=areas as counts
    per municipality ({"type": "areas", "areas": {code: {kind: n}}}) instead of positions."""
    try:
        principal = identify(websocket)
    except HTTPException as exc:
        await _refuse(websocket, CLOSE_POLICY, str(exc.detail))
        return
    subject = websocket.query_params.get("subject")
    alert_id = websocket.query_params.get("alert")
    view = websocket.query_params.get("view", "positions")
    allowed = allows(principal.role, Action.STREAM)
    reason = FORBIDDEN
    if allowed and (view not in VIEWS or (view == "areas" and (subject or alert_id))):
        allowed, reason = False, BAD_VIEW
    scope = Scope()
    if allowed:
        scope, reach = await asyncio.to_thread(_scope, websocket, principal, subject, alert_id)
        if not reach:
            allowed, reason = False, OUT_OF_SCOPE
        elif scope.everything and alert_id is None and trail.purpose_problems(websocket):
            # everyone's positions, or one subject's beyond an alert: a view that needs a purpose
            allowed, reason = False, NO_PURPOSE
    try:
        await trail.record(
            websocket, trail.entry(websocket, principal.id, principal.role.value, "stream", allowed=allowed)
        )
    except HTTPException as exc:
        await _refuse(websocket, CLOSE_UNAVAILABLE, str(exc.detail))
        return
    if not allowed:
        await _refuse(websocket, CLOSE_POLICY, reason)
        return
    people: set[PersonRef] = set()
    if subject:
        people.add(subject_ref(subject))
        protected = await asyncio.to_thread(services.reader.protected_of, subject)
        people.update(protected_ref(p) for p in protected)
    if alert_id:
        reader = services.reader
        alert = await asyncio.to_thread(reader.alert, alert_id)
        if alert is None:
            await _refuse(websocket, CLOSE_POLICY, "unknown alert")
            return
        people.update(await asyncio.to_thread(parties, alert, reader.subjects_of))
    hub: Hub = services.hub
    tokens = services.tokens
    token = token_of(websocket) or ""
    await websocket.accept()
    viewer = hub.join(principal, scope, subject=subject, alert=alert_id, people=people, areas=view == "areas")
    try:
        await websocket.send_text(json.dumps({"type": "hello", "subject": subject, "alert": alert_id}))
        if viewer.tally is not None:  # where everyone it may see was when it connected
            placed = await asyncio.to_thread(_placed, services.reader.latest_positions, scope)
            for key, at, code in placed:
                viewer.tally.seed(key, at, code)  # unless the stream told of them meanwhile
            hub.tell(viewer)
        receiver = asyncio.create_task(_drain_incoming(websocket))
        while True:
            getter = asyncio.create_task(viewer.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                return
            texts = [getter.result()]
            while not viewer.queue.empty():
                texts.append(viewer.queue.get_nowait())
            # Revocation takes effect on an open stream too: nothing more is sent on a token revoked
            # (or standing for another role or scope) before this check. One check (a cache hit
            # unless something was revoked) serves whatever queued meanwhile.
            if await asyncio.to_thread(tokens.principal, token) != principal:
                await websocket.close(code=CLOSE_POLICY, reason=REVOKED)
                return
            for item in texts:
                if item is None:
                    await websocket.close(code=CLOSE_TOO_SLOW, reason="too slow: reconnect")
                    return
                text = item if isinstance(item, str) else viewer.take(item)
                if text is not None:
                    await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        hub.leave(viewer)


VIEWS = frozenset({"positions", "areas"})
BAD_VIEW = "view=positions (the default) or view=areas; areas are of the whole map (no subject or alert)"


def _placed(
    latest: Callable[[frozenset[PersonRef] | None], list[dict[str, Any]]], scope: Scope
) -> list[tuple[Key, datetime, str]]:
    """Where everyone the viewer may see was last placed: every bound device's newest believed fix,
    with its municipality (read in a thread; the tally is seeded on the loop)."""
    rows = latest(None if scope.everything else scope.people)
    return [
        ((r["person_kind"] or "", r["person_id"]), r["time"], locate(r["lat"], r["lon"]).code) for r in rows
    ]


def _ref(kind: str, person_id: str) -> PersonRef | None:
    """The person a position is of, with the kind its device was bound as (None if not recorded)."""
    return PersonRef(PersonKind(kind), person_id) if kind in _KINDS else None


_KINDS = frozenset(PersonKind)  # built once: asked for every position sent to every viewer


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Accept, then close with the code and reason: a browser is told why only on an open socket
    (a close before accepting reaches it as a bare handshake failure, 1006)."""
    await websocket.accept()
    await websocket.close(code=code, reason=reason)


def _scope(
    websocket: WebSocket, principal: Principal, subject: str | None, alert_id: str | None
) -> tuple[Scope, bool]:
    """The viewer's scope, and whether the subject or alert it asked to follow is within it."""
    services = deps.services(websocket)
    reader = services.reader
    scope = scope_of(principal, reader, services.clock())
    reach = all(
        reaches(scope, record, ident, reader)
        for record, ident in ((Record.SUBJECT, subject), (Record.ALERT, alert_id))
        if ident
    )
    return scope, reach


async def _drain_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
