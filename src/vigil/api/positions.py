"""Positions: where everyone is now, and a person's track."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import AwareDatetime

from vigil.api.auth import require, scope
from vigil.api.deps import Wired
from vigil.api.policy import Action, Record
from vigil.api.trail import require_purpose
from vigil.api.views import position_feature
from vigil.domain.model import FixSource, PersonRef
from vigil.store.accounts import Principal
from vigil.store.registry import fix_from_row

router = APIRouter(prefix="/v1", tags=["positions"])
LIVE = timedelta(minutes=30)  # a track this recent is live monitoring; older is history


@router.get("/positions")
def latest(
    request: Request, services: Wired, _: Annotated[Principal, Depends(require(Action.POSITIONS_READ))]
) -> dict[str, Any]:
    """The latest position of everyone the caller may see, as a GeoJSON FeatureCollection. For
    those who may see everyone (the control centre's whole map), a view beyond live alerts: it needs
    a purpose (`purpose` and `reason`, or the X-Purpose and X-Purpose-Reason headers)."""
    seen = scope(request)
    if seen.everything:
        require_purpose(request)
    people = None if seen.everything else seen.people
    rows = services.reader.latest_positions(people)
    fast = services.reader.in_pursuit()
    features = [
        position_feature(r["person_id"], r["person_kind"] or "", fix, fix.device_id in fast)
        for fix, r in ((fix_from_row(_Row(r)), r) for r in rows)
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/people/{person_id}/track")
def track(
    request: Request,
    services: Wired,
    person_id: str,
    _: Annotated[Principal, Depends(require(Action.POSITIONS_READ, on=Record.ANYONE))],
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 2000,
) -> dict[str, Any]:
    """A person's fixes in time order (default: the last 30 minutes) as a GeoJSON FeatureCollection.
    Anything older than 30 minutes is history, and the track of someone who is party to no open alert
    (for those who may see everyone) a view beyond live alerts: both need a purpose (`purpose` and
    `reason`). The id may name a subject or a protected person; its kind is looked up."""
    now = services.clock()
    start = since or now - LIVE
    reader = services.reader
    kinds = reader.person_kinds(person_id)
    if len(kinds) > 1:
        # Only in a database made before ids were one namespace: whose track is meant is unknown.
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            [{"field": "person_id", "reason": "names both a subject and a protected person; rename one"}],
        )
    person = PersonRef(next(iter(kinds)), person_id) if kinds else None
    history = start < now - LIVE - timedelta(seconds=5) or until is not None
    live = person is not None and reader.in_open_alert(person)
    if history or (scope(request).everything and not live):
        require_purpose(request)
    if person is None:
        return {"type": "FeatureCollection", "features": []}
    rows = reader.track(person, start, until, limit)
    return {
        "type": "FeatureCollection",
        "features": [position_feature(person_id, person.kind.value, fix_from_row(_Row(r))) for r in rows],
    }


class _Row:
    """Attribute access over a row mapping, as the row decoders expect."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)
        self.source = FixSource(data["source"])
