"""Rendering a push (a `Dossier`) into the open formats it is sent in.

Every push is a CloudEvent (structured mode, `application/cloudevents+json`) whose `data.alert` is the
native view; a target may also ask for CAP 1.2 (`data.cap`, an XML string) and EIDO (`data.eido`).
Rendering is pure and deterministic: the same dossier always gives the same bytes (objects are
compared by value, never by identity), so a push rendered after the commit from its stored draft
(dispatch/draft.py) is the same whenever, and however often, it is rendered.
"""

from __future__ import annotations

import json
from typing import Any

from vigil.dispatch.dossier import Dossier
from vigil.dispatch.formats import cap, eido
from vigil.dispatch.formats.alert import alert_view
from vigil.dispatch.formats.cloudevent import envelope

FORMATS = frozenset({"cap", "eido"})
CONTENT_TYPE = "application/cloudevents+json"


def cloudevent(dossier: Dossier, formats: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The CloudEvent as a dict: `data.alert` always, `data.cap` / `data.eido` when asked for."""
    unknown = formats - FORMATS
    if unknown:
        raise ValueError(f"unknown push formats: {sorted(unknown)} (known: {sorted(FORMATS)})")
    data: dict[str, Any] = {"alert": alert_view(dossier)}
    if "cap" in formats:
        data["cap"] = cap.render(dossier)
    if "eido" in formats:
        data["eido"] = eido.render(dossier)
    return envelope(dossier, data)


def render(dossier: Dossier, formats: frozenset[str] = frozenset()) -> bytes:
    """The body to POST: compact UTF-8 JSON, no NaN or infinity (they are not JSON)."""
    event = cloudevent(dossier, formats)
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


__all__ = ["CONTENT_TYPE", "FORMATS", "cloudevent", "render"]
