from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.adapters.owntracks import (
    COMMAND_SUFFIX,
    ENCRYPTED,
    KMH_TO_MPS,
    MAX_IDENTIFIER_LEN,
    MAX_PAYLOAD,
    NULL_ISLAND,
    command_topic,
    decode,
    encode_command,
    topic_identifier,
)
from vigil.adapters.wire import CommandReply, Inbound
from vigil.domain.model import CommandKind, Fix, FixSource

RECEIVED = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
MESSAGES = Path(__file__).resolve().parents[1] / "data" / "devices" / "owntracks_messages.txt"


def mqtt_vectors() -> list[tuple[str, bytes]]:
    """(topic, payload) of every line of the data file that came over MQTT (not an HTTP POST)."""
    vectors = []
    for line in MESSAGES.read_text().splitlines():
        if not line.startswith("owntracks/"):
            continue
        topic, _, rest = line.partition("\t")
        payload = rest.split("  # ", 1)[0].strip()
        vectors.append((topic, payload.encode()))
    return vectors


def only_fix(inbound: Inbound) -> Fix:
    assert inbound.error is None, inbound.error
    assert len(inbound.reports) == 1
    fix = inbound.reports[0]
    assert isinstance(fix, Fix)
    return fix


def location(**fields: Any) -> bytes:
    """A location the way the app builds it: now, somewhere in Seoul, only the fields given."""
    doc: dict[str, Any] = {"_type": "location", "lat": 37.5665, "lon": 126.978, "tid": "ab"}
    doc.update(fields)
    return json.dumps({key: value for key, value in doc.items() if value is not None}).encode()


def user() -> str:
    return uuid.uuid4().hex[:12]


# --- the booklet's messages ---------------------------------------------------------------------------


def test_the_data_file_has_the_seven_mqtt_messages() -> None:
    assert [topic for topic, _ in mqtt_vectors()] == [
        "owntracks/jane/nokia",
        "owntracks/jane/nokia",
        "owntracks/jj/phone",
        "owntracks/j1/phone/event",
        "owntracks/jp/phone/event",
        "owntracks/jane/phone",
        "owntracks/jane/phone/cmd",
    ]


def test_the_booklet_messages() -> None:
    results = [decode(topic, payload, RECEIVED) for topic, payload in mqtt_vectors()]

    # quicksetup.md: on Wi-Fi, no acc (accuracy unknown), vel 0; conn "w" does not make it a Wi-Fi fix
    assert only_fix(results[0]) == Fix(
        "jane/nokia",
        datetime(2024, 2, 2, 6, 44, 58, tzinfo=UTC),
        48.856826,
        2.292713,
        speed_mps=0.0,
        source=FixSource.GNSS,
        battery_pct=53.0,
    )
    assert results[0].identifier == "jane/nokia"
    assert only_fix(results[1]).time == datetime(2024, 2, 2, 7, 15, 49, tzinfo=UTC)
    # lua.md: batt -1 is unknown; t "u" is a manual publish, not an answer to a command
    assert only_fix(results[2]) == Fix(
        "jj/phone", datetime(2015, 9, 11, 15, 13, 33, tzinfo=UTC), 48.85833, 2.29513
    )
    assert results[2].command_reply is None
    # waypoints.md: a region ENTER; only its position is kept, named by the topic without /event
    assert results[3].identifier == "j1/phone"
    assert only_fix(results[3]) == Fix(
        "j1/phone", datetime(2024, 2, 4, 14, 39, 34, tzinfo=UTC), 48.87069, 2.34916
    )
    # beacons.md: a beacon ENTER with acc 65 m
    assert only_fix(results[4]) == Fix(
        "jp/phone", datetime(2015, 6, 3, 14, 42, tzinfo=UTC), 2.2222, 1.1111, accuracy_m=65.0
    )
    # the broker's last will: offline, nothing reported (its tst is a connection time)
    assert results[5] == Inbound("jane/phone", offline=True)
    # the server's own command topic is not one we read
    assert results[6].identifier is None
    assert results[6].reports == ()
    assert results[6].error is not None and results[6].error.startswith("topic: ")


def test_the_booklet_command_is_what_locate_encodes() -> None:
    topic, payload = mqtt_vectors()[-1]
    assert encode_command(CommandKind.LOCATE, {}) == (COMMAND_SUFFIX, payload)
    assert command_topic("jane/phone") == topic


# --- built messages ---------------------------------------------------------------------------------


def test_a_full_location_now() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    name = user()
    payload = location(tst=int(now.timestamp()), acc=12, vel=36, cog=271, batt=88, alt=40, conn="m", bs=1)
    inbound = decode(f"owntracks/{name}/phone", payload, now + timedelta(seconds=3))
    assert only_fix(inbound) == Fix(
        f"{name}/phone",
        now,
        37.5665,
        126.978,
        accuracy_m=12.0,
        speed_mps=pytest.approx(10.0),  # type: ignore[arg-type]
        heading_deg=271.0,
        source=FixSource.GNSS,
        battery_pct=88.0,
    )
    assert inbound.offline is False
    assert inbound.ack is None


def test_speed_is_kmh() -> None:
    assert only_fix(decode("owntracks/a/b", location(tst=1, vel=72), RECEIVED)).speed_mps == pytest.approx(
        20.0
    )
    assert pytest.approx(1 / 3.6) == KMH_TO_MPS


def test_fractional_tst_is_kept() -> None:
    fix = only_fix(decode("owntracks/a/b", location(tst=1700000000.5), RECEIVED))
    assert fix.time == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)


def test_no_tst_is_the_receipt_time_without_an_error() -> None:
    fix = only_fix(decode("owntracks/a/b", location(), RECEIVED))
    assert fix.time == RECEIVED
    naive = only_fix(decode("owntracks/a/b", location(), RECEIVED.replace(tzinfo=None)))
    assert naive.time == RECEIVED


def test_an_answer_to_report_location_says_so() -> None:
    inbound = decode("owntracks/a/b", location(tst=1, t="r"), RECEIVED)
    assert inbound.command_reply == CommandReply(None, "reportLocation")
    assert len(inbound.reports) == 1


@pytest.mark.parametrize("conn", ["w", "m", "o"])
def test_connectivity_is_not_the_fix_source(conn: str) -> None:
    payload = location(tst=1, conn=conn, SSID="home", BSSID="aa:bb:cc:dd:ee:ff")
    assert only_fix(decode("owntracks/a/b", payload, RECEIVED)).source is FixSource.GNSS


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, (None, None, None, None)),
        ({"acc": 0}, (None, None, None, None)),  # zero metres is no measurement
        ({"vel": -1, "cog": -1, "batt": -1}, (None, None, None, None)),  # iOS: -1 unknown
        ({"acc": 3.5, "vel": 0, "cog": 0, "batt": 0}, (3.5, 0.0, 0.0, 0.0)),
        ({"cog": 360, "batt": 100}, (None, None, 360.0, 100.0)),
    ],
)
def test_optional_fields(fields: dict[str, Any], expected: tuple[float | None, ...]) -> None:
    fix = only_fix(decode("owntracks/a/b", location(tst=1, **fields), RECEIVED))
    assert (fix.accuracy_m, fix.speed_mps, fix.heading_deg, fix.battery_pct) == expected


def test_an_optional_field_out_of_range_is_dropped_and_the_position_kept() -> None:
    inbound = decode("owntracks/a/b", location(tst=1, cog=400, batt=101, vel="fast"), RECEIVED)
    assert inbound.error == "vel: must be a finite number; cog: must be <= 360; batt: must be <= 100"
    assert len(inbound.reports) == 1
    fix = inbound.reports[0]
    assert isinstance(fix, Fix)
    assert (fix.lat, fix.speed_mps, fix.heading_deg, fix.battery_pct) == (37.5665, None, None, None)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{not json", None),
        (b"", None),
        (b"\xff\xfe", None),
        (b"[1, 2]", "payload: must be a JSON object"),
        (b'"location"', "payload: must be a JSON object"),
        (b'{"lat": 1, "lon": 2}', "_type: missing"),
        (b'{"_type": 5}', "_type: must be a string"),
        (location(lat=None, tst=1), "lat: missing"),
        (location(lon=None, tst=1), "lon: missing"),
        (location(lat=90.5), "lat: must be in [-90, 90]"),
        (location(lon=-180.01), "lon: must be in [-180, 180]"),
        (location(lat="37.5"), "lat: must be a finite number"),
        (location(lat=True), "lat: must be a finite number"),
        (location(lat=0, lon=0, tst=1), f"lat,lon: {NULL_ISLAND}"),
        (location(acc=-1), "acc: negative accuracy marks the position invalid"),
        (location(tst=-5), "tst: must not be negative"),
        (location(tst="1706856298"), "tst: must be a finite number"),
        (location(tst=10**15), "tst: date-time out of range"),
        (b'{"_type":"encrypted","data":"AAAA"}', f"_type: {ENCRYPTED}"),
    ],
)
def test_refused_messages(payload: bytes, error: str | None) -> None:
    inbound = decode("owntracks/a/b", payload, RECEIVED)
    assert inbound.identifier == "a/b"
    assert inbound.reports == ()
    assert inbound.offline is False
    assert inbound.error is not None
    if error is None:
        assert inbound.error.startswith("payload: malformed JSON")
    else:
        assert inbound.error == error


def test_a_payload_past_the_bound_is_refused_unread() -> None:
    big = location(tst=1, pad="x" * MAX_PAYLOAD)
    assert decode("owntracks/a/b", big, RECEIVED) == Inbound(
        "a/b", error=f"payload: payload larger than {MAX_PAYLOAD} bytes"
    )
    assert len(decode("owntracks/a/b", location(tst=1, pad="x" * (MAX_PAYLOAD - 200)), RECEIVED).reports) == 1


@pytest.mark.parametrize(
    "kind",
    ["cmd", "waypoint", "waypoints", "card", "status", "beacon", "steps", "configuration", "dump", "new"],
)
def test_other_types_are_ignored(kind: str) -> None:
    payload = json.dumps({"_type": kind, "lat": 1.0, "lon": 2.0, "tst": 1}).encode()
    assert decode("owntracks/a/b", payload, RECEIVED) == Inbound("a/b")


def test_a_transition_without_its_time_or_position_reports_nothing() -> None:
    base = {"_type": "transition", "event": "leave", "lat": 1.0, "lon": 2.0, "tst": 1, "acc": 10}
    for missing in ("lat", "lon", "tst"):
        doc = {key: value for key, value in base.items() if key != missing}
        assert decode("owntracks/a/b/event", json.dumps(doc).encode(), RECEIVED) == Inbound("a/b")
    bad = json.dumps(base | {"lat": 91}).encode()
    assert decode("owntracks/a/b/event", bad, RECEIVED) == Inbound("a/b", error="lat: must be in [-90, 90]")


def test_an_lwt_for_any_device_is_offline() -> None:
    name = user()
    inbound = decode(f"owntracks/{name}/watch", b'{"_type":"lwt"}', RECEIVED)
    assert inbound == Inbound(f"{name}/watch", offline=True)


# --- topics ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "identifier"),
    [
        ("owntracks/jane/phone", "jane/phone"),
        ("owntracks/jane/phone/event", "jane/phone"),
        ("owntracks/김지은/갤럭시 S24", "김지은/갤럭시 S24"),
        ("owntracks/a/" + "d" * (MAX_IDENTIFIER_LEN - 2), "a/" + "d" * (MAX_IDENTIFIER_LEN - 2)),
    ],
)
def test_identifiers(topic: str, identifier: str) -> None:
    assert topic_identifier(topic) == identifier
    assert decode(topic, b'{"_type":"lwt"}', RECEIVED).identifier == identifier


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "owntracks",
        "owntracks/jane",
        "owntracks/jane/",
        "owntracks//phone",
        "owntracks/jane/phone/cmd",
        "owntracks/jane/phone/event/x",
        "owntracks/jane/phone/waypoint",
        "OwnTracks/jane/phone",
        "other/jane/phone",
        "/owntracks/jane/phone",
        "owntracks/ja+ne/phone",
        "owntracks/jane/ph#one",
        "owntracks/jane/ph\x00one",
        "owntracks/jane/ph\none",
        "owntracks/a/" + "d" * (MAX_IDENTIFIER_LEN - 1),
    ],
)
def test_other_topics_are_refused(topic: str) -> None:
    inbound = decode(topic, location(tst=1), RECEIVED)
    assert inbound.identifier is None
    assert inbound.reports == ()
    assert inbound.error is not None and inbound.error.startswith("topic: ")


# --- commands --------------------------------------------------------------------------------------


def test_set_interval_is_move_mode_with_the_interval() -> None:
    encoded = encode_command(CommandKind.SET_INTERVAL, {"seconds": "15"})
    assert encoded is not None
    suffix, payload = encoded
    assert suffix == "/cmd"
    assert json.loads(payload) == {
        "_type": "cmd",
        "action": "setConfiguration",
        "configuration": {
            "_type": "configuration",
            "monitoring": 2,
            "locatorInterval": 15,
            "moveModeLocatorInterval": 15,
        },
    }


@pytest.mark.parametrize("seconds", [None, "", "0", "-5", "1.5", "abc", "86401", "\u0661\u0665", "9" * 5000])
def test_set_interval_needs_a_sane_number_of_seconds(seconds: str | None) -> None:
    params = {} if seconds is None else {"seconds": seconds}
    assert encode_command(CommandKind.SET_INTERVAL, params) is None


@pytest.mark.parametrize("kind", [CommandKind.VIBRATE, CommandKind.ALARM, CommandKind.MESSAGE])
def test_what_the_app_cannot_be_asked(kind: CommandKind) -> None:
    assert encode_command(kind, {"text": "call probation"}) is None


# --- fuzz ------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
field_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.lists(st.integers(), max_size=2)
)
FIELDS = ["lat", "lon", "tst", "acc", "vel", "cog", "batt", "t", "conn"]


def check(inbound: Inbound) -> None:
    assert inbound.ack is None
    for report in inbound.reports:
        assert isinstance(report, Fix)
        assert report.device_id == inbound.identifier
        assert -90 <= report.lat <= 90 and -180 <= report.lon <= 180
        assert (report.lat, report.lon) != (0.0, 0.0)
        assert report.time.tzinfo is UTC
        assert report.accuracy_m is None or report.accuracy_m > 0
        assert report.speed_mps is None or (report.speed_mps >= 0 and math.isfinite(report.speed_mps))
        assert report.heading_deg is None or 0 <= report.heading_deg <= 360
        assert report.battery_pct is None or 0 <= report.battery_pct <= 100


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.text(max_size=40))
def test_arbitrary_bytes_and_topics_never_raise(payload: bytes, topic: str) -> None:
    check(decode(topic, payload, RECEIVED))
    check(decode("owntracks/a/b", payload, RECEIVED))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    check(decode("owntracks/a/b", json.dumps(value).encode(), RECEIVED))


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["location", "transition", "lwt", "encrypted", "cmd"]),
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=len(FIELDS)),
)
def test_arbitrary_fields_never_raise(kind: str, fields: dict[str, Any]) -> None:
    inbound = decode("owntracks/a/b/event", json.dumps({"_type": kind, **fields}).encode(), RECEIVED)
    check(inbound)
    assert inbound.identifier == "a/b"
    assert inbound.reports or inbound.offline or inbound.error is not None or kind in {"transition", "cmd"}


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=-90, max_value=90).filter(lambda x: x != 0),
    st.floats(min_value=-180, max_value=180),
    st.integers(min_value=0, max_value=4_102_444_800),
    st.integers(min_value=1, max_value=5000),
)
def test_built_locations_round_trip(lat: float, lon: float, tst: int, acc: int) -> None:
    fix = only_fix(decode("owntracks/u/d", location(lat=lat, lon=lon, tst=tst, acc=acc), RECEIVED))
    assert (fix.lat, fix.lon, fix.accuracy_m) == (lat, lon, float(acc))
    assert fix.time == datetime.fromtimestamp(tst, UTC)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(CommandKind)), st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
def test_encode_command_never_raises(kind: CommandKind, params: dict[str, str]) -> None:
    encoded = encode_command(kind, params)
    if encoded is not None:
        suffix, payload = encoded
        assert suffix == COMMAND_SUFFIX
        assert json.loads(payload)["_type"] == "cmd"
