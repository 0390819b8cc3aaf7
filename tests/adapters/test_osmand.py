from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.adapters import Decoded, InputError
from vigil.adapters.osmand import KNOTS_TO_MPS, decode_json, decode_query
from vigil.domain.model import DeviceEvent, EventKind, Fix

RECEIVED = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC)
VECTORS = Path(__file__).resolve().parents[1] / "data" / "devices" / "gt06_vectors.txt"
T_1377177267 = datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC)


def query(text: str) -> Decoded:
    return decode_query(parse_qsl(text.partition("?")[2] or text, keep_blank_values=True), RECEIVED)


def report_of(decoded: Decoded) -> Fix | DeviceEvent:
    assert decoded.errors == []
    assert len(decoded.reports) == 1
    index, report = decoded.reports[0]
    assert index == 0
    return report


def fix_of(decoded: Decoded) -> Fix:
    report = report_of(decoded)
    assert isinstance(report, Fix)
    return report


def only_error(decoded: Decoded) -> InputError:
    assert decoded.reports == []
    assert len(decoded.errors) == 1, decoded.errors
    return decoded.errors[0]


def published_requests() -> list[str]:
    lines = VECTORS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Test requests from OsmAndProtocol"))
    return [line.split()[0] for line in lines[start + 1 :] if line.strip().startswith("/?")]


# --- the published Traccar test requests -------------------------------------------------------------


def test_the_vectors_file_has_the_eleven_published_requests() -> None:
    assert len(published_requests()) == 11


def test_published_requests() -> None:
    results = [query(request) for request in published_requests()]

    # no lat/lon: Traccar reuses the last location; we report a heartbeat without inventing one
    assert report_of(results[0]) == DeviceEvent("123456", T_1377177267, EventKind.HEARTBEAT)
    # no id
    assert only_error(results[1]) == InputError(0, "id", "missing")
    assert fix_of(results[2]) == Fix(
        "902064", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC), 42.06288, -88.23412, speed_mps=0.0
    )
    assert fix_of(results[3]) == Fix(
        "902064", datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC), 42.06288, -88.23412, speed_mps=0.0
    )
    assert fix_of(results[4]) == Fix(
        "353861053849681", datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC), 49.60688, 6.15788, speed_mps=0.0
    )
    assert fix_of(results[5]) == Fix("123456", T_1377177267, 60.0, 30.0, speed_mps=0.0, heading_deg=0.0)
    assert fix_of(results[6]) == Fix("123456", T_1377177267, 60.0, 30.0)
    assert fix_of(results[7]) == Fix("123456", RECEIVED, 60.0, 30.0, speed_mps=0.0, heading_deg=0.0)
    assert fix_of(results[8]) == Fix(
        "861001000719969", RECEIVED, 41.666667, -0.883333, speed_mps=0.0, battery_pct=87.0
    )
    assert fix_of(results[9]) == Fix("123456", T_1377177267, 60.0, 30.0)
    last = fix_of(results[10])
    assert (last.device_id, last.time) == ("123456789012345", datetime(2017, 9, 7, 5, 56, 50, tzinfo=UTC))
    assert (last.lat, last.lon, last.heading_deg) == (40.7232948571, -74.0061408571, 7.19889788244)
    assert last.speed_mps == pytest.approx(40 * 0.514444)


# --- query fields ---------------------------------------------------------------------------------------


def test_speed_is_knots() -> None:
    assert fix_of(query("id=a&lat=1&lon=2&speed=10")).speed_mps == pytest.approx(5.14444)
    assert pytest.approx(0.514444) == KNOTS_TO_MPS


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1377177267", T_1377177267),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
        ("2147483646", datetime(2038, 1, 19, 3, 14, 6, tzinfo=UTC)),  # last value read as seconds
        ("2147483647", datetime(1970, 1, 25, 20, 31, 23, 647000, tzinfo=UTC)),  # first read as ms
        ("1442068686579", datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)),
        ("2016-01-27T18:55:47Z", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)),
        ("2016-01-27T20:55:47.5+02:00", datetime(2016, 1, 27, 18, 55, 47, 500000, tzinfo=UTC)),
        ("2016-01-27T18:55:47", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)),  # no offset: UTC
        ("2014-06-04 09:10:11", datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)),  # UTC, not server zone
    ],
)
def test_timestamp_forms(stamp: str, expected: datetime) -> None:
    fix = fix_of(decode_query([("id", "a"), ("lat", "1"), ("lon", "2"), ("timestamp", stamp)], RECEIVED))
    assert fix.time == expected
    assert fix.time.tzinfo is UTC


def test_plus_in_url_is_a_space_after_parsing() -> None:
    assert fix_of(query("id=a&lat=1&lon=2&timestamp=2014-06-04+09%3A10%3A11")).time == datetime(
        2014, 6, 4, 9, 10, 11, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "stamp",
    [
        "",
        "yesterday",
        "1377177267.5",
        "-5",
        "2014-06-04",
        "9" * 25,
        "2014-06-04T25:00:00Z",
        "\uff11\uff12\uff13",
    ],
)
def test_bad_timestamp_refuses_the_position(stamp: str) -> None:
    decoded = decode_query([("id", "a"), ("lat", "1"), ("lon", "2"), ("timestamp", stamp)], RECEIVED)
    assert only_error(decoded).field == "timestamp"


def test_every_field() -> None:
    fix = fix_of(
        query("deviceid=p1&location=-33.5,-70.25&accuracy=12.5&heading=180&batt=42&hdop=3&charge=true")
    )
    assert fix == Fix("p1", RECEIVED, -33.5, -70.25, accuracy_m=12.5, heading_deg=180.0, battery_pct=42.0)


def test_hdop_alone_leaves_accuracy_unknown() -> None:
    assert fix_of(query("id=a&lat=1&lon=2&hdop=6.0")).accuracy_m is None


def test_explicit_lat_lon_win_over_location() -> None:
    fix = fix_of(query("id=a&location=5,6&lat=1&lon=2"))
    assert (fix.lat, fix.lon) == (1.0, 2.0)


def test_repeated_parameters_last_wins() -> None:
    assert fix_of(query("id=a&lat=1&lon=2&lat=3")).lat == 3.0


def test_negative_speed_heading_battery_mean_unknown() -> None:
    fix = fix_of(query("id=a&lat=1&lon=2&speed=-1.94&bearing=-1&batt=-1"))
    assert (fix.speed_mps, fix.heading_deg, fix.battery_pct) == (None, None, None)


def test_invalid_position_is_dropped() -> None:
    assert report_of(query("id=a&lat=1&lon=2&valid=false")) == DeviceEvent("a", RECEIVED, EventKind.HEARTBEAT)
    assert isinstance(report_of(query("id=a&lat=1&lon=2&valid=1")), Fix)


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ("lat=1&lon=2", "id", "missing"),
        ("id=&lat=1&lon=2", "id", "missing"),
        ("id=a%00b&lat=1&lon=2", "id", "must be 1..64 printable characters"),
        ("id=a&lat=91&lon=2", "lat", "must be in [-90, 90]"),
        ("id=a&lat=1&lon=-180.01", "lon", "must be in [-180, 180]"),
        ("id=a&lat=nan&lon=2", "lat", "must be a finite number"),
        ("id=a&lat=1&lon=inf", "lon", "must be a finite number"),
        ("id=a&lat=1e999&lon=2", "lat", "must be a finite number"),
        ("id=a&lat=true&lon=2", "lat", "must be a finite number"),
        ("id=a&lat=1_0&lon=2", "lat", "must be a finite number"),
        ("id=a&lat=&lon=2", "lat", "must be a finite number"),
        ("id=a&lat=1", "lon", "lon is missing while lat is given"),
        ("id=a&lon=1", "lat", "lat is missing while lon is given"),
        ("id=a&location=1", "location", "must be 'lat,lon'"),
        ("id=a&location=1,2,3", "location", "must be 'lat,lon'"),
        ("id=a&location=100,2", "location", "must be in [-90, 90]"),
        ("id=a&lat=1&lon=2&speed=fast", "speed", "must be a finite number"),
        ("id=a&lat=1&lon=2&bearing=361", "bearing", "must be <= 360"),
        ("id=a&lat=1&lon=2&batt=101", "batt", "must be <= 100"),
        ("id=a&lat=1&lon=2&accuracy=-1", "accuracy", "negative accuracy marks the position invalid"),
    ],
)
def test_refusals(params: str, field: str, reason: str) -> None:
    assert only_error(query(params)) == InputError(0, field, reason)


# --- alarms -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alarm", "kind"),
    [
        ("sos", EventKind.SOS),
        ("SOS", EventKind.SOS),
        ("tampering", EventKind.REMOVAL),
        ("removing", EventKind.REMOVAL),
        ("lowBattery", EventKind.BATTERY_LOW),
        ("powerOff", EventKind.POWER_OFF),
        ("powerCut", EventKind.POWER_OFF),
    ],
)
def test_alarm_carries_the_fix(alarm: str, kind: EventKind) -> None:
    report = report_of(query(f"id=a&lat=1&lon=2&timestamp=1377177267&alarm={alarm}"))
    fix = Fix("a", T_1377177267, 1.0, 2.0)
    assert report == DeviceEvent("a", T_1377177267, kind, fix=fix, detail={"alarm": alarm})


def test_unknown_alarm_is_ignored() -> None:
    assert isinstance(report_of(query("id=a&lat=1&lon=2&alarm=overspeed")), Fix)
    assert report_of(query("id=a&alarm=general&alarm=sos")) == DeviceEvent(
        "a", RECEIVED, EventKind.SOS, detail={"alarm": "sos"}
    )


def test_alarm_without_position() -> None:
    assert report_of(query("id=a&alarm=sos")) == DeviceEvent(
        "a", RECEIVED, EventKind.SOS, detail={"alarm": "sos"}
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ("lat=100&lon=2", "lat"),
        ("lat=1", "lon"),
        ("location=x", "location"),
        ("lat=1&lon=2&accuracy=-5", "accuracy"),
        ("lat=1&lon=2&batt=900", "batt"),
    ],
)
def test_alarm_with_bad_position_is_kept(params: str, field: str) -> None:
    decoded = query(f"id=a&alarm=sos&timestamp=1377177267&{params}")
    assert decoded.reports == [(0, DeviceEvent("a", T_1377177267, EventKind.SOS, detail={"alarm": "sos"}))]
    assert [(error.index, error.field) for error in decoded.errors] == [(0, field)]


def test_alarm_with_bad_timestamp_is_kept_at_receive_time() -> None:
    decoded = query("id=a&alarm=sos&lat=1&lon=2&timestamp=soon")
    assert decoded.reports == [
        (
            0,
            DeviceEvent(
                "a", RECEIVED, EventKind.SOS, fix=Fix("a", RECEIVED, 1.0, 2.0), detail={"alarm": "sos"}
            ),
        )
    ]
    assert decoded.errors == [InputError(0, "timestamp", decoded.errors[0].reason)]


def test_alarm_without_id_is_refused() -> None:
    assert only_error(query("alarm=sos&lat=1&lon=2")).field == "id"


# --- JSON shape -----------------------------------------------------------------------------------

PUBLISHED_JSON = (
    '{"location":{"timestamp":"2021-07-21T08:06:34.444Z","odometer":0,"coords":{"latitude":-6.1148096,'
    '"longitude":106.6837015,"accuracy":3.8,"speed":18.67,"heading":63,"altitude":35.7},"is_moving":false,'
    '"event":"motionchange","battery":{"is_charging":false,"level":0.79},"extras":{}},"device_id":"8737767034"}'
)
JSON_TIME = datetime(2021, 7, 21, 8, 6, 34, 444000, tzinfo=UTC)


def json_doc(**coords: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(PUBLISHED_JSON)
    doc["location"]["coords"].update(coords)
    return doc


def decode_doc(doc: object) -> Decoded:
    return decode_json(json.dumps(doc).encode(), RECEIVED)


def test_published_json_is_in_the_vectors_file() -> None:
    assert PUBLISHED_JSON in VECTORS.read_text()


def test_published_json() -> None:
    fix = fix_of(decode_json(PUBLISHED_JSON.encode(), RECEIVED))
    assert fix == Fix(
        "8737767034",
        JSON_TIME,
        -6.1148096,
        106.6837015,
        accuracy_m=3.8,
        speed_mps=18.67,  # already m/s in this shape
        heading_deg=63.0,
        battery_pct=pytest.approx(79.0),  # type: ignore[arg-type]
    )


def test_published_json_with_unknowns() -> None:
    doc = json_doc(speed=-1, heading=-1)
    doc["location"]["battery"]["level"] = -1
    doc["location"]["mock"] = True
    fix = fix_of(decode_doc(doc))
    assert (fix.speed_mps, fix.heading_deg, fix.battery_pct) == (None, None, None)
    assert (fix.lat, fix.lon, fix.accuracy_m) == (-6.1148096, 106.6837015, 3.8)


@pytest.mark.parametrize("where", ["location", "extras"])
def test_json_alarm(where: str) -> None:
    doc = json_doc()
    target = doc["location"] if where == "location" else doc["location"]["extras"]
    target["alarm"] = "sos"
    report = report_of(decode_doc(doc))
    assert isinstance(report, DeviceEvent)
    assert (report.kind, report.time, report.detail) == (EventKind.SOS, JSON_TIME, {"alarm": "sos"})
    assert report.fix is not None and report.fix.lat == -6.1148096


def test_json_alarm_with_bad_coords_is_kept() -> None:
    doc = json_doc(latitude=True)
    doc["location"]["alarm"] = "sos"
    decoded = decode_doc(doc)
    assert decoded.reports == [
        (0, DeviceEvent("8737767034", JSON_TIME, EventKind.SOS, detail={"alarm": "sos"}))
    ]
    assert decoded.errors == [InputError(0, "location.coords.latitude", "must be a finite number")]


def test_json_without_coords_or_location_is_a_heartbeat() -> None:
    doc = json_doc()
    del doc["location"]["coords"]
    assert report_of(decode_doc(doc)) == DeviceEvent("8737767034", JSON_TIME, EventKind.HEARTBEAT)
    assert report_of(decode_doc({"device_id": "x"})) == DeviceEvent("x", RECEIVED, EventKind.HEARTBEAT)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (1377177267, T_1377177267),
        (1442068686579, datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)),
        ("2021-07-21T10:06:34+02:00", datetime(2021, 7, 21, 8, 6, 34, tzinfo=UTC)),
        ("2021-07-21 08:06:34", datetime(2021, 7, 21, 8, 6, 34, tzinfo=UTC)),
    ],
)
def test_json_timestamps(stamp: object, expected: datetime) -> None:
    doc = json_doc()
    doc["location"]["timestamp"] = stamp
    assert fix_of(decode_doc(doc)).time == expected


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda d: d.pop("device_id"), "device_id", "missing"),
        (lambda d: d.update(device_id=8737767034), "device_id", "must be a string"),
        (lambda d: d.update(location=[1]), "location", "must be an object"),
        (lambda d: d["location"].update(coords="x"), "location.coords", "must be an object"),
        (lambda d: d["location"]["coords"].pop("longitude"), "location.coords.longitude", "missing"),
        (lambda d: d["location"]["coords"].update(latitude=-90.5), "location.coords.latitude", None),
        (lambda d: d["location"]["coords"].update(longitude="106"), "location.coords.longitude", None),
        (lambda d: d["location"]["coords"].update(accuracy=-1), "location.coords.accuracy", None),
        (lambda d: d["location"]["coords"].update(heading=400), "location.coords.heading", None),
        (lambda d: d["location"]["coords"].update(speed=False), "location.coords.speed", None),
        (lambda d: d["location"]["battery"].update(level=1.5), "location.battery.level", None),
        (lambda d: d["location"].update(battery=0.5), "location.battery", None),
        (lambda d: d["location"].update(timestamp=True), "location.timestamp", None),
        (lambda d: d["location"].update(timestamp=-1), "location.timestamp", None),
        (lambda d: d["location"].update(timestamp="now"), "location.timestamp", None),
    ],
)
def test_json_refusals(mutate: Any, field: str, reason: str | None) -> None:
    doc = json_doc()
    mutate(doc)
    error = only_error(decode_doc(doc))
    assert (error.index, error.field) == (0, field)
    if reason is not None:
        assert error.reason == reason


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"NaN", b'{"device_id":"a","location":{"coords":{"latitude":1e999}}}']
)
def test_json_malformed_body(raw: bytes) -> None:
    error = only_error(decode_json(raw, RECEIVED))
    assert (error.index, error.field) == (None, "body")


@pytest.mark.parametrize("doc", [[], "x", 1, None])
def test_json_not_an_object(doc: object) -> None:
    assert only_error(decode_doc(doc)) == InputError(None, "body", "must be a JSON object")


# --- properties -------------------------------------------------------------------------------------

PARAM_NAMES = ["id", "deviceid", "timestamp", "lat", "lon", "location", "speed", "bearing", "heading"]
PARAM_NAMES += ["accuracy", "hdop", "batt", "alarm", "valid", "charge", "x"]
SPECIAL_VALUES = ["1", "-1", "91", "1e999", "nan", "Infinity", "60.0,30.0", "sos", "false", "1377177267"]
SPECIAL_VALUES += [
    "1442068686579",
    "2014-06-04 09:10:11",
    "2016-01-27T18:55:47Z",
    "0001-01-01T00:00:00+01:00",
]
SPECIAL_VALUES += ["9999-12-31T23:59:59-01:00", "99999999999999999", "9999999999999999999"]
param_values = st.text(max_size=25) | st.sampled_from(SPECIAL_VALUES)
params_lists = st.lists(
    st.tuples(st.sampled_from(PARAM_NAMES) | st.text(max_size=5), param_values), max_size=10
)


def assert_sound(decoded: Decoded) -> None:
    assert isinstance(decoded, Decoded)
    assert len(decoded.reports) <= 1
    for index, report in decoded.reports:
        assert index == 0
        assert report.time.tzinfo is UTC
        fix = report if isinstance(report, Fix) else report.fix
        if fix is not None:
            assert math.isfinite(fix.lat) and -90 <= fix.lat <= 90
            assert math.isfinite(fix.lon) and -180 <= fix.lon <= 180
            assert fix.time.tzinfo is UTC
            for value in (fix.accuracy_m, fix.speed_mps, fix.heading_deg, fix.battery_pct):
                assert value is None or (math.isfinite(value) and value >= 0)
    if not decoded.reports:
        assert decoded.errors, "a request is either reported or refused"
    for error in decoded.errors:
        assert error.index in (0, None)


@settings(max_examples=300)
@given(params_lists)
def test_arbitrary_params_never_raise(params: list[tuple[str, str]]) -> None:
    assert_sound(decode_query(params, RECEIVED))


@given(st.text(max_size=200))
def test_arbitrary_query_strings_never_raise(text: str) -> None:
    assert_sound(decode_query(parse_qsl(text, keep_blank_values=True), RECEIVED))


@given(st.binary(max_size=300))
def test_arbitrary_json_bytes_never_raise(raw: bytes) -> None:
    assert_sound(decode_json(raw, RECEIVED))


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_KEYS = ["device_id", "location", "timestamp", "coords", "latitude", "longitude", "accuracy", "speed"]
JSON_KEYS += ["heading", "battery", "level", "alarm", "extras"]
json_near = st.recursive(
    json_scalars | st.sampled_from(["sos", "2021-07-21T08:06:34.444Z", 0.5, -1, 45, 200, "a"]),
    lambda inner: st.dictionaries(st.sampled_from(JSON_KEYS) | st.text(max_size=4), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300)
@given(json_near)
def test_arbitrary_json_never_raises(doc: object) -> None:
    assert_sound(decode_json(json.dumps(doc).encode(), RECEIVED))


@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(0, 1e6),
    st.integers(0, 2**31 - 2),
)
def test_query_round_trip(lat: float, lon: float, speed_kn: float, stamp: int) -> None:
    params = urlencode(
        {"id": "p", "lat": repr(lat), "lon": repr(lon), "speed": repr(speed_kn), "timestamp": stamp}
    )
    fix = fix_of(decode_query(parse_qsl(params), RECEIVED))
    assert (fix.lat, fix.lon) == (lat, lon)
    assert fix.speed_mps == pytest.approx(speed_kn * 0.514444, rel=1e-5)
    assert fix.time == datetime.fromtimestamp(stamp, UTC)
