"""Positions: where everyone is now, and a person's track."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime

from vigil.api.auth import require
from vigil.api.policy import Action
from vigil.api.trail import require_purpose
from vigil.api.views import position_feature
from vigil.domain.model import FixSource
from vigil.store.accounts import Principal
from vigil.store.registry import fix_from_row

router = APIRouter(prefix="/v1", tags=["positions"])
LIVE = timedelta(minutes=30)  # a track this recent is live monitoring; older is history


@router.get("/positions")
def latest(
    request: Request, _: Annotated[Principal, Depends(require(Action.POSITIONS_READ))]
) -> dict[str, Any]:
    """Everyone's latest position as a GeoJSON FeatureCollection."""
    rows = request.app.state.reader.latest_positions()
    features = [position_feature(r["person_id"], r["person_kind"] or "", fix_from_row(_Row(r))) for r in rows]
    return {"type": "FeatureCollection", "features": features}


@router.get("/people/{person_id}/track")
def track(
    request: Request,
    person_id: str,
    _: Annotated[Principal, Depends(require(Action.POSITIONS_READ))],
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 2000,
) -> dict[str, Any]:
    """A person's fixes in time order (default: the last 30 minutes) as a GeoJSON FeatureCollection.
    Anything older than 30 minutes is history: it needs a purpose (`purpose` and `reason`)."""
    now = request.app.state.clock()
    start = since or now - LIVE
    if start < now - LIVE - timedelta(seconds=5) or until is not None:
        require_purpose(request)
    rows = request.app.state.reader.track(person_id, start, until, limit)
    return {
        "type": "FeatureCollection",
        "features": [position_feature(person_id, "", fix_from_row(_Row(r))) for r in rows],
    }


class _Row:
    """Attribute access over a row mapping, as the row decoders expect."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)
        self.source = FixSource(data["source"])
