from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.adapters.gt06 import (
    BAD_CRC,
    MAX_BEFORE_LOGIN,
    MAX_EXTENDED_LENGTH,
    MAX_FRAME,
    MAX_GARBAGE,
    Gt06Session,
    crc_x25,
    decode_imei,
    new_session,
)
from vigil.adapters.wire import CommandReply, Inbound, Outbound, ProtocolViolation
from vigil.domain.model import CommandKind, DeviceEvent, EventKind, Fix, FixSource, Report

RECEIVED = datetime(2026, 12, 6, 9, 0, 0, tzinfo=UTC)
DATA = Path(__file__).resolve().parents[1] / "data" / "devices"
FRAMES = DATA / "gt06_frames.txt"
VECTORS = DATA / "gt06_vectors.txt"
IMEI = "864717003283581"
LOGIN_HEX = "78780d01086471700328358100093f040d0a"  # the first real login, for IMEI
DEGREE = 1_800_000


# --- a small encoder of our own (bitwise CRC, independent of the module's table) ---------------------


def crc(data: bytes) -> int:
    value = 0xFFFF
    for byte in data:
        value ^= byte
        for _ in range(8):
            value = (value >> 1) ^ 0x8408 if value & 1 else value >> 1
    return value ^ 0xFFFF


def build(proto: int, content: bytes, serial: int = 1, *, extended: bool = False) -> bytes:
    length = 1 + len(content) + 4
    body = length.to_bytes(2 if extended else 1, "big") + bytes([proto]) + content + serial.to_bytes(2, "big")
    return (b"yy" if extended else b"xx") + body + crc(body).to_bytes(2, "big") + b"\r\n"


def login(imei: str, serial: int = 1) -> bytes:
    return build(0x01, bytes.fromhex(imei.rjust(16, "0")), serial)


def gps(
    at: datetime,
    lat: float,
    lon: float,
    *,
    speed_kmh: int = 0,
    course: int = 0,
    valid: bool = True,
    date: bytes | None = None,
) -> bytes:
    flags = course | (0x0400 if lat >= 0 else 0) | (0x0800 if lon < 0 else 0) | (0x1000 if valid else 0)
    when = date or bytes([at.year - 2000, at.month, at.day, at.hour, at.minute, at.second])
    return (
        when
        + b"\xc9"
        + round(abs(lat) * DEGREE).to_bytes(4, "big")
        + round(abs(lon) * DEGREE).to_bytes(4, "big")
        + bytes([speed_kmh])
        + flags.to_bytes(2, "big")
    )


CELL = bytes.fromhex("01cc00287d001f71")  # mcc 460, mnc 0, lac, cid: ignored by the codec


def position(block: bytes, proto: int = 0x12, serial: int = 1, *, extended: bool = False) -> bytes:
    return build(proto, block + CELL, serial, extended=extended)


def alarm(block: bytes, info: int, level: int, alarm_byte: int, proto: int = 0x16, serial: int = 1) -> bytes:
    return build(proto, block + b"\x09" + CELL + bytes([info, level, 4, alarm_byte, 2]), serial)


def heartbeat(info: int, level: int = 6, alarm_byte: int = 0, serial: int = 1) -> bytes:
    return build(0x13, bytes([info, level, 4, alarm_byte, 2]), serial)


def ack(proto: int, serial: int, *, extended: bool = False) -> bytes:
    return build(proto, b"", serial, extended=extended)


def with_status_bits(alarm_bits: int, *, charging: bool = False) -> int:
    return 0x40 | (alarm_bits << 3) | (0x04 if charging else 0)


# --- reading the vectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    raw: bytes
    facts: dict[str, Any]
    ack: bytes | None

    @property
    def proto(self) -> int:
        return self.raw[3]


def frame_lines() -> list[Line]:
    lines = []
    for text in FRAMES.read_text().splitlines():
        if not text.strip() or text.startswith("#"):
            continue
        hex_part, _, rest = text.partition("#")
        body = rest.split("]", 1)[1]
        facts_text, _, ack_text = body.partition(" ; ack=")
        lines.append(
            Line(
                bytes.fromhex(hex_part.strip()),
                json.loads(facts_text),
                bytes.fromhex(ack_text.strip()) if ack_text else None,
            )
        )
    return lines


def vectors() -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    lines = VECTORS.read_text().splitlines()
    for number, text in enumerate(lines):
        if text.startswith("[") and "]" in text and text[1:3].isdigit():
            hex_line = lines[number + 1].strip()
            if hex_line.startswith("hex:"):
                found[int(text[1:3])] = bytes.fromhex(hex_line.removeprefix("hex:").strip())
    return found


def logged_in(imei: str = IMEI) -> Gt06Session:
    session = Gt06Session()
    [inbound] = session.feed(login(imei), RECEIVED)
    assert inbound.identifier == imei
    return session


def one(session: Gt06Session, raw: bytes) -> Inbound:
    out = session.feed(raw, RECEIVED)
    assert len(out) == 1, out
    return out[0]


def only(inbound: Inbound) -> Report:
    assert inbound.error is None, inbound.error
    assert len(inbound.reports) == 1, inbound.reports
    return inbound.reports[0]


def as_fix(report: Report) -> Fix:
    assert isinstance(report, Fix), report
    return report


def as_event(report: Report) -> DeviceEvent:
    assert isinstance(report, DeviceEvent), report
    return report


def facts_time(facts: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(facts["time"].replace("Z", "+00:00"))


# --- the frames file ----------------------------------------------------------------------------------


def test_the_frames_file() -> None:
    lines = frame_lines()
    assert len(lines) == 24
    assert sum(1 for line in lines if not line.facts["crc_ok"]) == 1


def test_crc_x25() -> None:
    assert crc_x25(b"123456789") == 0x906E  # the catalogued check value of CRC-16/X-25
    assert crc_x25(bytes.fromhex("05010001")) == 0xD9DC
    assert crc(b"123456789") == 0x906E


@pytest.mark.parametrize("line", [line for line in frame_lines() if line.proto == 0x01], ids=str)
def test_real_logins(line: Line) -> None:
    inbound = one(Gt06Session(), line.raw)
    assert inbound == Inbound(identifier=line.facts["imei"], ack=line.ack)


@pytest.mark.parametrize(
    "line",
    [line for line in frame_lines() if line.proto in {0x10, 0x12, 0x22} and line.facts["crc_ok"]],
    ids=str,
)
def test_real_positions(line: Line) -> None:
    session = logged_in()
    inbound = one(session, line.raw)
    facts = line.facts
    assert inbound.ack == ack(line.proto, facts["serial"])
    report = only(inbound)
    if not facts["valid"]:
        assert report == DeviceEvent(IMEI, RECEIVED, EventKind.HEARTBEAT)
        return
    fix = as_fix(report)
    assert fix.device_id == IMEI
    assert fix.time == facts_time(facts)
    assert fix.lat == pytest.approx(facts["lat"], abs=1e-6)
    assert fix.lon == pytest.approx(facts["lon"], abs=1e-6)
    assert fix.speed_mps == pytest.approx(facts["speed_kmh"] / 3.6)
    assert fix.heading_deg == facts["course"]
    assert (fix.source, fix.accuracy_m, fix.battery_pct) == (FixSource.GNSS, None, None)


def test_the_one_position_traccar_asserts() -> None:
    raw = bytes.fromhex("78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a")
    fix = as_fix(only(one(logged_in(), raw)))
    assert fix.time == datetime(2015, 10, 20, 14, 21, 11, tzinfo=UTC)
    assert fix.lat == pytest.approx(54.94535, abs=1e-5)
    assert fix.lon == pytest.approx(24.01762, abs=1e-5)


def test_real_removal_alarm_carries_its_fix() -> None:
    [line] = [line for line in frame_lines() if line.facts.get("status_alarm") == "removing"]
    inbound = one(logged_in(), line.raw)
    assert inbound.ack == line.ack
    event = as_event(only(inbound))
    assert (event.kind, event.time) == (EventKind.REMOVAL, facts_time(line.facts))
    assert event.detail == {"alarm": "removing", "battery_pct": "85", "charging": "true", "gsm_signal": "3"}
    assert event.fix is not None
    assert event.fix.lat == pytest.approx(23.058384, abs=1e-6)
    assert event.fix.battery_pct == 85.0


@pytest.mark.parametrize(
    ("serial", "alarm_name"),
    [(8, None), (320, "overspeed"), (28, "vibration")],
)
def test_real_alarm_packets_that_are_not_ours_are_a_fix_and_a_heartbeat(
    serial: int, alarm_name: str | None
) -> None:
    [line] = [line for line in frame_lines() if line.proto == 0x16 and line.facts["serial"] == serial]
    session = logged_in()
    inbound = one(session, line.raw)
    assert (inbound.ack, inbound.error) == (line.ack, None)
    fix, event = inbound.reports
    assert as_fix(fix).lat == pytest.approx(line.facts["lat"], abs=1e-6)
    event = as_event(event)
    charging = line.facts["charging"]
    # the first charging status on a connection is the charging edge
    assert event.kind is (EventKind.CHARGING if charging else EventKind.HEARTBEAT)
    assert event.time == facts_time(line.facts)
    assert event.fix is None
    assert event.detail.get("alarm") == alarm_name
    assert event.detail["battery_pct"] == f"{round(line.facts['battery_level'] / 100 * 6) * 100 / 6:.0f}"


def test_real_heartbeats() -> None:
    first, second = [line for line in frame_lines() if line.proto == 0x13]
    session = logged_in()
    inbound = one(session, first.raw)
    assert inbound.ack == first.ack
    detail = {"battery_pct": "100", "charging": "true", "gsm_signal": "4"}
    assert only(inbound) == DeviceEvent(IMEI, RECEIVED, EventKind.CHARGING, detail=detail)
    inbound = one(session, second.raw)
    assert inbound.ack == second.ack
    assert only(inbound) == DeviceEvent(IMEI, RECEIVED, EventKind.HEARTBEAT, detail=detail)


def test_charging_is_an_edge() -> None:
    session = logged_in()
    kinds = [
        as_event(only(one(session, heartbeat(info)))).kind
        for info in (0x40, 0x44, 0x44, 0x40, 0x44)  # off, on, on, off, on
    ]
    H, C = EventKind.HEARTBEAT, EventKind.CHARGING  # noqa: N806
    assert kinds == [H, C, H, H, C]


def test_heartbeat_alarm_bits_are_a_state_not_an_alarm() -> None:
    inbound = one(logged_in(), heartbeat(with_status_bits(4), alarm_byte=0x01))
    event = as_event(only(inbound))
    assert event.kind is EventKind.HEARTBEAT
    assert event.detail["alarm_state"] == "sos"


def test_real_bad_crc_position_reports_nothing_and_is_not_acked() -> None:
    [line] = [line for line in frame_lines() if not line.facts["crc_ok"]]
    assert one(logged_in(), line.raw) == Inbound(error=BAD_CRC)


def test_bad_crc_alarm_keeps_its_alarm_without_the_position() -> None:
    [line] = [line for line in frame_lines() if line.facts.get("status_alarm") == "removing"]
    corrupt = line.raw[:-4] + bytes([line.raw[-4] ^ 0xFF]) + line.raw[-3:]
    inbound = one(logged_in(), corrupt)
    assert (inbound.error, inbound.ack) == (BAD_CRC, None)
    event = as_event(only(Inbound(reports=inbound.reports)))
    assert (event.kind, event.time, event.fix) == (EventKind.REMOVAL, RECEIVED, None)
    assert event.detail["alarm"] == "removing"


def test_bad_crc_in_the_content_of_an_alarm() -> None:
    raw = bytearray(alarm(gps(RECEIVED, 10, 20), with_status_bits(4), 6, 0x01))
    raw[10] ^= 0x01  # a latitude byte: the CRC no longer matches
    inbound = one(logged_in(), bytes(raw))
    assert inbound.error == BAD_CRC
    assert [as_event(r).kind for r in inbound.reports] == [EventKind.SOS]
    assert as_event(inbound.reports[0]).fix is None


# --- vectors with only an attribute asserted by Traccar ------------------------------------------------


def vector(number: int) -> Inbound:
    return one(logged_in(), vectors()[number])


def test_vectors_file_has_the_numbered_frames() -> None:
    assert sorted(vectors()) == list(range(1, 31))


@pytest.mark.parametrize(
    ("number", "kind", "name", "has_fix"),
    [
        (16, EventKind.POWER_OFF, "power_cut", True),  # status bits and alarm byte: one event
        (17, EventKind.REMOVAL, "removing", True),
        (18, EventKind.REMOVAL, "tampering", False),  # fix not valid
        (19, EventKind.REMOVAL, "tampering", False),  # 0x26
        (21, EventKind.REMOVAL, "tampering", True),  # 0xA4, status tail of 6
        (22, EventKind.SOS, "sos", True),  # 0x16 with a 4-byte cell id
        (23, EventKind.REMOVAL, "tampering", False),
        (24, EventKind.SOS, "sos", True),  # VXT01: status bits only
        (25, EventKind.REMOVAL, "tampering", False),  # 0xA5, no GPS
    ],
)
def test_vector_alarms(number: int, kind: EventKind, name: str, has_fix: bool) -> None:
    inbound = vector(number)
    event = as_event(only(inbound))
    assert (event.kind, event.detail["alarm"]) == (kind, name)
    assert (event.fix is not None) == has_fix
    if event.fix is None:
        assert event.time == RECEIVED
    else:
        assert event.time == event.fix.time
    assert inbound.ack is not None


def test_vector_battery_level_as_percent() -> None:
    assert as_event(only(vector(23))).detail["battery_pct"] == "93"


def test_vector_vxt01_has_no_battery_level() -> None:
    assert "battery_pct" not in as_event(only(vector(24))).detail


@pytest.mark.parametrize(("number", "kind"), [(20, EventKind.BATTERY_LOW), (26, EventKind.BATTERY_LOW)])
def test_vector_alarms_whose_crc_fails_are_still_alarms(number: int, kind: EventKind) -> None:
    inbound = vector(number)  # 0x27 and 0x19 frames whose CRC does not match
    assert (inbound.error, inbound.ack) == (BAD_CRC, None)
    assert [(as_event(r).kind, as_event(r).fix) for r in inbound.reports] == [(kind, None)]


def test_vector_invalid_null_island_is_no_fix() -> None:
    assert only(vector(14)) == DeviceEvent(IMEI, RECEIVED, EventKind.HEARTBEAT)


def test_vector_gps_lbs_with_two_byte_mnc() -> None:
    assert as_fix(only(vector(9))).lon == pytest.approx(-79.263956, abs=1e-6)


def test_vector_unsupported_type_is_acked_with_its_error() -> None:
    inbound = vector(29)
    assert inbound.reports == ()
    assert inbound.ack == ack(0x95, 1)
    assert inbound.error is not None and "0x95" in inbound.error


def test_vector_extended_string_info_is_a_command_reply() -> None:
    inbound = vector(30)
    assert inbound.ack is None
    assert inbound.command_reply is not None
    assert inbound.command_reply.ref == 0
    assert inbound.command_reply.text.startswith("Current position!Lat:N54.739332,Lon:E25.273270")


# --- frames built afresh: current times, other IMEIs ----------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)
OTHER_IMEI = "356307042441013"


def test_built_login_and_position_now() -> None:
    session = Gt06Session()
    assert one(session, login(OTHER_IMEI, serial=7)) == Inbound(identifier=OTHER_IMEI, ack=ack(0x01, 7))
    inbound = one(session, position(gps(NOW, -33.4489, -70.6693, speed_kmh=36, course=270), serial=8))
    assert inbound.ack == ack(0x12, 8)
    fix = as_fix(only(inbound))
    assert fix == Fix(
        OTHER_IMEI,
        NOW,
        pytest.approx(-33.4489, abs=1e-6),  # type: ignore[arg-type]
        pytest.approx(-70.6693, abs=1e-6),  # type: ignore[arg-type]
        speed_mps=pytest.approx(10.0),  # type: ignore[arg-type]
        heading_deg=270.0,
    )


def test_imei_digits() -> None:
    assert decode_imei(bytes.fromhex("0864717003283581")) == IMEI
    assert decode_imei(bytes.fromhex("1864717003283581")) == "1864717003283581"
    assert decode_imei(bytes.fromhex("08647170032835a1")) is None


def test_login_that_is_not_bcd_is_refused() -> None:
    inbound = one(Gt06Session(), build(0x01, bytes.fromhex("0864717003283f81")))
    assert (inbound.identifier, inbound.ack) == (None, None)
    assert inbound.error is not None


def test_login_with_bad_crc_is_refused() -> None:
    raw = bytearray(login(IMEI))
    raw[-3] ^= 1
    assert one(Gt06Session(), bytes(raw)) == Inbound(error=BAD_CRC)


def test_login_again_same_imei_is_fine_another_is_a_violation() -> None:
    session = logged_in()
    assert one(session, login(IMEI, serial=2)).identifier == IMEI
    with pytest.raises(ProtocolViolation):
        session.feed(login(OTHER_IMEI), RECEIVED)


def test_frames_before_login_are_refused_then_the_connection() -> None:
    session = Gt06Session()
    frame = alarm(gps(NOW, 1, 2), with_status_bits(4), 6, 0x01)
    for _ in range(MAX_BEFORE_LOGIN):
        inbound = one(session, frame)
        assert (inbound.reports, inbound.ack, inbound.identifier) == ((), None, None)
        assert inbound.error is not None and "before login" in inbound.error
    with pytest.raises(ProtocolViolation):
        session.feed(frame, RECEIVED)


@pytest.mark.parametrize(
    ("bits", "alarm_byte", "kinds"),
    [
        (4, 0x00, [EventKind.SOS]),
        (0, 0x01, [EventKind.SOS]),
        (2, 0x02, [EventKind.POWER_OFF]),
        (0, 0x11, [EventKind.POWER_OFF]),
        (3, 0x00, [EventKind.BATTERY_LOW]),
        (0, 0x0E, [EventKind.BATTERY_LOW]),
        (0, 0x19, [EventKind.BATTERY_LOW]),
        (7, 0x00, [EventKind.REMOVAL]),
        (0, 0x18, [EventKind.REMOVAL]),
        (0, 0x13, [EventKind.REMOVAL]),
        (4, 0x0F, [EventKind.SOS, EventKind.BATTERY_LOW]),  # both named: both reported
    ],
)
def test_built_alarms(bits: int, alarm_byte: int, kinds: list[EventKind]) -> None:
    block = gps(NOW, 48.1351, 11.582, speed_kmh=5, course=90)
    inbound = one(logged_in(OTHER_IMEI), alarm(block, with_status_bits(bits), 3, alarm_byte, serial=42))
    assert (inbound.error, inbound.ack) == (None, ack(0x16, 42))
    events = [as_event(report) for report in inbound.reports]
    assert [event.kind for event in events] == kinds
    for event in events:
        assert event.time == NOW
        assert event.fix is not None
        assert event.fix.lat == pytest.approx(48.1351, abs=1e-6)
        assert event.fix.battery_pct == 50.0
        assert event.detail["battery_pct"] == "50"


@pytest.mark.parametrize(
    ("bits", "alarm_byte", "name"), [(1, 0, "vibration"), (6, 0x05, "geofence,geofence_exit")]
)
def test_built_alarms_not_ours(bits: int, alarm_byte: int, name: str) -> None:
    inbound = one(logged_in(), alarm(gps(NOW, 1, 2), with_status_bits(bits), 6, alarm_byte))
    fix, event = inbound.reports
    assert as_fix(fix).battery_pct == 100.0
    assert as_event(event).detail["alarm"] == name
    assert as_event(event).kind is EventKind.HEARTBEAT


def test_alarm_without_valid_fix_is_at_receipt_time() -> None:
    inbound = one(
        logged_in(), alarm(gps(NOW - timedelta(days=3), 1, 2, valid=False), with_status_bits(4), 6, 1)
    )
    assert only(inbound) == DeviceEvent(
        IMEI,
        RECEIVED,
        EventKind.SOS,
        detail={"alarm": "sos", "battery_pct": "100", "charging": "false", "gsm_signal": "4"},
    )


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        (gps(NOW, 1, 2, date=bytes([24, 13, 1, 0, 0, 0])), "GPS time is not a date"),
        (gps(NOW, 0, 0), "position (0, 0)"),
        (gps(NOW, 91, 2), "latitude out of range"),
        (gps(NOW, 1, 181), "longitude out of range"),
    ],
    ids=["bad date", "null island", "latitude", "longitude"],  # not the bytes: they hold the time
)
def test_unusable_fix(block: bytes, problem: str) -> None:
    inbound = one(logged_in(), position(block))
    assert inbound.error == problem
    assert inbound.reports == (DeviceEvent(IMEI, RECEIVED, EventKind.HEARTBEAT),)
    inbound = one(logged_in(), alarm(block, with_status_bits(4), 6, 0))
    assert inbound.error == problem
    assert [(as_event(r).kind, as_event(r).time, as_event(r).fix) for r in inbound.reports] == [
        (EventKind.SOS, RECEIVED, None)
    ]


def test_course_out_of_range_drops_only_the_heading() -> None:
    inbound = one(logged_in(), position(gps(NOW, 1, 2, course=700)))
    assert inbound.error == "course out of range"
    fix = as_fix(inbound.reports[0])
    assert fix.heading_deg is None
    assert fix.lat == pytest.approx(1.0)


@pytest.mark.parametrize("proto", [0x10, 0x11, 0x12, 0x22, 0x1A, 0x2D, 0x31, 0x37, 0xA0])
def test_position_types(proto: int) -> None:
    inbound = one(logged_in(), build(proto, gps(NOW, 52.52, 13.405) + CELL, 3))
    assert inbound.ack == ack(proto, 3)
    assert as_fix(only(inbound)).lat == pytest.approx(52.52, abs=1e-6)


def test_position_too_short_is_acked_with_its_error() -> None:
    inbound = one(logged_in(), build(0x12, b"\x01\x02"))
    assert (inbound.reports, inbound.ack) == ((), ack(0x12, 1))
    assert inbound.error is not None


def test_extended_form_is_acked_in_the_extended_form() -> None:
    inbound = one(logged_in(), position(gps(NOW, 1, 2), serial=9, extended=True))
    assert inbound.ack == ack(0x12, 9, extended=True)
    assert inbound.ack.startswith(bytes.fromhex("79790005"))
    assert as_fix(only(inbound)).lat == pytest.approx(1.0)


def test_other_heartbeat_layouts_are_alive_with_the_charging_bit() -> None:
    session = logged_in()
    inbound = one(session, build(0x23, bytes.fromhex("44019a04 0002".replace(" ", ""))))  # GK310: volts u16
    assert inbound.error is None
    assert only(inbound) == DeviceEvent(IMEI, RECEIVED, EventKind.CHARGING, detail={"charging": "true"})
    inbound = one(session, build(0x13, bytes(22)))  # a 22-byte 0x13 variant we do not read
    assert inbound.error == "protocol 0x13: unrecognised layout"
    assert inbound.ack == ack(0x13, 1)
    assert as_event(inbound.reports[0]).kind is EventKind.HEARTBEAT


def test_alarm_type_without_its_status_block() -> None:
    session = logged_in()
    for raw in (build(0x16, gps(NOW, 1, 2)), build(0x19, bytes(20))):  # too short; 0x19 multi-cell list
        inbound = one(session, raw)
        assert (inbound.reports, inbound.ack) == ((), ack(raw[3], 1))
        assert inbound.error is not None


def test_command_reply_too_short() -> None:
    for raw in (build(0x15, b"\x09\x00\x00"), build(0x15, b"\x02ab"), build(0x21, b"\x00\x00")):
        inbound = one(logged_in(), raw)
        assert (inbound.command_reply, inbound.ack) == (None, None)
        assert inbound.error is not None


def test_time_request_when_the_time_cannot_be_said() -> None:
    inbound = logged_in().feed(build(0x8A, b""), datetime(1999, 12, 31, tzinfo=UTC))[0]
    assert (inbound.ack, inbound.error) == (None, "receipt time cannot be said in a GT06 time reply")


def test_new_session_is_fresh() -> None:
    session = new_session()
    assert isinstance(session, Gt06Session)
    assert session.identifier is None


def test_command_reply_0x15() -> None:
    text = b"GPS:SLEEP,TIMER:15,15"
    raw = build(0x15, bytes([4 + len(text)]) + (77).to_bytes(4, "big") + text + b"\x00\x02", 5)
    assert one(logged_in(), raw) == Inbound(command_reply=CommandReply(77, text.decode()))


def test_command_reply_0x21_utf16() -> None:
    raw = build(0x21, (2**32 - 1).to_bytes(4, "big") + b"\x02" + "OK!".encode("utf-16-be"), 5, extended=True)
    assert one(logged_in(), raw) == Inbound(command_reply=CommandReply(2**32 - 1, "OK!"))


def test_time_request_is_answered_with_receipt_time() -> None:
    inbound = one(logged_in(), build(0x8A, b"", 12))
    assert inbound.reports == ()
    assert inbound.ack == build(0x8A, bytes([26, 12, 6, 9, 0, 0]), 12)


# --- commands ----------------------------------------------------------------------------------------------


def parse_command(raw: bytes) -> tuple[int, str, int]:
    assert raw[:2] == b"xx" and raw[-2:] == b"\r\n"
    assert raw[2] == len(raw) - 5
    assert crc(raw[2:-4]) == int.from_bytes(raw[-4:-2], "big")
    assert raw[3] == 0x80
    length = raw[4]
    assert length == len(raw) - 15 + 4
    return (
        int.from_bytes(raw[5:9], "big"),
        raw[9 : 5 + length].decode("ascii"),
        int.from_bytes(raw[-6:-4], "big"),
    )


def test_commands() -> None:
    session = logged_in()
    first = session.encode(Outbound(CommandKind.SET_INTERVAL, {"seconds": "15"}, ref=1234))
    second = session.encode(Outbound(CommandKind.LOCATE, {}, ref=2**32 - 1))
    assert first is not None and second is not None
    assert parse_command(first) == (1234, "TIMER,15,15#", 1)
    assert parse_command(second) == (2**32 - 1, "WHERE#", 2)


@pytest.mark.parametrize("kind", [CommandKind.VIBRATE, CommandKind.ALARM, CommandKind.MESSAGE])
def test_commands_gt06_cannot_say(kind: CommandKind) -> None:
    assert logged_in().encode(Outbound(kind, {"text": "call"}, ref=1)) is None


@pytest.mark.parametrize(
    ("params", "ref"),
    [
        ({}, 1),
        ({"seconds": "0"}, 1),
        ({"seconds": "1.5"}, 1),
        ({"seconds": "٣"}, 1),
        ({"seconds": "5"}, 2**32),
    ],
)
def test_command_caller_mistakes(params: dict[str, str], ref: int) -> None:
    with pytest.raises(ValueError):
        Gt06Session().encode(Outbound(CommandKind.SET_INTERVAL, params, ref=ref))


# --- framing ------------------------------------------------------------------------------------------------


def test_garbage_before_a_frame_is_skipped_and_counted() -> None:
    session = logged_in()
    out = session.feed(b"\x00GET / HTTP/1.1\r\n" + heartbeat(0x40), RECEIVED)
    assert len(out) == 2
    assert out[0].error is not None and out[0].reports == ()
    assert as_event(only(out[1])).kind is EventKind.HEARTBEAT


def test_length_not_ending_in_0d0a_resynchronises() -> None:
    session = logged_in()
    bad = bytearray(heartbeat(0x40))
    bad[2] += 1  # LEN one too long: the frame "ends" one byte late
    out = session.feed(bytes(bad) + b"\x00" + heartbeat(0x40, serial=2), RECEIVED)
    assert [inbound.ack for inbound in out if inbound.ack] == [ack(0x13, 2)]
    assert all(inbound.error for inbound in out if not inbound.ack)


def test_stray_marker_does_not_swallow_the_frame_inside_it() -> None:
    frame = heartbeat(0x40)
    # "xx" + a LEN that ends exactly on the heartbeat's own 0D0A
    out = logged_in().feed(b"xx" + bytes([len(frame) - 2]) + frame, RECEIVED)
    assert out[-1].ack == ack(0x13, 1)
    assert as_event(only(out[-1])).kind is EventKind.HEARTBEAT


def test_stray_marker_does_not_delay_the_frame_behind_it() -> None:
    session = logged_in()
    out = session.feed(b"xx\xf0garbage" + alarm(gps(NOW, 1, 2), with_status_bits(4), 6, 1), RECEIVED)
    assert [as_event(r).kind for inbound in out for r in inbound.reports] == [EventKind.SOS]


def test_partial_frame_waits() -> None:
    session = logged_in()
    frame = heartbeat(0x40)
    assert session.feed(frame[:5], RECEIVED) == []
    assert as_event(only(one(session, frame[5:]))).kind is EventKind.HEARTBEAT


def test_too_much_garbage_is_a_violation() -> None:
    session = logged_in()
    with pytest.raises(ProtocolViolation):
        session.feed(b"\x00" * (MAX_GARBAGE + 1), RECEIVED)


def test_frames_before_garbage_are_returned_first() -> None:
    session = logged_in()
    out = session.feed(
        alarm(gps(NOW, 1, 2), with_status_bits(4), 6, 1) + b"\x00" * (MAX_GARBAGE + 1), RECEIVED
    )
    assert as_event(out[0].reports[0]).kind is EventKind.SOS
    with pytest.raises(ProtocolViolation):
        session.feed(heartbeat(0x40), RECEIVED)


def test_extended_length_past_the_limit_is_a_violation() -> None:
    with pytest.raises(ProtocolViolation):
        logged_in().feed(b"yy" + (MAX_EXTENDED_LENGTH + 1).to_bytes(2, "big"), RECEIVED)


def test_length_below_five_is_skipped() -> None:
    out = logged_in().feed(b"xx\x02\x13\x00\x00\x0d\x0a" + heartbeat(0x40), RECEIVED)
    assert out[-1].ack == ack(0x13, 1)
    assert all(inbound.error for inbound in out[:-1])


def stream() -> tuple[bytes, list[Inbound]]:
    """A login and every real non-login frame, and what they decode to in one piece."""
    raw = bytes.fromhex(LOGIN_HEX) + b"".join(line.raw for line in frame_lines() if line.proto != 0x01)
    return raw, Gt06Session().feed(raw, RECEIVED)


def test_stream_at_every_split() -> None:
    raw, whole = stream()
    assert len(whole) == 21
    for cut in range(len(raw) + 1):
        session = Gt06Session()
        assert session.feed(raw[:cut], RECEIVED) + session.feed(raw[cut:], RECEIVED) == whole


def test_stream_byte_by_byte() -> None:
    raw, whole = stream()
    session = Gt06Session()
    assert [inbound for byte in raw for inbound in session.feed(bytes([byte]), RECEIVED)] == whole


# --- properties ------------------------------------------------------------------------------------------------


def feed_safely(session: Gt06Session, chunks: list[bytes]) -> list[Inbound]:
    out: list[Inbound] = []
    try:
        for chunk in chunks:
            out += session.feed(chunk, RECEIVED)
            assert len(session._buffer) <= MAX_FRAME
    except ProtocolViolation:
        pass
    return out


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes_only_raise_violations(chunks: list[bytes]) -> None:
    feed_safely(Gt06Session(), chunks)
    feed_safely(logged_in(), chunks)


FRAGMENTS = [login(IMEI), heartbeat(0x44), alarm(gps(NOW, 1, 2), 0x60, 6, 1), position(gps(NOW, 3, 4))]
FRAGMENTS += [b"xx", b"yy", b"\r\n", b"xx\xff", b"yy\x07\xff", b"\x00"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=40), max_size=12))
def test_mixed_frames_and_garbage(chunks: list[bytes]) -> None:
    for inbound in feed_safely(Gt06Session(), chunks):
        for report in inbound.reports:
            assert report.device_id == IMEI
            assert report.time.tzinfo is UTC


@settings(max_examples=200)
@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)),
    st.floats(-90, 90).filter(lambda v: abs(v) > 1e-6),
    st.floats(-180, 180),
    st.integers(0, 255),
    st.integers(0, 360),
    st.integers(0, 0xFFFF),
)
def test_position_round_trip(
    at: datetime, lat: float, lon: float, speed: int, course: int, serial: int
) -> None:
    at = at.replace(microsecond=0)
    inbound = one(logged_in(), position(gps(at, lat, lon, speed_kmh=speed, course=course), serial=serial))
    assert inbound.ack == ack(0x12, serial)
    fix = as_fix(only(inbound))
    assert fix.time == at
    assert fix.lat == pytest.approx(lat, abs=1e-6)
    assert fix.lon == pytest.approx(lon, abs=1e-6)
    assert fix.speed_mps == pytest.approx(speed / 3.6)
    assert fix.heading_deg == course


@given(st.integers(0, 2**32 - 1), st.integers(1, 999_999))
def test_command_round_trip(ref: int, seconds: int) -> None:
    raw = Gt06Session().encode(Outbound(CommandKind.SET_INTERVAL, {"seconds": str(seconds)}, ref=ref))
    assert raw is not None
    assert parse_command(raw) == (ref, f"TIMER,{seconds},{seconds}#", 1)
