"""The incident report: one incident as a record to print and file (issue 17, history).

`GET /v1/incidents/{id}/report` gathers what the control centre shows in several places: the
incident, the alerts of it the caller may see (each with its pushes to dispatch, the callbacks
dispatch sent back and the units sent), the merged timeline with both parties' positions and the
distance between them at every change (from the facts stored with each change: where the system
believed them then, not a later re-reading of the tracks), the claim on it (still shown once it is
closed: the report says who worked it) with every claim, take-over and release from the audit
trail, and the notes written on its parties while it was open.

Scoped like reading the incident (`Record.INCIDENT`), with a stated purpose like any history, and
audited as an access by `require` (the path names the report). Notes on a party appear only for
those who may read that party's record (a probation officer never sees notes on the victim). The
page is drawn by the control centre (`web/control/report.js`) in its user's language, with times in
`timezone` (the control centre's, `VIGIL_TIMEZONE`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import or_, select

from vigil.api import deps
from vigil.api.auth import require, scope
from vigil.api.deps import Wired
from vigil.api.dispatch import deliveries_of
from vigil.api.incidents import claim_json, incident_json
from vigil.api.notes import note_json
from vigil.api.policy import Action, Record, allows, reaches
from vigil.api.trail import require_purpose
from vigil.domain.geo import distance_m
from vigil.store import tables as t
from vigil.store.accounts import Principal
from vigil.store.codec import iso

router = APIRouter(prefix="/v1", tags=["incidents"])

Reader = Annotated[Principal, Depends(require(Action.ALERTS_READ, on=Record.INCIDENT))]


@router.get("/incidents/{incident_id}/report")
def report(request: Request, services: Wired, incident_id: str, principal: Reader) -> dict[str, Any]:
    """The incident as a report: its alerts with pushes, callbacks and units; its timeline with both
    parties' positions and their distance at each change; its claim; the notes on its parties
    written while it was open. An alert's id names its incident. Needs a stated purpose (422
    without: it is history). 403 outside the caller's scope, 404 for no such incident."""
    require_purpose(request)
    reader = services.reader
    row = reader.incident(incident_id)
    if row is None:
        alert = reader.alert(incident_id)
        row = reader.incident(alert.incident_id) if alert is not None and alert.incident_id else None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    seen = scope(request)
    alerts = reader.incident_alerts([row.id], seen.alert_filter())
    now = services.clock()
    with services.db.connect() as conn:
        claim = conn.execute(
            select(t.incident_claims).where(t.incident_claims.c.incident_id == row.id)
        ).first()
        callbacks = _callbacks(conn, [a.id for a in alerts])
        claims = _claims(conn, [row.id, *(a.id for a in reader.incident_alerts([row.id]))])
    timeline = sorted(
        (_moment(a.id, r) for a in alerts for r in reader.timeline(a.id)),
        key=lambda entry: (entry["at"], entry.pop("_id")),
    )
    body = incident_json(row, alerts)
    body["alerts"] = [
        {
            **alert,
            "deliveries": deliveries_of(request, alert["id"]),
            "callbacks": callbacks.get(alert["id"], []),
            "assigned": [
                {"user": r["user_id"], "by": r["assigned_by"], "at": iso(r["assigned_at"])}
                for r in reader.assignees(alert["id"])
            ],
        }
        for alert in body["alerts"]
    ]
    return {
        "incident": body,
        "timeline": timeline,
        "claim": claim_json(claim),
        "claims": claims,
        "notes": _notes(request, principal, row, now),
        "generated_at": iso(now),
        "generated_by": principal.id,
        "timezone": services.settings.timezone,
    }


def _moment(alert_id: str, change: dict[str, Any]) -> dict[str, Any]:
    """One change of an alert, with where both parties were believed to be then."""
    facts = change["facts"] or {}
    him, her = _where(facts.get("subject_position")), _where(facts.get("protected_position"))
    return {
        "_id": change["id"],
        "alert": alert_id,
        "change": change["change"],
        "at": iso(change["at"]),
        "actor": change["actor"],
        "note": change["note"],
        "kind": change["kind"],
        "state": change["state"],
        "subject_position": him,
        "protected_position": her,
        # between the two (a zone alert's own `distance_m` is to its zone's edge, not to her)
        "distance_m": round(distance_m(him["lat"], him["lon"], her["lat"], her["lon"]), 1)
        if him and her
        else None,
    }


def _where(position: Any) -> dict[str, Any] | None:
    if not isinstance(position, dict) or position.get("lat") is None or position.get("lon") is None:
        return None
    keep = ("lat", "lon", "accuracy_m", "time")
    return {k: position.get(k) for k in keep}


def _callbacks(conn: Any, alert_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """What dispatch systems reported back about these alerts, oldest first."""
    if not alert_ids:
        return {}
    c = t.dispatch_callbacks.c
    query = select(t.dispatch_callbacks).where(c.alert_id.in_(alert_ids)).order_by(c.received_at)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(query):
        out.setdefault(r.alert_id, []).append(
            {"target": r.target_id, "status": r.status, "at": iso(r.received_at)}
        )
    return out


def _claims(conn: Any, idents: list[str]) -> list[dict[str, Any]]:
    """Who claimed, took over and released the incident, oldest first, from the audit trail (a claim
    is recorded there as `incident.claim`, its path naming the incident or one of its alerts)."""
    a = t.audit_log.c
    paths = [f"/v1/incidents/{ident}/claim" for ident in idents]
    query = select(t.audit_log).where(a.action == "incident.claim", a.target.in_(paths)).order_by(a.seq)
    return [
        {
            "user": r.actor,
            "role": r.role,
            "at": iso(r.at),
            "step": (r.detail or {}).get("claim"),
            "taken_from": (r.detail or {}).get("taken_from"),
        }
        for r in conn.execute(query)
    ]


def _notes(request: Request, principal: Principal, row: Any, now: datetime) -> list[dict[str, Any]]:
    """The notes on the incident's parties written while it was open, for those who may read each
    party's record (as `GET /v1/subjects/{id}/notes` would let them)."""
    if not allows(principal.role, Action.REGISTRY_READ):
        return []
    services, seen, c = deps.services(request), scope(request), t.person_notes.c
    parties = ((Record.SUBJECT, row.subject_id), (Record.PERSON, row.protected_person_id))
    terms = [
        (c.person_kind == record.value) & (c.person_id == person)
        for record, person in parties
        if person and reaches(seen, record, person, services.reader)
    ]
    if not terms:
        return []
    query = (
        select(t.person_notes)
        .where(or_(*terms), c.at >= row.opened_at, c.at <= (row.closed_at or now))
        .order_by(c.at, c.id)
    )
    with services.db.connect() as conn:
        return [note_json(r) for r in conn.execute(query)]
