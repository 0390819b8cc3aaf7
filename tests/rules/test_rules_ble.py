"""BLE contact (rules/ble.py): her device seeing his monitor's tag is proximity evidence without GPS."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vigil.domain.model import DeviceEvent, EventKind, Order
from vigil.replay import run
from vigil.rules import ble
from vigil.rules.proximity import VIOLATION, PairState

SCENARIO_TIME = datetime(2026, 3, 21, 1, 21, tzinfo=UTC)
SCENARIO = json.loads((Path(__file__).resolve().parents[2] / "scenarios" / "ble_contact.json").read_text())


def _kinds(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(line["kind"], line["change"]) for line in run(doc)]


def test_a_contact_with_a_tag_of_a_subject_she_has_no_order_against_says_nothing() -> None:
    doc = copy.deepcopy(SCENARIO)
    doc["orders"] = []
    assert ("proximity_violation", "opened") not in _kinds(doc)


def test_only_her_device_seeing_his_tag_counts() -> None:
    """The same event sent by his own monitor (or anyone's but hers) raises nothing."""
    doc = copy.deepcopy(SCENARIO)
    for message in doc["messages"]:
        if message.get("event") == "ble_contact":
            message["device"] = "AM-1"
    assert ("proximity_violation", "opened") not in _kinds(doc)


def test_a_weak_contact_is_possible_a_strong_one_certain() -> None:
    doc = copy.deepcopy(SCENARIO)
    for message in doc["messages"]:
        if message.get("event") == "ble_contact":
            message["detail"]["rssi"] = "-97"
    opened = next(line for line in run(doc) if line["change"] == "opened")
    assert (opened["ble"], opened["confidence"]) == (True, "possible")
    opened = next(line for line in run(SCENARIO) if line["change"] == "opened")
    assert (opened["ble"], opened["confidence"]) == (True, "certain")


def test_a_contact_escalates_the_pairs_warning_and_keeps_its_alert() -> None:
    state = PairState(tier=1, peak=1)
    event = DeviceEvent("W-1", SCENARIO_TIME, EventKind.BLE_CONTACT, detail={"tag": "T", "rssi": "-60"})
    order = _order()
    new, signal = ble.contact(order, state, None, None, ble.rssi_of(event), event.time)
    assert (new.tier, new.peak, new.ble_at) == (VIOLATION, VIOLATION, event.time)
    assert signal.onset and signal.active and signal.facts.ble
    _, second = ble.contact(order, new, None, None, None, event.time)
    assert not second.onset  # the same violation carries on


@given(st.text(max_size=30))
def test_any_rssi_text_is_read_or_ignored_never_raises(text: str) -> None:
    event = DeviceEvent("W-1", SCENARIO_TIME, EventKind.BLE_CONTACT, detail={"rssi": text})
    value = ble.rssi_of(event)
    assert value is None or -150.0 <= value <= 20.0


def _order() -> Order:
    return Order("O1", "S1", "P1", violation_distance_m=100, warning_distance_m=1000)


def test_contacts_every_minute_stand_against_his_far_fixes_between_them() -> None:
    """Her watch hears his tag every minute for 20 minutes while his monitor reports 20 km off: the
    violation holds at its tier while the contacts go on (it flipped at every fix and contact)."""
    scenarios = Path(__file__).resolve().parents[2] / "scenarios"
    doc = json.loads((scenarios / "ble_contacts_against_far_fixes.json").read_text())
    lines = [line for line in run(doc) if line["kind"].startswith("proximity")]
    during = [line for line in lines if line["at"] <= "2026-03-18T19:32:40+09:00"]
    assert during and all(line["tier"] == "violation" for line in during), during
    assert lines[-1]["change"] == "cleared"


def test_his_tag_at_her_door_ends_the_rest_allowance_of_his_silent_monitor() -> None:
    """His monitor last placed him still at home 2.5 km away, then heartbeats only for an hour; her
    watch hears his tag at her door: location_loss at once, beside the violation (the 2-hour rest
    allowance assumed him at home)."""
    scenarios = Path(__file__).resolve().parents[2] / "scenarios"
    doc = json.loads((scenarios / "jammed_at_her_door.json").read_text())
    kinds = [(line["kind"], line["change"], line["at"]) for line in run(doc) if line["change"] == "opened"]
    first_contact = min(line[2] for line in kinds if line[0] == "proximity_violation")
    assert ("location_loss", "opened", first_contact) in kinds


@given(st.sampled_from(["aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabbccddeeff", " AA:BB:CC:DD:EE:FF "]))
def test_a_tag_is_matched_however_its_bytes_are_written(written: str) -> None:
    event = DeviceEvent("W-1", SCENARIO_TIME, EventKind.BLE_CONTACT, detail={"tag": written})
    assert ble.tag_of(event) == ble.normal_tag("AA:BB:CC:DD:EE:FF")


def test_a_contact_below_any_radio_floor_or_with_its_unit_is_read_as_weak() -> None:
    for text, expected in (
        ("-200", -150.0),
        ("-95 dBm", -95.0),
        ("-71", -71.0),
        ("abc", None),
        ("NaN", None),
    ):
        event = DeviceEvent("W-1", SCENARIO_TIME, EventKind.BLE_CONTACT, detail={"rssi": text})
        assert ble.rssi_of(event) == expected, text
