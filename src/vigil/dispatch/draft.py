"""A push's draft: what it is rendered from, stored with its identity in the writer's transaction.

Rendering (CloudEvents with CAP and EIDO) is done after the commit, by the deliverer, so a burst of
alert changes does not hold the writer (and every device waiting on it) while XML is built. What
must be atomic with the alert change is staged in the transaction: the push's identity (event id,
sequence, targets) and this draft, the dossier as plain JSON plus each target's formats and
live-track link.

Every body, the first one included, is rendered from the stored draft text, never from the objects
in memory: a push taken back after a crash is rendered from exactly what a push handed over at once
is, so it gets the same bytes under the same id. The text is decoded by the dossier's own type hints,
so a field added to the dossier (or anything in it) travels without a line here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from vigil.dispatch.dossier import Dossier
from vigil.dispatch.formats import render as render_formats


@dataclasses.dataclass(frozen=True, slots=True)
class Leg:
    """What differs between the targets of one push: the formats it asked for, and its link."""

    formats: frozenset[str]
    live_track_url: str | None


def dump(dossier: Dossier, legs: Mapping[str, Leg]) -> str:
    """The draft as compact JSON. NaN and infinities are let through here (json writes them as
    tokens Python reads back), so a dossier that cannot be rendered still commits with its alert;
    the renderer refuses them later, and that failure alarms the operators."""
    draft = {
        "dossier": dossier,
        "legs": {
            target: {"formats": sorted(leg.formats), "live_track_url": leg.live_track_url}
            for target, leg in sorted(legs.items())
        },
    }
    # The C encoder walks it, calling `_plain` only for what JSON has no form for: this runs in the
    # writer's transaction, where a generic walk in Python cost a millisecond per push.
    return json.dumps(draft, ensure_ascii=False, separators=(",", ":"), default=_plain)


def load(text: str) -> tuple[Dossier, dict[str, Leg]]:
    """The dossier and the targets' legs back from `dump`'s text."""
    draft = json.loads(text)
    dossier = _decode(Dossier, draft["dossier"])
    legs = {
        target: Leg(frozenset(leg["formats"]), leg["live_track_url"]) for target, leg in draft["legs"].items()
    }
    return dossier, legs


def render(text: str, target_id: str) -> bytes:
    """The body for one target, from the stored draft (raises if it cannot be rendered)."""
    dossier, legs = load(text)
    leg = legs[target_id]
    return render_formats(dataclasses.replace(dossier, live_track_url=leg.live_track_url), leg.formats)


def _plain(value: Any) -> Any:
    """What JSON has no form for: dataclasses as objects of their fields, times in UTC ISO 8601,
    sets sorted. Enums are `StrEnum`s, written as their strings; tuples (NamedTuples too) as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: getattr(value, name) for name in _fields(type(value))}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"a draft cannot hold a {type(value).__name__}")


@cache
def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


# --- decoding by type hints ---------------------------------------------------------------------------


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"cannot decode a value of {kind}: more than one type is possible")
        return _decode(options[0], value)
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))
    if origin in (frozenset, set, list):
        (arg,) = typing.get_args(kind)
        return origin(_decode(arg, v) for v in value)
    if origin is dict:
        key, item = typing.get_args(kind)
        return {_decode(key, k): _decode(item, v) for k, v in value.items()}
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = _hints(kind)
        fields = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{name: _decode(hints[name], v) for name, v in value.items() if name in fields})
    if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):  # NamedTuple
        hints = _hints(kind)
        return kind(*(_decode(hints[name], v) for name, v in zip(kind._fields, value, strict=True)))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is float:  # as written: an int stays an int, so it renders as it would have
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {type(value).__name__}")
        return value
    if kind in (str, int, bool):
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value
    if kind is Any or kind is object:
        return value
    raise TypeError(f"cannot decode a value of {kind}")
