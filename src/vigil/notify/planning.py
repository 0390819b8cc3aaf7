"""What an alert change says to her, decided on the change, her order's view and what was sent
before (pure: no database, no clock).

A push names one of three kinds and nothing else; a text gives the distance, rounded up to the next
100 m. Neither is sent for what is not a live danger to her now: a late alert (about the past), or
a position not yet believed (an unconfirmed warning: the operators check it first).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from enum import StrEnum

from vigil.domain.alerts import AlertChange, AlertKind, Change

PROXIMITY = frozenset({AlertKind.PROXIMITY_WARNING, AlertKind.PROXIMITY_VIOLATION})
TIERS = frozenset({"warning", "violation"})


class Kind(StrEnum):
    NEAR = "near"  # he came within the warning distance
    DANGER = "danger"  # within the violation distance
    SOS_ANSWERED = "sos_answered"  # the control centre acknowledged or dispatched for her SOS
    DISTANCE = "distance"  # a text: his distance changed by a step since the last text


def _live(change: AlertChange) -> bool:
    alert = change.alert
    return (
        alert.protected_person_id is not None
        and alert.kind in PROXIMITY
        and alert.active
        and not alert.late
        and not alert.facts.unconfirmed
    )


def push_kind(change: AlertChange, view_m: float | None, pushed: Collection[str] = ()) -> Kind | None:
    """The push this change calls for, if any. `view_m`: the order's victim view (None: unknown);
    `pushed`: the kinds already pushed about this alert.

    He is pushed as near only once he is within her view, where the app shows him exactly anyway:
    her status never depends on where exactly he stands beyond it (domain/victim_view.py), and a
    push at the moment an exact warning distance is crossed would hand whoever holds her account
    what the status withholds. (The texts, which go to the number the operators recorded, are told
    at the warning distance.) A violation is a danger push once: within her view, or with no
    distance at all (her device saw his tag: her status says danger then too)."""
    alert = change.alert
    if alert.protected_person_id is None:
        return None
    if alert.kind is AlertKind.SOS:
        answered = change.change in (Change.ACKNOWLEDGED, Change.DISPATCHED)
        return Kind.SOS_ANSWERED if answered else None
    if not _live(change) or change.change not in (Change.OPENED, Change.UPDATED, Change.ESCALATED):
        return None
    distance = alert.facts.distance_m
    shown = distance is not None and view_m is not None and distance <= view_m
    if (
        alert.kind is AlertKind.PROXIMITY_VIOLATION
        and Kind.DANGER not in pushed
        and (shown or distance is None)
    ):
        return Kind.DANGER
    if shown and not pushed:
        return Kind.NEAR
    return None


def text_due(change: AlertChange, last_told_m: float | None, step_m: float) -> tuple[Kind, float] | None:
    """The text this change calls for, and the distance it tells (None: none). `last_told_m`: the
    distance the last text about this alert told. A text when he comes within the warning distance
    (the alert opens, or becomes a violation), then one per `step_m` of change from the last text,
    closer or farther, while he stays within it: jitter smaller than the step sends nothing."""
    if not _live(change) or change.alert.facts.inferred:  # inferred: he has passed; no distance now
        return None
    facts = change.alert.facts
    distance = facts.distance_m
    if distance is None or facts.tier not in TIERS:
        return None
    if change.change is Change.OPENED or last_told_m is None:
        return (Kind.DANGER if facts.tier == "violation" else Kind.NEAR), distance
    if change.change is Change.ESCALATED:
        return Kind.DANGER, distance
    if change.change is Change.UPDATED and abs(distance - last_told_m) >= step_m:
        return Kind.DISTANCE, distance
    return None


def rounded_up(distance_m: float, step_m: float = 100.0) -> int:
    """The distance a text says: rounded up to the step, so "within" is always true."""
    return max(int(step_m), int(math.ceil(distance_m / step_m) * step_m))


_TEXTS = {
    "ko": {
        Kind.NEAR: "[안심] 접근 경보: 상대방이 약 {m} m 이내에 있습니다. 안전한 곳에 머무르고, 위험하면 112에 신고하세요.",
        Kind.DANGER: "[안심] 위험: 상대방이 약 {m} m 이내에 있습니다. 바로 안전한 곳으로 피하고 112에 신고하세요.",
        Kind.DISTANCE: "[안심] 상대방이 지금 약 {m} m 이내에 있습니다. 위험하면 112에 신고하세요.",
    },
    "en": {
        Kind.NEAR: "[Vigil] Warning: he is within about {m} m. Stay somewhere safe; call 112 if in danger.",
        Kind.DANGER: "[Vigil] Danger: he is within about {m} m. Get to a safe place now and call 112.",
        Kind.DISTANCE: "[Vigil] He is now within about {m} m. Call 112 if in danger.",
    },
}


def text(kind: Kind, distance_m: float, language: str, step_m: float = 100.0) -> str:
    """The text message for `kind` at this distance, in the deployment's language (ko or en)."""
    table = _TEXTS.get(language, _TEXTS["ko"])
    return table[kind].format(m=rounded_up(distance_m, step_m))
