"""Staging: what a committed alert change makes to push. Each push is written to the outbox (an
event row with its draft, and one delivery row per target) in the transaction that commits the
change, so a change and its pushes are committed together or not at all. Only what must be atomic
with the change is done here: the dossier (it reads the engine's live state, which only this
thread may), the links issued, the rows. Rendering is the deliverer's, after the commit.

The stager remembers, per open alert and per open incident, what was pushed before: the next push
carries the sequence, the references (CAP's chain) and the live-track link its target was sent.
It reads the engine through `StagingView` only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select

from vigil.dispatch import draft, links, routing
from vigil.dispatch.dossier import Dossier, PushType, Reference
from vigil.dispatch.links import Holder, Issued
from vigil.dispatch.outbox.messages import OutboxSettings, Pending
from vigil.dispatch.outbox.records import alarm_signal
from vigil.dispatch.outbox.scene import Known, incident_number, known, order_info, scene
from vigil.dispatch.outbox.views import SceneView, StagingView
from vigil.dispatch.routing import Target
from vigil.dispatch.targets import load_targets
from vigil.domain.alerts import TERMINAL, Alert, AlertChange, AlertKey, AlertKind, Change, Facts
from vigil.store import absences
from vigil.store import tables as t
from vigil.store.codec import facts_from_json, facts_json

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _History:
    """What has been pushed about one alert, for the next push to build on."""

    facts: Facts
    references: list[Reference] = field(default_factory=list)
    sequence: int = 0
    # The live-track link each target was sent, so its later pushes carry the same one. Only the
    # hash is stored, so after a restart a target's next push carries a new link (the old one lives on).
    links: dict[str, Issued] = field(default_factory=dict)


# Alerts an approved absence can cover: being away from a zone or a curfew his officer allowed. Never
# an approach to her, a cut strap or her SOS: no approval covers those.
COVERABLE = frozenset({AlertKind.ZONE_VIOLATION})


class Stager:
    def __init__(self, settings: OutboxSettings, link_base: Callable[[], str | None]) -> None:
        self.settings = settings
        self._link_base = link_base
        self._pushed: dict[str, _History] = {}
        # Per open incident: every push about its alerts, oldest first (CAP references: one stream),
        # and the live-track link each target was sent for it (one per target per incident).
        self._chains: dict[str, list[Reference]] = {}
        self._incident_links: dict[str, dict[str, Issued]] = {}
        self._covered: set[str] = set()  # alerts whose timeline says an absence covers them

    def load(self, conn: Connection) -> None:
        """What was pushed about alerts still open (at start-up, and after a failed commit)."""
        self._pushed = {}
        query = (
            select(t.dispatch_events)
            .join(t.alerts, t.alerts.c.id == t.dispatch_events.c.alert_id)
            .where(t.alerts.c.state.not_in([s.value for s in TERMINAL]))
            .order_by(t.dispatch_events.c.alert_id, t.dispatch_events.c.sequence)
        )
        for row in conn.execute(query):
            history = self._pushed.setdefault(row.alert_id, _History(Facts()))
            history.facts = facts_from_json(row.facts)
            history.sequence = row.sequence
            history.references.append(Reference(row.id, row.created_at))
        self._chains, self._incident_links = {}, {}
        chained = (
            select(t.dispatch_events.c.id, t.dispatch_events.c.created_at, t.alerts.c.incident_id)
            .join(t.alerts, t.alerts.c.id == t.dispatch_events.c.alert_id)
            .join(t.incidents, t.incidents.c.id == t.alerts.c.incident_id)
            .where(t.incidents.c.open.is_(True))
            .order_by(t.dispatch_events.c.created_at, t.dispatch_events.c.id)
        )
        for event_id, created_at, incident_id in conn.execute(chained):
            self._chains.setdefault(incident_id, []).append(Reference(event_id, created_at))

    def stage(
        self, conn: Connection, changes: Iterable[AlertChange], engine: StagingView, now: datetime
    ) -> tuple[list[Pending], list[AlertChange]]:
        """Stage the pushes these committed-to-be changes call for; returns the deliveries made,
        and the operators' alarms raised for pushes that could not be staged."""
        targets: list[Target] | None = None
        names: Known | None = None  # read once the first push is due
        staged: list[Pending] = []
        alarms: list[AlertChange] = []
        changes = list(changes)
        for change in changes:
            alert = change.alert
            history = self._pushed.get(alert.id)
            order = engine.orders.get(alert.order_id or "")
            tiers = (order.violation_distance_m, order.warning_distance_m) if order else None
            kind = routing.push_type(change, history.facts if history else None, tiers)
            if alert.kind in COVERABLE and alert.state not in TERMINAL:
                cover = absences.covering(
                    conn, alert.subject_id, alert.zone_id, alert.facts.occurred_at or now
                )
                if cover is not None:
                    # Approved by his officer: not a breach for the police. Said once in the timeline.
                    if kind is not None and history is None and alert.id not in self._covered:
                        self._covered.add(alert.id)
                        note = (
                            f"held back from dispatch: approved absence {cover.id} ({cover.reason}), "
                            f"by {cover.approved_by}, until {cover.ends_at.isoformat()}"
                        )
                        alarms.append(
                            engine.note(alert.id, Change.COVERED, actor="vigil", now=now, note=note[:500])
                        )
                    continue
                if kind is None and history is None and alert.id in self._covered and alert.active:
                    # the window ended (or was revoked) while he is still in breach: news now
                    kind = PushType.OPENED
                    self._covered.discard(alert.id)
            if kind is None:
                if alert.state in TERMINAL:
                    self._pushed.pop(alert.id, None)
                    self._covered.discard(alert.id)
                continue
            if targets is None:
                targets = [target for target in load_targets(conn) if target.enabled]
            if not targets:
                continue  # no dispatch configured: nothing to render
            if names is None:
                names = known(conn, (c.alert for c in changes), engine)
            try:
                with conn.begin_nested():
                    staged += self.push(conn, change, kind, engine, targets, now, found=names)
            except Exception as exc:
                # A push that cannot be staged must not cost the devices their answer, nor be lost
                # silently: the alert is committed, and the operators are alarmed that dispatch
                # was not told (rendering, the usual suspect, is after the commit and alarms there).
                log.exception("could not stage the push for alert %s (%s)", alert.id, kind)
                text = f"push for alert {alert.id} ({kind}) not staged, dispatch not told: {exc}"[:500]
                key = AlertKey("dispatch", "", alert.id)
                alarms += engine.alarm(alarm_signal(key, alert.subject_id, text, True), now)
        # Incidents closed by these changes: their streams end (after the closing pushes are staged).
        for change in changes:
            incident_id = change.alert.incident_id
            if incident_id is not None and engine.incidents.get(incident_id) is None:
                self._chains.pop(incident_id, None)
                self._incident_links.pop(incident_id, None)
        return staged, alarms

    def push(
        self,
        conn: Connection,
        change: AlertChange,
        kind: PushType,
        engine: SceneView,
        targets: Sequence[Target],
        now: datetime,
        level: int = 0,
        only: Callable[[str], bool] = lambda _: True,
        reason: str = "",
        found: Known | None = None,
    ) -> list[Pending]:
        """Write one push about `change` for the targets its plan names (of those `only` lets
        through), at escalation `level`: its identity and its draft, rendered after the commit by the
        deliverer (dispatch/draft.py). Returns the deliveries made (none: no one serves it)."""
        alert = change.alert
        dossier = self._dossier(conn, change, kind, engine, targets, now, level, reason, found)
        chosen = [
            target for target in targets if target.id in routing.recipients(dossier.plan) and only(target.id)
        ]
        if not chosen:
            return []  # no one serves these areas: the alert stays on the control centre's screen
        # Each target's body carries the link issued to that target, and its formats: both are in the
        # draft, so the body rendered later is the one this moment calls for.
        sent, issued = self._target_links(conn, alert, [target.id for target in chosen], now)
        text = draft.dump(
            dossier, {target.id: draft.Leg(target.formats, sent.get(target.id)) for target in chosen}
        )
        needs_ack = routing.needs_ack(kind, alert.kind, alert.state) or level > 0
        # Parameters handed to a plain INSERT rather than `.values(...)`: its statement is compiled
        # once and cached, where `.values` built a new one per push (a third of staging's time).
        conn.execute(
            insert(t.dispatch_events),
            {
                "id": dossier.event_id,
                "alert_id": alert.id,
                "sequence": dossier.sequence,
                "push_type": kind.value,
                "escalation": level,
                "needs_ack": needs_ack,
                "created_at": now,
                "facts": facts_json(alert.facts),
                "draft": text,
            },
        )
        staged = []
        for target in chosen:
            inserted = conn.execute(
                insert(t.deliveries),
                {
                    "event_id": dossier.event_id,
                    "target_id": target.id,
                    "alert_id": alert.id,
                    "body": "",  # rendered after the commit; stored with the first attempt
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                    "last_error": "",
                },
            ).inserted_primary_key
            assert inserted is not None
            staged.append(
                Pending(
                    delivery_id=int(inserted[0]),
                    event_id=dossier.event_id,
                    target_id=target.id,
                    alert_id=alert.id,
                    sequence=dossier.sequence,
                    body=b"",
                    created_at=now,
                    attempts=0,
                    next_attempt_at=now,
                    needs_ack=needs_ack,
                    draft=text,
                )
            )
        if alert.state in TERMINAL:
            self._pushed.pop(alert.id, None)  # nothing more will follow
        else:
            history = self._pushed.setdefault(alert.id, _History(alert.facts))
            history.sequence = dossier.sequence
            history.facts = alert.facts
            history.references.append(Reference(dossier.event_id, now))
            history.links.update(issued)
        if alert.incident_id is not None:
            # the incident's stream: the next push about any of its alerts references this one
            self._chains.setdefault(alert.incident_id, []).append(Reference(dossier.event_id, now))
            self._incident_links.setdefault(alert.incident_id, {}).update(issued)
        return staged

    def _target_links(
        self, conn: Connection, alert: Alert, target_ids: Sequence[str], now: datetime
    ) -> tuple[dict[str, str], dict[str, Issued]]:
        """The live-track URL for each target: the one it was sent before (for any alert of the same
        incident: one link per target per incident) while it is not revoked and more than half its
        life remains, else a new link issued to that target. Returns the URLs and the links issued
        now, which are remembered only once the push is staged (a push that fails leaves none)."""
        issued: dict[str, Issued] = {}
        base = self._link_base()
        if base is None:
            return {}, issued
        lifetime = timedelta(seconds=self.settings.link_lifetime_s)
        alert_id = alert.id
        history = self._pushed.get(alert_id)
        known_links = (
            self._incident_links.get(alert.incident_id, {})
            if alert.incident_id is not None
            else (history.links if history else {})
        )
        sent = {tid: known_links[tid] for tid in target_ids if tid in known_links}
        if sent:  # an operator may have revoked one since (a leaked link)
            c = t.incident_links.c
            ids = [issued_link.link.id for issued_link in sent.values()]
            alive = set(conn.scalars(select(c.id).where(c.id.in_(ids), c.revoked_at.is_(None))))
            sent = {tid: known for tid, known in sent.items() if known.link.id in alive}
        urls = {}
        for target_id in target_ids:
            known = sent.get(target_id)
            if known is None or known.link.expires_at - now < lifetime / 2:
                known = links.issue(
                    conn, alert_id, Holder.TARGET, target_id, "vigil", now, lifetime, alert.incident_id
                )
                issued[target_id] = known
            urls[target_id] = known.url(base)
        return urls, issued

    def _dossier(
        self,
        conn: Connection,
        change: AlertChange,
        kind: PushType,
        engine: SceneView,
        targets: Sequence[Target],
        now: datetime,
        level: int,
        reason: str,
        names: Known | None,
    ) -> Dossier:
        alert = change.alert
        found = scene(conn, alert, engine, now, self.settings.stale_after_s, names)
        history = self._pushed.get(alert.id)
        return Dossier(
            event_id=str(uuid.uuid4()),
            push_type=kind,
            sequence=(history.sequence if history else 0) + 1,
            alert=alert,
            at=now,
            note=change.note,
            subject=found.subject,
            protected=found.victim,
            order=order_info(found.order),
            plan=routing.plan(alert.kind, found.offender_at, found.victim_at, targets, level),
            live_track_url=None,  # each target's own, set when its body is rendered
            references=tuple(history.references) if history else (),
            incident_id=alert.incident_id,
            incident_number=incident_number(conn, alert.incident_id, names),
            incident_references=tuple(self._chains.get(alert.incident_id or "", ())),
            sender=self.settings.sender,
            source=self.settings.source,
            timezone=self.settings.timezone,
            escalation_level=level,
            escalation_reason=reason,
        )
