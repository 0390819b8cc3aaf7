"""The outbox: pushes are staged in the same transaction as the alert changes they report, so an
alert change and its pushes are committed together or not at all. The deliverer sends them later,
and reports each attempt back here (through the single writer) to be recorded.

It is used only from the processor's thread, inside the processor's transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from vigil import jurisdiction
from vigil.dispatch import links, routing
from vigil.dispatch.dossier import Dossier, OrderInfo, Party, PushType, Reference
from vigil.dispatch.formats import render
from vigil.dispatch.links import Holder, Issued
from vigil.dispatch.reports import Outcome, Status, judge, latest
from vigil.dispatch.routing import Target, Whereabouts
from vigil.dispatch.targets import load_targets
from vigil.domain import geo
from vigil.domain.alerts import (
    TERMINAL,
    Alert,
    AlertChange,
    AlertKey,
    AlertKind,
    AlertState,
    Change,
    Facts,
    Position,
    Signal,
    UnknownAlert,
)
from vigil.domain.model import Circle, Order, ZoneKind
from vigil.domain.track import position
from vigil.rules.engine import Engine
from vigil.rules.tuning import STALE_AFTER_S
from vigil.store import tables as t
from vigil.store.codec import alert_from_row, facts_from_json, facts_json

log = logging.getLogger(__name__)

# Zone labels that name a victim's home, in the languages the registry is kept in.
HOME_LABELS = ("home", "자택", "집", "주거지")


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    sender: str = "vigil@localhost"
    source: str = "/vigil"
    timezone: str = "Asia/Seoul"
    stale_after_s: float = STALE_AFTER_S  # a victim's fix older than this sends police to her home instead
    link_lifetime_s: float = 43_200.0  # a target's live-track link, at most (it dies earlier at close)


@dataclass(frozen=True, slots=True)
class Pending:
    """A delivery the deliverer must make: one push to one target."""

    delivery_id: int
    event_id: str
    target_id: str
    alert_id: str
    sequence: int
    body: bytes
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    needs_ack: bool
    alarmed: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt came to, for the record."""

    delivery_id: int
    at: datetime
    status: int | None  # HTTP status, None when no answer came (refused, timed out)
    error: str = ""
    delivered: bool = False
    gone: bool = False  # the target answered 410: it is disabled
    next_attempt_at: datetime | None = None
    alarm: bool = False  # undelivered for too long: operators are told (once)


# --- commands the processor hands to the outbox ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """Delivery attempts to record."""

    attempts: tuple[Attempt, ...]


@dataclass(frozen=True, slots=True)
class Escalate:
    """A pushed violation went unacknowledged (or was rejected): tell the next target."""

    delivery_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Callback:
    """A dispatch system's signed report about an alert (already verified at the edge)."""

    target_id: str
    callback_id: str  # its webhook-id: a retried report is recorded once
    alert_id: str
    status: Status
    outcome: Outcome | None
    note: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reported:
    alert_id: str
    state: str
    duplicate: bool = False


DispatchCommand = Record | Escalate | Callback


@dataclass(frozen=True, slots=True)
class _Scene:
    order: Order | None
    subject: Party | None
    victim: Party | None
    offender_at: Whereabouts | None
    victim_at: Whereabouts | None


@dataclass(slots=True)
class _History:
    """What has been pushed about one alert, for the next push to build on."""

    facts: Facts
    references: list[Reference] = field(default_factory=list)
    sequence: int = 0
    # The live-track link each target was sent, so its later pushes carry the same one. Only the
    # hash is stored, so after a restart a target's next push carries a new link (the old one lives on).
    links: dict[str, Issued] = field(default_factory=dict)


class Outbox:
    def __init__(self, settings: OutboxSettings, link_base: Callable[[], str | None] = lambda: None) -> None:
        """link_base: where people reach this server, asked at each push (the port is known only once
        the server listens); None: pushes carry no live-track link (replays)."""
        self.settings = settings
        self._link_base = link_base
        self._pushed: dict[str, _History] = {}
        # Per open incident: every push about its alerts, oldest first (CAP references: one stream),
        # and the live-track link each target was sent for it (one per target per incident).
        self._chains: dict[str, list[Reference]] = {}
        self._incident_links: dict[str, dict[str, Issued]] = {}

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

    # --- staging --------------------------------------------------------------------------------

    def stage(
        self, conn: Connection, changes: Iterable[AlertChange], engine: Engine, now: datetime
    ) -> list[Pending]:
        """Stage the pushes these committed-to-be changes call for; returns the deliveries made."""
        targets: list[Target] | None = None
        staged: list[Pending] = []
        changes = list(changes)
        for change in changes:
            alert = change.alert
            history = self._pushed.get(alert.id)
            order = engine.orders.get(alert.order_id or "")
            tiers = (order.violation_distance_m, order.warning_distance_m) if order else None
            kind = routing.push_type(change, history.facts if history else None, tiers)
            if kind is None:
                if alert.state in TERMINAL:
                    self._pushed.pop(alert.id, None)
                continue
            if targets is None:
                targets = [target for target in load_targets(conn) if target.enabled]
            if not targets:
                continue  # no dispatch configured: nothing to render
            try:
                with conn.begin_nested():
                    staged += self._push(conn, change, kind, engine, targets, now)
            except Exception:
                # A push that cannot be rendered must not cost the devices their answer: the alert
                # is committed and on the operators' screens; the failure is logged loudly.
                log.exception("could not stage the push for alert %s (%s)", alert.id, kind)
        # Incidents closed by these changes: their streams end (after the closing pushes are staged).
        for change in changes:
            incident_id = change.alert.incident_id
            if incident_id is not None and engine.incidents.get(incident_id) is None:
                self._chains.pop(incident_id, None)
                self._incident_links.pop(incident_id, None)
        return staged

    def _push(
        self,
        conn: Connection,
        change: AlertChange,
        kind: PushType,
        engine: Engine,
        targets: Sequence[Target],
        now: datetime,
        level: int = 0,
        only: Callable[[str], bool] = lambda _: True,
        reason: str = "",
    ) -> list[Pending]:
        alert = change.alert
        dossier = self._dossier(conn, change, kind, engine, targets, now, level, reason)
        chosen = [
            target for target in targets if target.id in routing.recipients(dossier.plan) and only(target.id)
        ]
        if not chosen:
            return []  # no one serves these areas: the alert stays on the control centre's screen
        # Each target's body carries the link issued to that target. Render first: a push that cannot
        # be rendered leaves no trace here (its link rows go with the caller's savepoint).
        sent, issued = self._target_links(conn, alert, [target.id for target in chosen], now)
        bodies = {
            target.id: render(replace(dossier, live_track_url=sent.get(target.id)), target.formats)
            for target in chosen
        }
        needs_ack = routing.needs_ack(kind, alert.kind, alert.state) or level > 0
        conn.execute(
            insert(t.dispatch_events).values(
                id=dossier.event_id,
                alert_id=alert.id,
                sequence=dossier.sequence,
                push_type=kind.value,
                escalation=level,
                needs_ack=needs_ack,
                created_at=now,
                facts=facts_json(alert.facts),
            )
        )
        staged = []
        for target in chosen:
            body = bodies[target.id]
            inserted = conn.execute(
                insert(t.deliveries).values(
                    event_id=dossier.event_id,
                    target_id=target.id,
                    alert_id=alert.id,
                    body=body.decode(),
                    state="pending",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                    last_error="",
                )
            ).inserted_primary_key
            assert inserted is not None
            staged.append(
                Pending(
                    delivery_id=int(inserted[0]),
                    event_id=dossier.event_id,
                    target_id=target.id,
                    alert_id=alert.id,
                    sequence=dossier.sequence,
                    body=body,
                    created_at=now,
                    attempts=0,
                    next_attempt_at=now,
                    needs_ack=needs_ack,
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
        engine: Engine,
        targets: Sequence[Target],
        now: datetime,
        level: int,
        reason: str,
    ) -> Dossier:
        alert = change.alert
        scene = self._scene(conn, alert, engine, now)
        history = self._pushed.get(alert.id)
        return Dossier(
            event_id=str(uuid.uuid4()),
            push_type=kind,
            sequence=(history.sequence if history else 0) + 1,
            alert=alert,
            at=now,
            note=change.note,
            subject=scene.subject,
            protected=scene.victim,
            order=_order_info(scene.order),
            plan=routing.plan(alert.kind, scene.offender_at, scene.victim_at, targets, level),
            live_track_url=None,  # each target's own, set when its body is rendered
            references=tuple(history.references) if history else (),
            incident_id=alert.incident_id,
            incident_number=_number(conn, alert.incident_id),
            incident_references=tuple(self._chains.get(alert.incident_id or "", ())),
            sender=self.settings.sender,
            source=self.settings.source,
            timezone=self.settings.timezone,
            escalation_level=level,
            escalation_reason=reason,
        )

    def _scene(self, conn: Connection, alert: Alert, engine: Engine, now: datetime) -> _Scene:
        """Who is involved, where they are now, and where each agency should go."""
        order = _order_of(alert, engine, now)
        subject_id = alert.subject_id or (order.subject_id if order else None)
        victim_id = alert.protected_person_id or (order.protected_person_id if order else None)
        subject = _party(conn, engine, subject_id, "subject", now)
        victim = _party(conn, engine, victim_id, "protected_person", now)
        stale_s = self.settings.stale_after_s
        offender_at = (
            routing.offender_whereabouts(subject.position, subject.area, stale_s) if subject else None
        )
        victim_at = None
        # A flat battery is probation's business alone: no police leg.
        if victim is not None and alert.kind is not AlertKind.BATTERY_LOW:
            home = _home(order, now) if order is not None else None
            victim_at = routing.victim_whereabouts(victim.position, victim.area, stale_s, home)
        return _Scene(order, subject, victim, offender_at, victim_at)

    # --- escalation -------------------------------------------------------------------------------

    def escalate(
        self, conn: Connection, delivery_id: int, reason: str, engine: Engine, now: datetime
    ) -> tuple[list[Pending], list[AlertChange]]:
        """A pushed violation that its target did not acknowledge in time (or rejected): re-send it,
        marked as escalated, to the next target by priority, and flag it on the alert's timeline."""
        row = conn.execute(
            select(t.deliveries, t.dispatch_events.c.escalation, t.dispatch_events.c.push_type)
            .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
            .where(t.deliveries.c.id == delivery_id)
        ).first()
        if row is None or row.acked_at is not None or row.escalated_at is not None:
            return [], []
        conn.execute(update(t.deliveries).where(t.deliveries.c.id == delivery_id).values(escalated_at=now))
        alert = engine.book.get(row.alert_id)
        if alert is None:
            return [], []  # closed meanwhile: nothing left to escalate
        level = row.escalation + 1
        targets = load_targets(conn)
        pending: list[Pending] = []
        names = ""
        if level <= routing.MAX_ESCALATION:
            # Re-plan at the next level, and send to the legs the silent target had.
            scene = self._scene(conn, alert, engine, now)
            current = routing.plan(alert.kind, scene.offender_at, scene.victim_at, targets, row.escalation)
            legs = {task.agency for task in current if row.target_id in task.targets}
            following = routing.plan(alert.kind, scene.offender_at, scene.victim_at, targets, level)
            acked = {
                target_id
                for (target_id,) in conn.execute(
                    select(t.deliveries.c.target_id).where(
                        t.deliveries.c.alert_id == alert.id, t.deliveries.c.acked_at.is_not(None)
                    )
                )
            }  # those already on it need no reminder
            wanted = {tid for task in following if task.agency in legs for tid in task.targets} - acked
            wanted = wanted or {row.target_id}  # no one left to tell: remind the silent one
            change = AlertChange(alert, Change.UPDATED, now)
            pending = self._push(
                conn,
                change,
                PushType(row.push_type),
                engine,
                targets,
                now,
                level,
                wanted.__contains__,
                reason,
            )
            names = ", ".join(sorted({p.target_id for p in pending}))
        note = f"{reason}; re-sent to {names}" if names else f"{reason}; no other target to escalate to"
        flagged = engine.note(
            alert.id, Change.UNACKNOWLEDGED, actor=f"dispatch:{row.target_id}", now=now, note=note
        )
        return pending, [flagged]

    # --- delivery records ------------------------------------------------------------------------

    def record(
        self, conn: Connection, attempts: Sequence[Attempt], engine: Engine, now: datetime
    ) -> list[AlertChange]:
        """Record delivery attempts; raise (or clear) the operators' alarm where one is due."""
        changes: list[AlertChange] = []
        for attempt in attempts:
            row = conn.execute(select(t.deliveries).where(t.deliveries.c.id == attempt.delivery_id)).first()
            if row is None or row.state != "pending":
                continue
            values: dict[str, Any] = {
                "attempts": row.attempts + 1,
                "last_attempt_at": attempt.at,
                "last_status": attempt.status,
                "last_error": attempt.error[:1000],
            }
            if attempt.delivered:
                values.update(state="delivered", delivered_at=attempt.at)
            elif attempt.gone:
                values.update(state="gone")
            if attempt.next_attempt_at is not None:
                values["next_attempt_at"] = attempt.next_attempt_at
            if attempt.alarm and row.alarmed_at is None:
                values["alarmed_at"] = now
            conn.execute(update(t.deliveries).where(t.deliveries.c.id == row.id).values(**values))
            subject = _subject_of(conn, row.alert_id)
            key = AlertKey("dispatch", row.target_id, row.alert_id)
            if attempt.alarm and row.alarmed_at is None:
                seconds = round((attempt.at - row.created_at).total_seconds())
                text = (
                    f"push to {row.target_id} undelivered for {seconds} s: {attempt.error or attempt.status}"
                )
                changes += engine.alarm(_alarm(key, subject, text, True), now)
            elif attempt.delivered and row.alarmed_at is not None:
                changes += engine.alarm(
                    _alarm(key, subject, f"push to {row.target_id} delivered", False), now
                )
            if attempt.gone:
                changes += self._gone(conn, row.target_id, attempt, subject, engine, now)
        return changes

    def _gone(
        self,
        conn: Connection,
        target_id: str,
        attempt: Attempt,
        subject: str | None,
        engine: Engine,
        now: datetime,
    ) -> list[AlertChange]:
        """A target that answered 410 Gone is disabled, its queue dropped, and operators told."""
        reason = f"answered 410 Gone at {attempt.at.isoformat()}"
        conn.execute(
            update(t.dispatch_targets)
            .where(t.dispatch_targets.c.id == target_id)
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )
        conn.execute(
            update(t.deliveries)
            .where(and_(t.deliveries.c.target_id == target_id, t.deliveries.c.state == "pending"))
            .values(state="gone", last_error=reason)
        )
        text = f"dispatch target {target_id} {reason}: disabled; pushes to it stopped"
        return engine.alarm(_alarm(AlertKey("dispatch", target_id, ""), subject, text, True), now)

    # --- reports from dispatch systems ----------------------------------------------------------

    def report(
        self, conn: Connection, report: Callback, engine: Engine, now: datetime
    ) -> tuple[Reported, list[AlertChange], list[Pending], list[tuple[str, str]]]:
        """Apply a dispatch system's report: the alert's timeline and lifecycle, the target's
        acknowledgement, and escalation on rejection. Raises UnknownAlert or IllegalReport and then
        changes nothing. Returns the outcome, alert changes, new deliveries and (alert, target) acks."""
        seen = conn.execute(
            select(t.dispatch_callbacks.c.id).where(
                t.dispatch_callbacks.c.target_id == report.target_id,
                t.dispatch_callbacks.c.id == report.callback_id,
            )
        ).first()
        row = conn.execute(select(t.alerts).where(t.alerts.c.id == report.alert_id)).first()
        told = conn.execute(
            select(t.deliveries.c.id)
            .where(t.deliveries.c.alert_id == report.alert_id, t.deliveries.c.target_id == report.target_id)
            .limit(1)
        ).first()
        if row is None or told is None:  # a target may report only on what it was sent
            raise UnknownAlert(report.alert_id)
        if seen is not None:
            return Reported(report.alert_id, row.state, duplicate=True), [], [], []
        before = [
            Status(s)
            for (s,) in conn.execute(
                select(t.dispatch_callbacks.c.status)
                .where(
                    t.dispatch_callbacks.c.target_id == report.target_id,
                    t.dispatch_callbacks.c.alert_id == report.alert_id,
                )
                .order_by(t.dispatch_callbacks.c.received_at)
            )
        ]
        verdict = judge(report.status, report.outcome, AlertState(row.state), latest(before))
        conn.execute(
            insert(t.dispatch_callbacks).values(
                target_id=report.target_id,
                id=report.callback_id,
                alert_id=report.alert_id,
                status=report.status.value,
                received_at=now,
                body=report.body,
            )
        )
        actor = f"dispatch:{report.target_id}"
        note = " ".join(p for p in (report.status.value, report.note) if p)
        if verdict.move_to is not None:
            change = engine.move(report.alert_id, verdict.move_to, actor=actor, now=now, note=note)
        elif engine.book.get(report.alert_id) is not None:
            change = engine.note(report.alert_id, Change.CALLBACK, actor=actor, now=now, note=note)
        else:  # closed already: the report still belongs in its timeline
            closed = alert_from_row(row)
            change = AlertChange(replace(closed, updated_at=now), Change.CALLBACK, now, actor, note)
        changes, pending, acks = [change], [], []
        if report.status is Status.REJECTED:
            newest = conn.execute(
                select(t.deliveries.c.id)
                .where(
                    t.deliveries.c.alert_id == report.alert_id, t.deliveries.c.target_id == report.target_id
                )
                .order_by(t.deliveries.c.id.desc())
                .limit(1)
            ).first()
            for (delivery_id,) in [newest] if newest is not None else []:
                more, flagged = self.escalate(
                    conn,
                    delivery_id,
                    f"{report.target_id} rejected it: {report.note or 'no reason given'}",
                    engine,
                    now,
                )
                pending += more
                changes += flagged
        else:
            conn.execute(
                update(t.deliveries)
                .where(
                    t.deliveries.c.alert_id == report.alert_id,
                    t.deliveries.c.target_id == report.target_id,
                    t.deliveries.c.acked_at.is_(None),
                )
                .values(acked_at=now)
            )
            acks.append((report.alert_id, report.target_id))
        return Reported(report.alert_id, change.alert.state.value), changes, pending, acks

    # --- the deliverer's view ----------------------------------------------------------------------

    @staticmethod
    def pending(conn: Connection) -> list[Pending]:
        """Every delivery still to make, in commit order (at start-up, after a crash)."""
        query = (
            select(t.deliveries, t.dispatch_events.c.sequence, t.dispatch_events.c.needs_ack)
            .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
            .where(t.deliveries.c.state == "pending")
            .order_by(t.deliveries.c.id)
        )
        return [
            Pending(
                delivery_id=r.id,
                event_id=r.event_id,
                target_id=r.target_id,
                alert_id=r.alert_id,
                sequence=r.sequence,
                body=r.body.encode(),
                created_at=r.created_at,
                attempts=r.attempts,
                next_attempt_at=r.next_attempt_at,
                needs_ack=r.needs_ack,
                alarmed=r.alarmed_at is not None,
            )
            for r in conn.execute(query)
        ]

    @staticmethod
    def awaiting_ack(conn: Connection) -> list[tuple[int, str, str, datetime]]:
        """(delivery, alert, target, pushed at) of violations pushed and not yet acknowledged."""
        query = (
            select(
                t.deliveries.c.id,
                t.deliveries.c.alert_id,
                t.deliveries.c.target_id,
                t.deliveries.c.created_at,
            )
            .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
            .join(t.alerts, t.alerts.c.id == t.deliveries.c.alert_id)
            .where(
                t.dispatch_events.c.needs_ack.is_(True),
                t.deliveries.c.acked_at.is_(None),
                t.deliveries.c.escalated_at.is_(None),
                t.deliveries.c.state != "gone",
                t.alerts.c.state.not_in([s.value for s in TERMINAL]),
            )
        )
        return [(r.id, r.alert_id, r.target_id, r.created_at) for r in conn.execute(query)]


# --- helpers ------------------------------------------------------------------------------------------


def _alarm(key: AlertKey, subject: str | None, text: str, active: bool) -> Signal:
    return Signal(
        key=key,
        kind=AlertKind.DISPATCH_FAILURE,
        active=active,
        onset=active,
        facts=Facts(event=text),
        subject_id=subject,
    )


def _number(conn: Connection, incident_id: str | None) -> str | None:
    """The incident's radio number (written with the alert changes, before the pushes are staged)."""
    if incident_id is None:
        return None
    found: str | None = conn.scalar(select(t.incidents.c.number).where(t.incidents.c.id == incident_id))
    return found


def _subject_of(conn: Connection, alert_id: str) -> str | None:
    row = conn.execute(select(t.alerts.c.subject_id).where(t.alerts.c.id == alert_id)).first()
    return None if row is None else row.subject_id


def _order_of(alert: Alert, engine: Engine, now: datetime) -> Order | None:
    """The alert's order; for an alert about one person (tamper, sos), their order in force."""
    if alert.order_id and alert.order_id in engine.orders:
        return engine.orders[alert.order_id]
    person = alert.subject_id or alert.protected_person_id
    if person is None:
        return None
    return next((o for o in engine.orders_of(person) if o.active_at(now)), None)


def _party(conn: Connection, engine: Engine, person_id: str | None, role: str, now: datetime) -> Party | None:
    if person_id is None:
        return None
    if role == "subject":
        row = conn.execute(
            select(t.subjects.c.name, t.subjects.c.case_reference).where(t.subjects.c.id == person_id)
        ).first()
        name, phone, reference = (row.name, "", row.case_reference) if row else ("", "", "")
    else:
        row = conn.execute(
            select(t.protected_persons.c.name, t.protected_persons.c.phone).where(
                t.protected_persons.c.id == person_id
            )
        ).first()
        name, phone, reference = (row.name, row.phone, "") if row else ("", "", "")
    track = engine.tracks.get(person_id)
    latest = track.latest if track is not None else None
    where = position(latest, now) if latest is not None else None
    area = jurisdiction.locate(where.lat, where.lon) if where is not None else None
    return Party(person_id, role, name, phone, reference, where, area)


def _home(order: Order, now: datetime) -> tuple[Position, jurisdiction.Area | None] | None:
    """The victim's home, from the order's exclusion zones: one labelled home, else the first."""
    zones = [z for z in order.zones if z.kind is ZoneKind.EXCLUSION]
    zone = next((z for z in zones if z.label.strip().lower() in HOME_LABELS), zones[0] if zones else None)
    if zone is None:
        return None
    if isinstance(zone.shape, Circle):
        lat, lon, radius = zone.shape.lat, zone.shape.lon, zone.shape.radius_m
    else:
        ring = zone.shape.ring
        lat = sum(p[1] for p in ring) / len(ring)
        lon = sum(p[0] for p in ring) / len(ring)
        radius = max(geo.distance_m(lat, lon, p[1], p[0]) for p in ring)  # a disc around it all
    where = Position(lat=lat, lon=lon, accuracy_m=radius, time=now, age_s=0.0, source="zone")
    return where, jurisdiction.locate(lat, lon)


def _order_info(order: Order | None) -> OrderInfo | None:
    if order is None:
        return None
    return OrderInfo(
        id=order.id,
        reference=order.reference,
        legal_basis=order.legal_basis.value,
        issuing_agency=order.issuing_agency,
        violation_distance_m=order.violation_distance_m,
        warning_distance_m=order.warning_distance_m,
        valid_until=order.valid_until,
    )
