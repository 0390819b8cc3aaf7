"""BLE contact: her watch or phone sees the BLE tag his monitor broadcasts.

A tag is heard only within radio range (tens of metres; less through walls), closer than any
violation distance an order sets, and it needs no satellite: indoors, in a basement, in a car park,
where GPS says nothing, a contact is still proof that he is near her. So a `ble_contact` event from
her device, naming the tag of a subject she has an order in force against, puts that pair in the
violation tier: a proximity violation marked `ble`, with her position (the event's fix, or her latest)
and his last known one. It is the same alert as the GPS rule's for the pair (same key), so the two
lines of evidence combine: a warning his GPS raised escalates; his positions measured after the
contact judge the pair again, and clear it (after the hold) only when they put him beyond the
distances. One measured before the contact says nothing against it (`PairState.ble_at`).

The signal strength says little about distance (a body between watch and tag costs 10-20 dB), so it
only grades the alert: a contact weaker than `WEAK_RSSI_DBM` is `possible`, otherwise `certain`.
Pure: handed the time, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

from vigil.domain.alerts import AlertKind, Confidence, Facts, Signal
from vigil.domain.model import DeviceEvent, Fix, Order
from vigil.domain.track import position
from vigil.rules import proximity
from vigil.rules.proximity import VIOLATION, PairState

TAG_KEY = "tag"
RSSI_KEY = "rssi"
WEAK_RSSI_DBM = -90.0


def tag_of(event: DeviceEvent) -> str | None:
    tag = normal_tag(event.detail.get(TAG_KEY, ""))
    return tag or None


def normal_tag(tag: str) -> str:
    """A tag as written by anyone: upper case, without the separators vendors put between its bytes
    (`aa:bb:cc`, `AA-BB-CC` and `AABBCC` are one tag; a watch that wrote it in lower case was not
    matched)."""
    return "".join(c for c in tag.strip().upper() if c not in ":-_ .")


def rssi_of(event: DeviceEvent) -> float | None:
    """The contact's strength in dBm: a number, perhaps with its unit ("-95 dBm"); weaker than any
    radio hears (below -150) is as weak as that; unreadable or above 20, unknown."""
    text = event.detail.get(RSSI_KEY, "").strip()
    if text.lower().endswith("dbm"):
        text = text[:-3].strip()
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value > 20.0:
        return None
    return max(value, -150.0)


def contact(
    order: Order, state: PairState, her: Fix | None, his: Fix | None, rssi: float | None, at: datetime
) -> tuple[PairState, Signal]:
    """The pair after a contact at `at`: in the violation tier, its pending clear (if any) called off."""
    onset = state.tier < VIOLATION and not (state.left_at is not None and state.peak >= VIOLATION)
    new_state = replace(
        state, tier=VIOLATION, peak=VIOLATION, left_at=None, ble_at=max(at, state.ble_at or at)
    )
    weak = rssi is not None and rssi < WEAK_RSSI_DBM
    facts = Facts(
        subject_position=None if his is None else position(his, at),
        protected_position=None if her is None else position(her, at),
        confidence=Confidence.POSSIBLE if weak else Confidence.CERTAIN,
        tier=proximity.TIER_NAME[VIOLATION],
        peak_tier=proximity.TIER_NAME[VIOLATION],
        ble=True,
        ble_rssi=rssi,
    )
    signal = Signal(
        key=proximity.key(order),
        kind=AlertKind.PROXIMITY_VIOLATION,
        active=True,
        onset=onset,
        facts=facts,
        subject_id=order.subject_id,
        protected_person_id=order.protected_person_id,
        order_id=order.id,
    )
    return new_state, signal
