from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.adapters import Decoded, InputError
from vigil.adapters.native import MAX_BATCH, decode
from vigil.domain.model import DeviceEvent, EventKind, Fix, FixSource

RECEIVED = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC)
AT = "2025-06-15T11:59:58Z"
AT_UTC = datetime(2025, 6, 15, 11, 59, 58, tzinfo=UTC)


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


def message(**overrides: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"device": "ankle-7", "at": AT, "fix": {"lat": 48.85, "lon": 2.35}}
    msg.update(overrides)
    return {key: value for key, value in msg.items() if value is not ...}


def one(doc: object) -> Decoded:
    return decode(body(doc), RECEIVED)


def only_error(decoded: Decoded) -> InputError:
    assert len(decoded.errors) == 1, decoded.errors
    return decoded.errors[0]


# --- envelopes --------------------------------------------------------------------------------------


def test_single_object_is_message_zero() -> None:
    decoded = one(message())
    assert decoded.errors == []
    assert decoded.reports == [(0, Fix(device_id="ankle-7", time=AT_UTC, lat=48.85, lon=2.35))]


def test_array_and_messages_envelope_decode_alike() -> None:
    msgs = [message(), message(device="ankle-8")]
    assert one(msgs) == one({"messages": msgs})
    assert [index for index, _ in one(msgs).reports] == [0, 1]


def test_empty_batch_is_nothing() -> None:
    assert one([]) == Decoded()


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,", b"\xff", b"NaN", b"[Infinity]", b"{'a': 1}", b"nul"])
def test_malformed_json_is_one_body_error(raw: bytes) -> None:
    decoded = decode(raw, RECEIVED)
    assert decoded.reports == []
    error = only_error(decoded)
    assert (error.index, error.field) == (None, "body")
    assert error.reason.startswith("malformed JSON")


def test_deep_nesting_is_a_body_error_not_a_crash() -> None:
    decoded = decode(b"[" * 100_000 + b"]" * 100_000, RECEIVED)
    assert only_error(decoded).field == "body"


@pytest.mark.parametrize("doc", [1, "x", None, True, {"messages": {"device": "a"}}, {"messages": None}])
def test_wrong_envelope_is_a_body_error(doc: object) -> None:
    error = only_error(one(doc))
    assert (error.index, error.field) == (None, "body")


def test_oversize_batch_is_one_body_error() -> None:
    assert len(one([message()] * MAX_BATCH).reports) == MAX_BATCH
    decoded = one({"messages": [message()] * (MAX_BATCH + 1)})
    assert decoded.reports == []
    assert only_error(decoded) == InputError(None, "body", f"more than {MAX_BATCH} messages")


# --- fields ---------------------------------------------------------------------------------------


def test_every_fix_field() -> None:
    fix = {
        "lat": -33.5,
        "lon": -70,
        "accuracy_m": 4.5,
        "speed_mps": 1.25,
        "heading_deg": 360,
        "source": "wifi",
        "battery_pct": 100,
        "altitude_m": 12,  # unknown keys are ignored
    }
    decoded = one(message(fix=fix, at="2025-06-15T13:59:58.250+02:00", firmware="1.2"))
    assert decoded.errors == []
    assert decoded.reports == [
        (
            0,
            Fix(
                device_id="ankle-7",
                time=datetime(2025, 6, 15, 11, 59, 58, 250000, tzinfo=UTC),
                lat=-33.5,
                lon=-70.0,
                accuracy_m=4.5,
                speed_mps=1.25,
                heading_deg=360.0,
                source=FixSource.WIFI,
                battery_pct=100.0,
            ),
        )
    ]
    produced = decoded.reports[0][1]
    assert produced.time.tzinfo is UTC


@pytest.mark.parametrize("source", list(FixSource))
def test_every_source(source: FixSource) -> None:
    decoded = one(message(fix={"lat": 0, "lon": 0, "source": source.value}))
    report = decoded.reports[0][1]
    assert isinstance(report, Fix)
    assert report.source is source


def test_null_optionals_mean_absent() -> None:
    fix = {"lat": 1, "lon": 2, "accuracy_m": None, "source": None, "battery_pct": None}
    decoded = one(message(fix=fix, event=None, detail=None))
    assert decoded.reports == [(0, Fix(device_id="ankle-7", time=AT_UTC, lat=1.0, lon=2.0))]


def test_event_with_fix_and_detail() -> None:
    decoded = one(message(event="strap_cut", detail={"sensor": "optical"}))
    assert decoded.errors == []
    fix = Fix(device_id="ankle-7", time=AT_UTC, lat=48.85, lon=2.35)
    assert decoded.reports == [
        (0, DeviceEvent("ankle-7", AT_UTC, EventKind.STRAP_CUT, fix=fix, detail={"sensor": "optical"}))
    ]


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_event_kind_without_fix(kind: EventKind) -> None:
    decoded = one(message(fix=..., event=kind.value))
    assert decoded.reports == [(0, DeviceEvent("ankle-7", AT_UTC, kind))]


@pytest.mark.parametrize(
    ("fix", "field", "reason"),
    [
        ({"lat": 90.0001, "lon": 0}, "fix.lat", "must be in [-90, 90]"),
        ({"lat": -91, "lon": 0}, "fix.lat", "must be in [-90, 90]"),
        ({"lat": 0, "lon": 180.5}, "fix.lon", "must be in [-180, 180]"),
        ({"lat": 0, "lon": -181}, "fix.lon", "must be in [-180, 180]"),
        ({"lat": True, "lon": 0}, "fix.lat", "must be a finite number"),
        ({"lat": 0, "lon": False}, "fix.lon", "must be a finite number"),
        ({"lat": "48.8", "lon": 0}, "fix.lat", "must be a finite number"),
        ({"lat": [1], "lon": 0}, "fix.lat", "must be a finite number"),
        ({"lon": 0}, "fix.lat", "missing"),
        ({"lat": 0}, "fix.lon", "missing"),
        ({"lat": 0, "lon": 0, "accuracy_m": -1}, "fix.accuracy_m", "must be >= 0"),
        ({"lat": 0, "lon": 0, "speed_mps": -0.1}, "fix.speed_mps", "must be >= 0"),
        ({"lat": 0, "lon": 0, "speed_mps": True}, "fix.speed_mps", "must be a finite number"),
        ({"lat": 0, "lon": 0, "heading_deg": 360.5}, "fix.heading_deg", "must be in [0, 360]"),
        ({"lat": 0, "lon": 0, "heading_deg": -1}, "fix.heading_deg", "must be in [0, 360]"),
        ({"lat": 0, "lon": 0, "battery_pct": 101}, "fix.battery_pct", "must be in [0, 100]"),
        ({"lat": 0, "lon": 0, "battery_pct": "full"}, "fix.battery_pct", "must be a finite number"),
        ({"lat": 0, "lon": 0, "source": "gps"}, "fix.source", "unknown fix source"),
        ({"lat": 0, "lon": 0, "source": 1}, "fix.source", "must be a string"),
        ("48.8,2.3", "fix", "must be an object"),
        ([48.8, 2.3], "fix", "must be an object"),
    ],
)
def test_bad_fix_field_refuses_the_fix(fix: object, field: str, reason: str) -> None:
    decoded = one([message(), message(fix=fix)])
    assert [index for index, _ in decoded.reports] == [0]
    assert decoded.errors == [InputError(1, f"messages[1].{field}", reason)]


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"at": "2025-06-15T11:59:58"}, "at", "needs a UTC offset"),
        ({"at": "2025-06-15"}, "at", "needs a UTC offset"),
        ({"at": "yesterday"}, "at", "must be an ISO-8601 date-time"),
        ({"at": "2025-06-15T11:59:58+25:00"}, "at", "must be an ISO-8601 date-time"),
        ({"at": "0001-01-01T00:00:00+01:00"}, "at", "date-time out of range"),
        ({"at": 1750000000}, "at", "must be a string"),
        ({"at": ...}, "at", "missing"),
        ({"device": ...}, "device", "missing"),
        ({"device": ""}, "device", "must be 1..64 printable characters"),
        ({"device": "x" * 65}, "device", "must be 1..64 printable characters"),
        ({"device": "a\x00b"}, "device", "must be 1..64 printable characters"),
        ({"device": "a\nb"}, "device", "must be 1..64 printable characters"),
        ({"device": 42}, "device", "must be a string"),
        ({"fix": ...}, "", "needs a fix or an event"),
    ],
)
def test_bad_message_field_refuses_the_message(overrides: dict[str, Any], field: str, reason: str) -> None:
    decoded = one([message(), message(**overrides)])
    assert [index for index, _ in decoded.reports] == [0]
    path = f"messages[1].{field}" if field else "messages[1]"
    assert decoded.errors == [InputError(1, path, reason)]


def test_device_id_of_64_characters_is_accepted() -> None:
    assert one(message(device="x" * 64)).errors == []


def test_non_object_messages_are_refused_in_place() -> None:
    decoded = one([1, message(), None, "m", [message()]])
    assert [index for index, _ in decoded.reports] == [1]
    assert decoded.errors == [InputError(i, f"messages[{i}]", "must be an object") for i in (0, 2, 3, 4)]


def test_batch_keeps_good_messages_with_their_indices() -> None:
    msgs = [
        message(),
        message(fix={"lat": 95, "lon": 0}),
        message(device="ankle-9", event="sos", fix=...),
        message(at="2025-06-15 11:59:58"),
        message(fix={"lat": 1, "lon": 2, "speed_mps": 3}),
    ]
    decoded = one({"messages": msgs})
    assert [index for index, _ in decoded.reports] == [0, 2, 4]
    assert decoded.errors == [
        InputError(1, "messages[1].fix.lat", "must be in [-90, 90]"),
        InputError(3, "messages[3].at", "needs a UTC offset"),
    ]


# --- alarms are never lost ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fix", "field"),
    [
        ({"lat": 1e3, "lon": 0}, "fix.lat"),
        ({"lat": 0}, "fix.lon"),
        ({"lat": True, "lon": 0}, "fix.lat"),
        ("somewhere", "fix"),
    ],
)
def test_alarm_with_bad_fix_is_kept_without_fix(fix: object, field: str) -> None:
    decoded = one([message(event="strap_cut", fix=fix)])
    assert decoded.reports == [(0, DeviceEvent("ankle-7", AT_UTC, EventKind.STRAP_CUT))]
    assert len(decoded.errors) == 1
    assert decoded.errors[0].index == 0
    assert decoded.errors[0].field == f"messages[0].{field}"


def test_alarm_without_fix_has_no_error() -> None:
    decoded = one(message(event="sos", fix=...))
    assert decoded.errors == []
    assert decoded.reports == [(0, DeviceEvent("ankle-7", AT_UTC, EventKind.SOS))]


@pytest.mark.parametrize("at", ["2025-06-15T11:59:58", "garbage", 5, ...])
def test_alarm_with_bad_time_is_kept_at_receive_time(at: object) -> None:
    decoded = one(message(event="sos", at=at))
    assert decoded.reports == [
        (0, DeviceEvent("ankle-7", RECEIVED, EventKind.SOS, fix=Fix("ankle-7", RECEIVED, 48.85, 2.35)))
    ]
    assert [error.field for error in decoded.errors] == ["messages[0].at"]


@pytest.mark.parametrize("detail", [{"a": 1}, ["a"], "a", {"a": "b\x00"}])
def test_alarm_with_bad_detail_is_kept_without_detail(detail: object) -> None:
    decoded = one(message(event="case_open", fix=..., detail=detail))
    assert decoded.reports == [(0, DeviceEvent("ankle-7", AT_UTC, EventKind.CASE_OPEN))]
    assert decoded.errors == [
        InputError(0, "messages[0].detail", "must be an object of strings without NUL characters")
    ]


def test_unknown_event_keeps_its_fix() -> None:
    decoded = one(message(event="geofence_enter"))
    assert decoded.reports == [(0, Fix("ankle-7", AT_UTC, 48.85, 2.35))]
    assert decoded.errors == [InputError(0, "messages[0].event", "unknown event kind")]


@pytest.mark.parametrize("fix", [..., {"lat": 100, "lon": 0}])
def test_unknown_event_without_usable_fix_is_refused(fix: object) -> None:
    decoded = one(message(event="SOS", fix=fix))
    assert decoded.reports == []
    assert decoded.errors == [InputError(0, "messages[0].event", "unknown event kind")]


def test_non_string_event_is_refused() -> None:
    decoded = one(message(event=3, fix=...))
    assert decoded.errors == [InputError(0, "messages[0].event", "must be a string")]


def test_naive_receive_time_is_taken_as_utc() -> None:
    decoded = decode(body(message(event="sos", at=...)), RECEIVED.replace(tzinfo=None))
    assert decoded.reports[0][1].time == RECEIVED
    assert decoded.reports[0][1].time.tzinfo is UTC


# --- properties -------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = ["device", "at", "fix", "event", "detail", "lat", "lon", "accuracy_m", "speed_mps", "heading_deg"]
KEYS += ["source", "battery_pct", "messages"]
near_values = st.sampled_from(
    ["ankle-7", AT, "2025-06-15T11:59:58", "sos", "gnss", "wifi", 0, 45.5, -200, 1e308, -0.0, 400, True, {}]
)
near_messages = st.recursive(
    near_values | json_values,
    lambda inner: st.dictionaries(st.sampled_from(KEYS), inner, max_size=6) | st.lists(inner, max_size=3),
    max_leaves=25,
)


def assert_sound(decoded: Decoded) -> None:
    assert isinstance(decoded, Decoded)
    for _, report in decoded.reports:
        fixes = [report] if isinstance(report, Fix) else [report.fix] if report.fix else []
        assert report.time.tzinfo is UTC
        for fix in fixes:
            assert math.isfinite(fix.lat) and -90 <= fix.lat <= 90
            assert math.isfinite(fix.lon) and -180 <= fix.lon <= 180
            assert fix.time.tzinfo is UTC


def assert_accounted(doc: object, decoded: Decoded) -> None:
    """Every message is either reported once or refused (with its index); body errors stand alone."""
    body_errors = [error for error in decoded.errors if error.index is None]
    if body_errors:
        assert decoded.reports == [] and decoded.errors == body_errors
        return
    if isinstance(doc, dict):
        doc = doc.get("messages", [doc])
    assert isinstance(doc, list)
    reported = [index for index, _ in decoded.reports]
    assert len(reported) == len(set(reported))
    refused = {error.index for error in decoded.errors} - set(reported)
    assert len(reported) + len(refused) == len(doc)
    assert set(reported) | refused == set(range(len(doc)))
    for error in decoded.errors:
        assert error.field.startswith(f"messages[{error.index}]")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert_sound(decode(raw, RECEIVED))


@pytest.mark.slow  # 300 generated documents
@settings(max_examples=300)
@given(near_messages | st.lists(near_messages, max_size=5))
def test_arbitrary_json_never_raises_and_accounts_for_every_message(doc: object) -> None:
    decoded = decode(json.dumps(doc).encode(), RECEIVED)
    assert_sound(decoded)
    assert_accounted(doc, decoded)


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets | st.just(UTC)
)
device_ids = st.text(min_size=1, max_size=64).filter(str.isprintable)


def optional(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    return st.none() | strategy


def bounded(low: float, high: float | None = None) -> st.SearchStrategy[float]:
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


fixes: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"lat": bounded(-90, 90), "lon": bounded(-180, 180)},
    optional={
        "accuracy_m": bounded(0),
        "speed_mps": bounded(0),
        "heading_deg": bounded(0, 360),
        "source": st.sampled_from([source.value for source in FixSource]),
        "battery_pct": bounded(0, 100),
    },
)


@st.composite
def valid_messages(draw: st.DrawFn) -> tuple[dict[str, Any], Fix | DeviceEvent]:
    device, at = draw(device_ids), draw(times)
    fix_doc = draw(st.none() | fixes)
    kind = draw(st.none() | st.sampled_from(list(EventKind))) if fix_doc else draw(st.sampled_from(EventKind))
    detail = draw(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3).filter(no_nul))
    doc: dict[str, Any] = {"device": device, "at": at.isoformat()}
    fix = None
    if fix_doc is not None:
        doc["fix"] = fix_doc
        fix = Fix(
            device,
            at.astimezone(UTC),
            lat=fix_doc["lat"],
            lon=fix_doc["lon"],
            accuracy_m=fix_doc.get("accuracy_m"),
            speed_mps=fix_doc.get("speed_mps"),
            heading_deg=fix_doc.get("heading_deg"),
            source=FixSource(fix_doc.get("source", "gnss")),
            battery_pct=fix_doc.get("battery_pct"),
        )
    if kind is None:
        assert fix is not None
        return doc, fix
    doc["event"], doc["detail"] = kind.value, detail
    return doc, DeviceEvent(device, at.astimezone(UTC), kind, fix=fix, detail=detail)


def no_nul(detail: dict[str, str]) -> bool:
    return not any("\x00" in key or "\x00" in value for key, value in detail.items())


@given(st.lists(valid_messages(), max_size=5))
def test_round_trip(pairs: list[tuple[dict[str, Any], Fix | DeviceEvent]]) -> None:
    decoded = decode(json.dumps({"messages": [doc for doc, _ in pairs]}).encode(), RECEIVED)
    assert decoded.errors == []
    assert decoded.reports == [(index, expected) for index, (_, expected) in enumerate(pairs)]
    assert_sound(decoded)


@pytest.mark.slow  # generated batches of up to eight messages
@given(st.lists(valid_messages() | near_messages, max_size=8))
def test_mixed_batches_account_for_every_message(items: list[Any]) -> None:
    docs = [item[0] if isinstance(item, tuple) else item for item in items]
    decoded = decode(json.dumps(docs).encode(), RECEIVED)
    assert_sound(decoded)
    assert_accounted(docs, decoded)
