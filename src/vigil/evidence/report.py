"""The evidence of a breach, as plain data, and its seal.

`alert_evidence` gathers everything the store holds about one alert: the alert and its full timeline,
both parties' tracks and device events in the alert's window (30 minutes either side, the same
window the retention purge keeps), the pushes to dispatch with every delivery and every report back,
the order with its zones, and who made the report, when, with which version. `order_evidence` does
the same for every alert of an order over a time range.

`seal` renders it as canonical JSON (sorted keys, no spaces, UTF-8, no NaN) and hashes exactly those
bytes with SHA-256: the same evidence always gives the same bytes and the same hash, and any change
to it gives another. The PDF made from it prints that hash on every page, so the two are tied, and
either can be checked long after the system that made it is gone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, or_, select

from vigil import __version__
from vigil.store import tables as t
from vigil.store.codec import iso

FORMAT = "vigil-evidence/1"
WINDOW_MARGIN = timedelta(minutes=30)  # as retention.EVIDENCE_MARGIN: the report shows what is kept
CLOSED_STATES = ("resolved", "false_alarm")


@dataclass(frozen=True, slots=True)
class Sealed:
    """Evidence, its canonical bytes and their SHA-256 (hex)."""

    evidence: dict[str, Any]
    canonical: bytes
    sha256: str

    def envelope(self) -> bytes:
        """`{"evidence":…,"sha256":…}`, canonical too: the evidence's bytes appear in it verbatim."""
        return b'{"evidence":' + self.canonical + b',"sha256":"' + self.sha256.encode() + b'"}'


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def seal(evidence: dict[str, Any]) -> Sealed:
    data = canonical_json(evidence)
    return Sealed(evidence, data, hashlib.sha256(data).hexdigest())


# --- gathering ------------------------------------------------------------------------------------


def alert_evidence(
    conn: Connection, alert_id: str, *, generated_at: datetime, generated_by: str, timezone: str = "UTC"
) -> dict[str, Any] | None:
    """The evidence of one alert (None: no such alert)."""
    row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
    if row is None:
        return None
    end = row.updated_at if row.state in CLOSED_STATES else max(generated_at, row.updated_at)
    since, until = row.opened_at - WINDOW_MARGIN, end + WINDOW_MARGIN
    scope = {"kind": "alert", "alert": alert_id, "from": iso(since), "until": iso(until)}
    return _evidence(
        conn,
        scope,
        [row],
        subject_id=row.subject_id,
        protected_id=row.protected_person_id,
        order_id=row.order_id,
        since=since,
        until=until,
        generated=_generated(generated_at, generated_by, timezone),
    )


def order_evidence(
    conn: Connection,
    order_id: str,
    *,
    since: datetime,
    until: datetime,
    generated_at: datetime,
    generated_by: str,
    timezone: str = "UTC",
) -> dict[str, Any] | None:
    """The evidence of an order over [since, until]: every alert of it alive in that time, and both
    parties' history in it (None: no such order)."""
    order = conn.execute(select(t.orders).where(t.orders.c.id == order_id)).first()
    if order is None:
        return None
    alerts = list(
        conn.execute(
            select(t.alerts)
            .where(
                t.alerts.c.order_id == order_id, t.alerts.c.opened_at <= until, t.alerts.c.updated_at >= since
            )
            .order_by(t.alerts.c.opened_at, t.alerts.c.id)
        )
    )
    scope = {"kind": "order", "order": order_id, "from": iso(since), "until": iso(until)}
    return _evidence(
        conn,
        scope,
        alerts,
        subject_id=order.subject_id,
        protected_id=order.protected_person_id,
        order_id=order_id,
        since=since,
        until=until,
        generated=_generated(generated_at, generated_by, timezone),
    )


def person_evidence(
    conn: Connection,
    person_id: str,
    *,
    since: datetime,
    until: datetime,
    generated_at: datetime,
    generated_by: str,
    timezone: str = "UTC",
) -> dict[str, Any] | None:
    """The full evidence concerning one protected person over [since, until], for a court: every
    order protecting her (ended ones too), every alert that concerned her alive in that time, both
    parties' tracks (hers and those of every man her orders name) and device events, and who the
    staff were by role (`actors`), so her pack (`pack.victim_pack`) can say "the control centre"
    without naming anyone. None: no such protected person."""
    her = conn.execute(select(t.protected_persons.c.id).where(t.protected_persons.c.id == person_id)).first()
    if her is None:
        return None
    order_rows = list(
        conn.execute(
            select(t.orders).where(t.orders.c.protected_person_id == person_id).order_by(t.orders.c.id)
        )
    )
    alerts = list(
        conn.execute(
            select(t.alerts)
            .where(
                t.alerts.c.protected_person_id == person_id,
                t.alerts.c.opened_at <= until,
                t.alerts.c.updated_at >= since,
            )
            .order_by(t.alerts.c.opened_at, t.alerts.c.id)
        )
    )
    subject_ids = sorted({o.subject_id for o in order_rows} | {a.subject_id for a in alerts if a.subject_id})
    devices = {
        "subject": [d for s in subject_ids for d in _devices(conn, s, "subject")],
        "protected_person": _devices(conn, person_id, "protected_person"),
    }
    all_devices = [d["id"] for role in devices for d in devices[role]]
    alert_items = [_alert(conn, row) for row in alerts]
    target_ids = sorted({d["target"] for a in alert_items for d in a["deliveries"]})
    actors = sorted({c["actor"] for a in alert_items for c in a["timeline"]})
    orders = []
    for row in order_rows:
        order = _order(conn, row.id, row.subject_id)
        order["subject"] = _person(
            conn, t.subjects, row.subject_id, ("id", "name", "legal_basis", "case_reference")
        )
        orders.append(order)
    return {
        "scope": {"kind": "person", "person": person_id, "from": iso(since), "until": iso(until)},
        "generated": _generated(generated_at, generated_by, timezone),
        "protected_person": _person(conn, t.protected_persons, person_id, ("id", "name")),
        "subjects": [
            _person(conn, t.subjects, s, ("id", "name", "legal_basis", "case_reference")) for s in subject_ids
        ],
        "orders": orders,
        "devices": devices,
        "alerts": alert_items,
        "tracks": {role: _fixes(conn, [d["id"] for d in devices[role]], since, until) for role in devices},
        "device_events": _events(conn, all_devices, since, until),
        "dispatch_targets": _targets(conn, target_ids),
        "actors": _actors(conn, actors),
    }


def _actors(conn: Connection, ids: list[str]) -> dict[str, str]:
    """Each actor of a timeline by role ("system" for Vigil's own changes)."""
    found = {
        r.id: r.role for r in conn.execute(select(t.users.c.id, t.users.c.role).where(t.users.c.id.in_(ids)))
    }
    return {i: found.get(i, "system") for i in ids}


def _generated(at: datetime, by: str, timezone: str) -> dict[str, Any]:
    # The zone the PDF shows local times in: part of what is sealed, so the PDF follows from the JSON.
    return {"at": iso(at), "by": by, "vigil_version": __version__, "format": FORMAT, "timezone": timezone}


def _evidence(
    conn: Connection,
    scope: dict[str, Any],
    alerts: list[Any],
    *,
    subject_id: str | None,
    protected_id: str | None,
    order_id: str | None,
    since: datetime,
    until: datetime,
    generated: dict[str, Any],
) -> dict[str, Any]:
    parties = {"subject": subject_id, "protected_person": protected_id}
    devices = {role: _devices(conn, person, role) for role, person in parties.items()}
    all_devices = [d["id"] for role in devices for d in devices[role]]
    alert_items = [_alert(conn, row) for row in alerts]
    target_ids = sorted({d["target"] for a in alert_items for d in a["deliveries"]})
    return {
        "scope": scope,
        "generated": generated,
        "subject": _person(conn, t.subjects, subject_id, ("id", "name", "legal_basis", "case_reference")),
        "protected_person": _person(conn, t.protected_persons, protected_id, ("id", "name")),
        "order": _order(conn, order_id, subject_id),
        "devices": devices,
        "alerts": alert_items,
        "tracks": {role: _fixes(conn, [d["id"] for d in devices[role]], since, until) for role in devices},
        "device_events": _events(conn, all_devices, since, until),
        "dispatch_targets": _targets(conn, target_ids),
        "actors": _actors(conn, sorted({c["actor"] for a in alert_items for c in a["timeline"]})),
    }


def _plain(row: Any, columns: tuple[str, ...] | None = None) -> dict[str, Any]:
    mapping = row._mapping
    keys = columns if columns is not None else tuple(mapping.keys())
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in ((k, mapping[k]) for k in keys)}


def _person(conn: Connection, table: Table, person_id: str | None, columns: tuple[str, ...]) -> Any:
    if person_id is None:
        return None
    row = conn.execute(select(table).where(table.c.id == person_id)).first()
    return {"id": person_id, "missing": True} if row is None else _plain(row, columns)


def _devices(conn: Connection, person_id: str | None, kind: str) -> list[dict[str, Any]]:
    """The devices bound to the person as that kind (never another kind's under the same id)."""
    if person_id is None:
        return []
    rows = conn.execute(
        select(t.devices.c.id, t.devices.c.kind, t.devices.c.person_kind)
        .where(t.devices.c.person_id == person_id, t.devices.c.person_kind == kind)
        .order_by(t.devices.c.id)
    )
    return [_plain(r) for r in rows]


def _order(conn: Connection, order_id: str | None, subject_id: str | None) -> Any:
    if order_id is None:
        return None
    row = conn.execute(select(t.orders).where(t.orders.c.id == order_id)).first()
    if row is None:
        return {"id": order_id, "missing": True}
    # Its own zones and the subject's zones, removed ones included (they may have been in force then).
    which = [t.zones.c.order_id == order_id]
    if subject_id is not None:
        which.append(t.zones.c.subject_id == subject_id)
    zones = conn.execute(select(t.zones).where(or_(*which)).order_by(t.zones.c.id))
    return {**_plain(row), "zones": [_plain(z) for z in zones]}


def _alert(conn: Connection, row: Any) -> dict[str, Any]:
    alert_id = row.id
    timeline = conn.execute(
        select(t.alert_changes).where(t.alert_changes.c.alert_id == alert_id).order_by(t.alert_changes.c.id)
    )
    pushes = conn.execute(
        select(t.dispatch_events)
        .where(t.dispatch_events.c.alert_id == alert_id)
        .order_by(t.dispatch_events.c.sequence, t.dispatch_events.c.id)
    )
    deliveries = conn.execute(
        select(t.deliveries).where(t.deliveries.c.alert_id == alert_id).order_by(t.deliveries.c.id)
    )
    callbacks = conn.execute(
        select(t.dispatch_callbacks)
        .where(t.dispatch_callbacks.c.alert_id == alert_id)
        .order_by(
            t.dispatch_callbacks.c.received_at, t.dispatch_callbacks.c.target_id, t.dispatch_callbacks.c.id
        )
    )
    return {
        **_plain(row),
        "timeline": [_plain(c, _CHANGE) for c in timeline],
        "dispatch_events": [_plain(p) for p in pushes],
        "deliveries": [_delivery(d) for d in deliveries],
        "callbacks": [
            {**_plain(c, ("id", "status", "received_at", "body")), "target": c.target_id} for c in callbacks
        ],
    }


_CHANGE = ("change", "at", "actor", "note", "kind", "state", "active", "facts")


def _delivery(row: Any) -> dict[str, Any]:
    out = _plain(row)
    out["event"] = out.pop("event_id")
    out["target"] = out.pop("target_id")
    out.pop("alert_id")
    out.pop("next_attempt_at")  # scheduling, not evidence
    return out


def _fixes(conn: Connection, device_ids: list[str], since: datetime, until: datetime) -> list[dict[str, Any]]:
    if not device_ids:
        return []
    rows = conn.execute(
        select(t.fixes)
        .where(t.fixes.c.device_id.in_(device_ids), t.fixes.c.time >= since, t.fixes.c.time <= until)
        .order_by(t.fixes.c.time, t.fixes.c.device_id)
    )
    out = []
    for r in rows:
        fix = _plain(r)
        fix.pop("id")  # storage detail; (device, time) is the key
        fix["device"] = fix.pop("device_id")
        out.append(fix)
    return out


def _events(
    conn: Connection, device_ids: list[str], since: datetime, until: datetime
) -> list[dict[str, Any]]:
    if not device_ids:
        return []
    rows = conn.execute(
        select(t.device_events)
        .where(
            t.device_events.c.device_id.in_(device_ids),
            t.device_events.c.time >= since,
            t.device_events.c.time <= until,
        )
        .order_by(t.device_events.c.time, t.device_events.c.device_id, t.device_events.c.kind)
    )
    out = []
    for r in rows:
        event = _plain(r)
        event.pop("id")
        event["device"] = event.pop("device_id")
        out.append(event)
    return out


def _targets(conn: Connection, target_ids: list[str]) -> list[dict[str, Any]]:
    if not target_ids:
        return []
    rows = conn.execute(
        select(t.dispatch_targets.c.id, t.dispatch_targets.c.name, t.dispatch_targets.c.agency)
        .where(t.dispatch_targets.c.id.in_(target_ids))
        .order_by(t.dispatch_targets.c.id)
    )
    return [_plain(r) for r in rows]  # never the secret
