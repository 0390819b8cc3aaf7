from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.adapters.teltonika import (
    BAD_CRC,
    CODEC_8,
    CODEC_8E,
    CODEC_12,
    CODEC_13,
    CODEC_16,
    IO_ALARM,
    IO_BATTERY_PCT,
    IO_HDOP,
    IO_TAT240_TAMPER,
    IO_UNPLUG,
    MAX_DATA_LENGTH,
    MAX_FRAME,
    AvlRecord,
    TeltonikaSession,
    command_packet,
    crc16_ibm,
    frame,
)
from vigil.adapters.wire import CommandReply, Inbound, Outbound, ProtocolViolation, Session
from vigil.domain.model import CommandKind, DeviceEvent, EventKind, Fix, Report

RECEIVED = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC)
VECTORS = Path(__file__).resolve().parents[1] / "data" / "devices" / "teltonika_frames.txt"
VECTOR_IMEI = "123456789012345"
IMEI = "356307042441013"


# --- the vectors file ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    raw: bytes
    traccar: str | None  # Traccar's assertion, e.g. "verifyPositions"; None for frames built elsewhere
    expected: dict[str, Any] | None
    ack: bytes | None


def vectors() -> list[Vector]:
    out = []
    for line in VECTORS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        hex_part, _, comment = line.partition("#")
        match = re.match(r"\s*\[traccar: ([^\]]+)\]\s*(\{.*\})(?:\s*;\s*ack=([0-9a-f]+))?\s*$", comment)
        if match is None:
            out.append(Vector(bytes.fromhex(hex_part.strip()), None, None, None))
            continue
        ack = None if match.group(3) is None else bytes.fromhex(match.group(3))
        out.append(Vector(bytes.fromhex(hex_part.strip()), match.group(1), json.loads(match.group(2)), ack))
    return out


VECTOR_LIST = vectors()
HANDSHAKE = VECTOR_LIST[0].raw
PACKETS = VECTOR_LIST[1:]
AVL = [v for v in PACKETS if v.expected is not None and "recs" in v.expected]
RESPONSES = [v for v in PACKETS if v.expected is not None and v.expected.get("msg_type") == "response"]


def session_after_handshake() -> TeltonikaSession:
    session = TeltonikaSession()
    [inbound] = session.feed(HANDSHAKE, RECEIVED)
    assert inbound.identifier == VECTOR_IMEI
    return session


def one(session: TeltonikaSession, raw: bytes) -> Inbound:
    [inbound] = session.feed(raw, RECEIVED)
    return inbound


def recs(vector: Vector) -> list[dict[str, Any]]:
    assert vector.expected is not None
    records: list[dict[str, Any]] = vector.expected["recs"]
    return records


def avl_starting_at(time: str) -> Vector:
    return next(v for v in AVL if recs(v)[0]["time"] == time)


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_vectors_file_has_its_frames() -> None:
    assert len(VECTOR_LIST) == 32
    assert len(AVL) == 26
    assert len(RESPONSES) == 3


def test_it_is_a_session() -> None:
    session: Session = TeltonikaSession()
    assert session.feed(b"", RECEIVED) == []


def test_handshake() -> None:
    session = TeltonikaSession()
    assert session.feed(HANDSHAKE, RECEIVED) == [
        Inbound(identifier=VECTOR_IMEI, ack=b"\x01", refusal=b"\x00")
    ]
    assert session.identifier == VECTOR_IMEI
    assert VECTOR_LIST[0].expected == {"msg": "imei handshake", "imei": VECTOR_IMEI, "server_reply": "01"}


# The only alarm records in the vectors: IO 236 (alarm) = 1 and IO 252 (unplug) = 1 as event IO.
VECTOR_ALARMS = {IO_ALARM: EventKind.SOS, IO_UNPLUG: EventKind.POWER_OFF}


@pytest.mark.parametrize("vector", AVL, ids=lambda v: v.raw[8:12].hex() + "-" + v.raw[-4:].hex())
def test_published_avl_packets(vector: Vector) -> None:
    inbound = one(session_after_handshake(), vector.raw)
    assert inbound.ack == vector.ack == len(recs(vector)).to_bytes(4, "big")
    assert inbound.error is None
    # Traccar's verifyPositions / verifyAttribute: the packet decodes to positions. The attributes
    # Traccar checks (BLE tag voltage, EYE temperature) are not kept here; the positions are.
    assert vector.traccar is not None and vector.traccar.startswith(("verifyPositions", "verifyAttribute"))
    reports = list(inbound.reports)
    for report, rec in zip(reports, recs(vector), strict=True):  # one report per record
        assert report.device_id == VECTOR_IMEI
        assert report.time == iso(rec["time"])
        alarm = VECTOR_ALARMS.get(rec["event_io"])
        if isinstance(report, DeviceEvent):
            assert report.kind is (EventKind.HEARTBEAT if alarm is None else alarm)
            fix = report.fix
        else:
            assert alarm is None
            fix = report
        if not rec["valid"]:
            assert fix is None
            continue
        assert fix is not None, rec
        assert fix.lat == pytest.approx(rec["lat"], abs=1e-9)
        assert fix.lon == pytest.approx(rec["lon"], abs=1e-9)
        assert fix.speed_mps == pytest.approx(rec["speed_kmh"] / 3.6)
        assert fix.heading_deg == rec["angle"]
        io = rec["io_selected"]
        battery = io.get("batteryLevel_pct")  # one old FM device sends 29525 on IO 113: unknown
        assert fix.battery_pct == (battery if battery is not None and battery <= 100 else None)
        hdop = io.get("hdop_x10")
        assert fix.accuracy_m == (hdop * 0.5 if hdop else None)


def test_published_frames_carry_real_alarms() -> None:
    # Record 3 of the four-record 8E packet was generated by IO 252 (unplug) = 1: a power cut.
    four = next(v for v in AVL if len(recs(v)) == 4 and v.raw[8] == CODEC_8E)
    reports = one(session_after_handshake(), four.raw).reports
    assert isinstance(reports[2], DeviceEvent)
    assert reports[2].kind is EventKind.POWER_OFF
    assert reports[2].detail == {"io": "252", "value": "1"}
    assert reports[2].fix is not None and reports[2].fix.lat == pytest.approx(-33.7335583)
    # The 2021 8E packet's first record was generated by IO 236 (alarm) = 1, without a fix.
    alarm = avl_starting_at("2021-05-10T08:19:55.000Z")
    first = one(session_after_handshake(), alarm.raw).reports[0]
    assert first == DeviceEvent(
        VECTOR_IMEI, iso("2021-05-10T08:19:55Z"), EventKind.SOS, detail={"io": "236", "value": "1"}
    )


def test_published_fix_in_full() -> None:
    vector = avl_starting_at("2017-09-25T03:17:54.000Z")
    [fix] = one(session_after_handshake(), vector.raw).reports
    assert fix == Fix(
        VECTOR_IMEI,
        datetime(2017, 9, 25, 3, 17, 54, tzinfo=UTC),
        56.8255366,
        60.4544333,
        accuracy_m=3.0,
        speed_mps=95 / 3.6,
        heading_deg=95.0,
    )


@pytest.mark.parametrize("vector", RESPONSES, ids=lambda v: v.raw[-4:].hex())
def test_published_command_responses(vector: Vector) -> None:
    assert vector.expected is not None
    inbound = one(session_after_handshake(), vector.raw)
    # Traccar: a position with no location check; here the response, not acknowledged
    assert inbound == Inbound(command_reply=CommandReply(None, vector.expected["text"].strip()))


def test_published_codec12_camera_packet_is_not_a_reply() -> None:
    [camera] = [v for v in PACKETS if v.expected is not None and v.expected.get("msg_type") == 13]
    assert camera.traccar == "verifyNull"
    inbound = one(session_after_handshake(), camera.raw)
    assert inbound.reports == () and inbound.command_reply is None and inbound.ack is None
    assert inbound.error == "codec 0x0C message type 0x0D not handled"


def test_built_getinfo_command_matches_the_vector() -> None:
    built = VECTOR_LIST[-1]
    assert built.traccar is None
    assert command_packet("getinfo") == built.raw
    assert crc16_ibm(built.raw[8:-4]) == 0x4312


def test_every_published_crc_checks() -> None:
    for vector in PACKETS:
        assert crc16_ibm(vector.raw[8:-4]) == int.from_bytes(vector.raw[-4:], "big")


# --- feeding in pieces ----------------------------------------------------------------------------------

STREAM = HANDSHAKE + b"".join(v.raw for v in PACKETS)


def feed_all(pieces: list[bytes]) -> list[Inbound]:
    session = TeltonikaSession()
    out: list[Inbound] = []
    for piece in pieces:
        out.extend(session.feed(piece, RECEIVED))
    assert session.buffered == 0
    return out


WHOLE = feed_all([STREAM])


def test_the_whole_stream_at_once() -> None:
    assert len(WHOLE) == 1 + len(PACKETS)


def test_byte_by_byte() -> None:
    assert feed_all([bytes([b]) for b in STREAM]) == WHOLE


@pytest.mark.parametrize("vector", [PACKETS[0], PACKETS[5], RESPONSES[0]], ids=["8E", "8E-4", "codec12"])
def test_split_at_every_boundary(vector: Vector) -> None:
    raw = HANDSHAKE + vector.raw
    expected = feed_all([raw])
    for cut in range(1, len(raw)):
        assert feed_all([raw[:cut], raw[cut:]]) == expected


def test_pings_between_packets_are_skipped() -> None:
    session = session_after_handshake()
    assert session.feed(b"\xff\xff", RECEIVED) == []
    assert len(session.feed(b"\xff" + PACKETS[0].raw + b"\xff", RECEIVED)) == 1


# --- a small encoder for fresh frames -----------------------------------------------------------------

IO_SIZES = {
    IO_BATTERY_PCT: 1,
    IO_HDOP: 2,
    IO_ALARM: 1,
    IO_UNPLUG: 1,
    IO_TAT240_TAMPER: 2,
    239: 1,
    16: 4,
    11: 8,
}


def handshake(imei: str = IMEI) -> bytes:
    return len(imei).to_bytes(2, "big") + imei.encode()


def encode_record(codec: int, record: AvlRecord) -> bytes:
    wide = codec in (CODEC_8E, CODEC_16)
    ident = 2 if wide else 1
    count = 2 if codec == CODEC_8E else 1
    out = record.timestamp_ms.to_bytes(8, "big") + bytes([record.priority])
    out += record.lon_e7.to_bytes(4, "big", signed=True) + record.lat_e7.to_bytes(4, "big", signed=True)
    out += record.altitude_m.to_bytes(2, "big", signed=True) + record.angle.to_bytes(2, "big")
    out += bytes([record.satellites]) + record.speed_kmh.to_bytes(2, "big")
    out += record.event_io.to_bytes(ident, "big")
    if codec == CODEC_16:
        out += b"\x00"  # generation type
    out += len(record.io).to_bytes(count, "big")
    for size in (1, 2, 4, 8):
        group = {k: v for k, v in record.io.items() if IO_SIZES.get(k, 4) == size}
        out += len(group).to_bytes(count, "big")
        for key, value in group.items():
            out += key.to_bytes(ident, "big") + value.to_bytes(size, "big")
    if codec == CODEC_8E:
        out += len(record.io_variable).to_bytes(2, "big")
        for key, blob in record.io_variable.items():
            out += key.to_bytes(2, "big") + len(blob).to_bytes(2, "big") + blob
    return out


def avl_data(codec: int, records: list[AvlRecord], n2: int | None = None) -> bytes:
    body = b"".join(encode_record(codec, r) for r in records)
    return bytes([codec, len(records)]) + body + bytes([len(records) if n2 is None else n2])


def avl_packet(codec: int, records: list[AvlRecord], n2: int | None = None) -> bytes:
    return frame(avl_data(codec, records, n2))


def bad_crc(packet: bytes) -> bytes:
    return packet[:-2] + bytes([packet[-2] ^ 0xFF, packet[-1]])


NOW = datetime.now(UTC).replace(microsecond=123000)


def record(**changes: Any) -> AvlRecord:
    base = AvlRecord(
        timestamp_ms=int(NOW.timestamp() * 1000),
        priority=0,
        lon_e7=126_9780000,
        lat_e7=37_5665000,
        altitude_m=38,
        angle=270,
        satellites=9,
        speed_kmh=36,
        event_io=0,
        io={},
        io_variable={},
    )
    return replace(base, **changes)


def decode(packet: bytes, imei: str = IMEI) -> Inbound:
    session = TeltonikaSession()
    [accepted, inbound] = session.feed(handshake(imei) + packet, RECEIVED)
    assert accepted.identifier == imei
    return inbound


SEOUL = Fix(IMEI, NOW, 37.5665, 126.978, speed_mps=10.0, heading_deg=270.0)


@pytest.mark.parametrize("codec", [CODEC_8, CODEC_8E, CODEC_16])
def test_fresh_fix(codec: int) -> None:
    inbound = decode(
        avl_packet(codec, [record(io={IO_BATTERY_PCT: 64, IO_HDOP: 9, 239: 1, 16: 7, 11: 2**63})])
    )
    assert inbound == Inbound(
        reports=(replace(SEOUL, battery_pct=64.0, accuracy_m=4.5),), ack=b"\x00\x00\x00\x01"
    )


def test_variable_length_elements_are_skipped() -> None:
    blob = {385: bytes(range(40)), 256: b"VIN0123456789"}
    assert decode(avl_packet(CODEC_8E, [record(io_variable=blob)])).reports == (SEOUL,)


def test_no_satellites_or_zero_position_is_a_heartbeat() -> None:
    records = [record(satellites=0), record(lat_e7=0, lon_e7=0), record(satellites=0, lat_e7=0, lon_e7=0)]
    inbound = decode(avl_packet(CODEC_8, records))
    assert inbound.reports == (DeviceEvent(IMEI, NOW, EventKind.HEARTBEAT),) * 3
    assert inbound.ack == b"\x00\x00\x00\x03"


def test_southern_western_coordinates() -> None:
    [fix] = decode(avl_packet(CODEC_8, [record(lat_e7=-33_4488897, lon_e7=-70_6692655)])).reports
    assert isinstance(fix, Fix) and (fix.lat, fix.lon) == (-33.4488897, -70.6692655)


def test_out_of_range_heading_and_battery_are_unknown() -> None:
    inbound = decode(avl_packet(CODEC_8, [record(angle=400, io={IO_BATTERY_PCT: 250, IO_HDOP: 0})]))
    assert inbound.reports == (replace(SEOUL, heading_deg=None),)
    assert inbound.error is None


def test_coordinates_out_of_range_are_refused_but_acknowledged() -> None:
    inbound = decode(avl_packet(CODEC_8, [record(lat_e7=95_0000000), record()]))
    assert inbound.reports == (DeviceEvent(IMEI, NOW, EventKind.HEARTBEAT), SEOUL)
    assert inbound.error == "record 0: coordinates out of range"
    assert inbound.ack == b"\x00\x00\x00\x02"


# --- alarms -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [CODEC_8, CODEC_8E, CODEC_16])
def test_panic_priority_is_sos_with_its_fix(codec: int) -> None:
    [event] = decode(avl_packet(codec, [record(priority=2)])).reports
    assert event == DeviceEvent(IMEI, NOW, EventKind.SOS, fix=SEOUL, detail={"priority": "panic"})


def test_panic_without_fix() -> None:
    [event] = decode(avl_packet(CODEC_8, [record(priority=2, satellites=0)])).reports
    assert event == DeviceEvent(IMEI, NOW, EventKind.SOS, detail={"priority": "panic"})


@pytest.mark.parametrize(
    ("codec", "io_id", "value", "kind"),
    [
        (CODEC_8, IO_ALARM, 1, EventKind.SOS),
        (CODEC_8E, IO_ALARM, 1, EventKind.SOS),
        (CODEC_8, IO_UNPLUG, 1, EventKind.POWER_OFF),
        (CODEC_16, IO_UNPLUG, 1, EventKind.POWER_OFF),
        (CODEC_8E, IO_TAT240_TAMPER, 0, EventKind.REMOVAL),
        (CODEC_16, IO_TAT240_TAMPER, 3, EventKind.REMOVAL),
    ],
)
def test_io_alarms(codec: int, io_id: int, value: int, kind: EventKind) -> None:
    [event] = decode(avl_packet(codec, [record(event_io=io_id, io={io_id: value})])).reports
    assert event == DeviceEvent(IMEI, NOW, kind, fix=SEOUL, detail={"io": str(io_id), "value": str(value)})


@pytest.mark.parametrize(
    ("codec", "io_id", "value"),
    [
        (CODEC_8, IO_ALARM, 0),
        (CODEC_8, IO_UNPLUG, 0),
        (CODEC_8E, IO_TAT240_TAMPER, 1),
        (CODEC_8E, IO_TAT240_TAMPER, 2),
    ],
)
def test_io_values_that_are_not_alarms(codec: int, io_id: int, value: int) -> None:
    assert decode(avl_packet(codec, [record(event_io=io_id, io={io_id: value})])).reports == (SEOUL,)


def test_io_alarm_state_repeated_in_a_periodic_record_is_not_raised_again() -> None:
    periodic = record(event_io=0, io={IO_UNPLUG: 1, IO_ALARM: 1})
    assert decode(avl_packet(CODEC_8, [periodic])).reports == (SEOUL,)


def test_one_sos_per_record_and_several_kinds() -> None:
    reports = decode(avl_packet(CODEC_8, [record(priority=2, event_io=IO_ALARM, io={IO_ALARM: 1})])).reports
    assert [r.kind for r in reports if isinstance(r, DeviceEvent)] == [EventKind.SOS]
    reports = decode(avl_packet(CODEC_8, [record(priority=2, event_io=IO_UNPLUG, io={IO_UNPLUG: 1})])).reports
    assert [r.kind for r in reports if isinstance(r, DeviceEvent)] == [EventKind.SOS, EventKind.POWER_OFF]


def test_alarm_with_unusable_time_is_kept_at_receive_time() -> None:
    records = [record(priority=2, timestamp_ms=2**64 - 1), record(timestamp_ms=2**63)]
    inbound = decode(avl_packet(CODEC_8, records))
    assert inbound.reports == (DeviceEvent(IMEI, RECEIVED, EventKind.SOS, detail={"priority": "panic"}),)
    assert inbound.error == "record 0: time out of range; record 1: time out of range"
    assert inbound.ack == b"\x00\x00\x00\x02"


def test_old_and_future_times_are_not_judged_here() -> None:
    old = int(datetime(2001, 1, 1, tzinfo=UTC).timestamp() * 1000)
    [fix] = decode(avl_packet(CODEC_8, [record(timestamp_ms=old)])).reports
    assert fix.time == datetime(2001, 1, 1, tzinfo=UTC)
    [fix] = decode(avl_packet(CODEC_8, [record(timestamp_ms=0)])).reports
    assert fix.time == datetime(1970, 1, 1, tzinfo=UTC)


# --- bad packets ----------------------------------------------------------------------------------------


def test_bad_crc_is_not_acknowledged_and_reports_nothing() -> None:
    assert decode(bad_crc(avl_packet(CODEC_8, [record(), record()]))) == Inbound(error=BAD_CRC)


def test_bad_crc_keeps_the_alarms_without_fixes() -> None:
    packet = bad_crc(
        avl_packet(CODEC_8E, [record(), record(priority=2), record(event_io=IO_UNPLUG, io={IO_UNPLUG: 1})])
    )
    assert decode(packet) == Inbound(
        reports=(
            DeviceEvent(IMEI, NOW, EventKind.SOS, detail={"priority": "panic"}),
            DeviceEvent(IMEI, NOW, EventKind.POWER_OFF, detail={"io": "252", "value": "1"}),
        ),
        error=BAD_CRC,
    )


def test_bad_crc_that_does_not_parse_reports_nothing() -> None:
    data = avl_data(CODEC_8, [record(priority=2)])
    broken = data[:-1] + b"\x00" + data[-1:]  # a byte too many
    assert decode(bad_crc(frame(broken))) == Inbound(error=BAD_CRC)
    uneven = avl_data(CODEC_8, [record(priority=2)], n2=2)
    assert decode(bad_crc(frame(uneven))) == Inbound(error=BAD_CRC)


def test_bad_crc_on_a_response() -> None:
    assert decode(bad_crc(command_packet("getver"))) == Inbound(error=BAD_CRC)


def test_malformed_records_under_a_good_crc_keep_earlier_alarms() -> None:
    data = avl_data(CODEC_8, [record(priority=2), record(), record()])
    truncated = data[:-30] + data[-1:]
    inbound = decode(frame(truncated))
    assert inbound.reports == (
        DeviceEvent(IMEI, NOW, EventKind.SOS, fix=SEOUL, detail={"priority": "panic"}),
    )
    assert inbound.ack is None
    assert inbound.error is not None and inbound.error.startswith("malformed codec 0x08 packet: record 2:")
    trailing = data[:-1] + b"\x00\x00" + data[-1:]
    assert decode(frame(trailing)).error == "malformed codec 0x08 packet: 2 bytes after the last record"


def test_unknown_codec_is_an_error() -> None:
    assert decode(frame(b"\x07\x01\x00\x01")) == Inbound(error="unsupported codec 0x07")


def test_records_count_mismatch_closes() -> None:
    with pytest.raises(ProtocolViolation, match="N1=1, N2=2"):
        decode(avl_packet(CODEC_8, [record()], n2=2))
    with pytest.raises(ProtocolViolation, match="command counts differ"):
        decode(frame(b"\x0c\x01\x06\x00\x00\x00\x01a\x02"))


def test_empty_packet_is_acknowledged_with_zero() -> None:
    assert decode(avl_packet(CODEC_8, [])) == Inbound(ack=b"\x00\x00\x00\x00")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x00\x00\x00\x00\x00\x00\x10", "data before the IMEI handshake"),
        (b"\x00\x10" + b"1" * 16, "IMEI handshake of length 16"),
        (b"GET / HTTP/1.1\r\n", "IMEI handshake of length 18245"),
        (b"\x00\x0f12345678901234x", "not 15 ASCII digits"),
        (b"\x00\x0f\xef\xbc\x91" + b"1" * 12, "not 15 ASCII digits"),
    ],
)
def test_bad_handshake_closes(raw: bytes, reason: str) -> None:
    with pytest.raises(ProtocolViolation, match=reason):
        TeltonikaSession().feed(raw, RECEIVED)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x01", "preamble"),
        (b"\x00\x00\x00\x01\x00\x00\x00\x10", "preamble"),
        (b"\x00\x0f" + IMEI.encode(), "preamble"),  # a second handshake
        (b"\x00\x00\x00\x00\x00\x00\x00\x02", "data length 2 outside"),
        (b"\x00\x00\x00\x00" + (MAX_DATA_LENGTH + 1).to_bytes(4, "big"), "data length 65537 outside"),
        (b"\x00\x00\x00\x00\xff\xff\xff\xff", "outside"),
    ],
)
def test_bad_envelope_closes(raw: bytes, reason: str) -> None:
    session = TeltonikaSession()
    session.feed(handshake(), RECEIVED)
    with pytest.raises(ProtocolViolation, match=reason):
        session.feed(raw, RECEIVED)


def test_largest_legal_packet_is_accepted() -> None:
    blob = {385: bytes(MAX_DATA_LENGTH - 200)}
    packet = avl_packet(CODEC_8E, [record(io_variable=blob)])
    assert len(packet) <= MAX_FRAME
    session = TeltonikaSession()
    session.feed(handshake(), RECEIVED)
    assert session.feed(packet[:-1], RECEIVED) == []
    assert session.buffered == len(packet) - 1
    [inbound] = session.feed(packet[-1:], RECEIVED)
    assert inbound.reports == (SEOUL,)


# --- commands -----------------------------------------------------------------------------------------


def test_locate_is_getgps() -> None:
    packet = TeltonikaSession().encode(Outbound(CommandKind.LOCATE, {}, ref=7))
    assert packet == command_packet("getgps")
    assert packet[:15] == bytes.fromhex("000000000000000e0c010500000006")
    assert packet[15:22] == b"getgps\x01"
    assert packet[22:] == crc16_ibm(packet[8:22]).to_bytes(4, "big")


@pytest.mark.parametrize(
    "kind", [CommandKind.SET_INTERVAL, CommandKind.VIBRATE, CommandKind.ALARM, CommandKind.MESSAGE]
)
def test_commands_without_a_sure_teltonika_form(kind: CommandKind) -> None:
    assert TeltonikaSession().encode(Outbound(kind, {"seconds": "15", "text": "call"}, ref=1)) is None


@pytest.mark.parametrize("text", ["", "a\x00b", "é", "x" * 513])
def test_command_text_must_be_printable_ascii(text: str) -> None:
    with pytest.raises(ValueError):
        command_packet(text)


def test_codec13_response() -> None:
    payload = (1700000000).to_bytes(4, "big") + b"GPS:1 Sat:7\r\n"
    data = bytes([CODEC_13, 1, 0x06]) + len(payload).to_bytes(4, "big") + payload + b"\x01"
    assert decode(frame(data)) == Inbound(command_reply=CommandReply(None, "GPS:1 Sat:7"))


def test_response_text_is_made_safe() -> None:
    payload = b"ok\x00\xff done "
    data = bytes([CODEC_12, 1, 0x06]) + len(payload).to_bytes(4, "big") + payload + b"\x01"
    assert decode(frame(data)).command_reply == CommandReply(None, "ok\ufffd\ufffd done")


def test_command_echoed_by_device_is_not_a_reply() -> None:
    assert decode(command_packet("getinfo")).error == "codec 0x0C message type 0x05 not handled"


def test_malformed_response() -> None:
    assert decode(frame(b"\x0c\x01\x06\x00\x00\x00\x09ab\x01")).error is not None
    assert (
        decode(frame(b"\x0d\x01\x06\x00\x00\x00\x02ab\x01")).error
        == "malformed codec 0x0D packet: no timestamp"
    )


# --- fuzzing --------------------------------------------------------------------------------------------


def assert_sound(inbound: Inbound) -> None:
    for report in inbound.reports:
        assert report.device_id == IMEI
        assert report.time.tzinfo is not None
        fix = report if isinstance(report, Fix) else report.fix
        if fix is not None:
            assert -90 <= fix.lat <= 90 and -180 <= fix.lon <= 180
            assert fix.heading_deg is None or 0 <= fix.heading_deg <= 360
            assert fix.battery_pct is None or 0 <= fix.battery_pct <= 100
    if inbound.ack is not None:
        assert inbound.error is None or "record" in inbound.error


def fuzz(pieces: list[bytes], *, after_handshake: bool) -> None:
    session = TeltonikaSession()
    if after_handshake:
        session.feed(handshake(), RECEIVED)
    try:
        for piece in pieces:
            for inbound in session.feed(piece, RECEIVED):
                assert_sound(inbound)
            assert session.buffered <= MAX_FRAME
    except ProtocolViolation:
        pass


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=5), st.booleans())
def test_arbitrary_bytes(pieces: list[bytes], after_handshake: bool) -> None:
    fuzz(pieces, after_handshake=after_handshake)


def _framed(data: bytes) -> bytes:
    return frame(data) if len(data) >= 3 else data


@settings(max_examples=300)
@given(
    st.sampled_from([CODEC_8, CODEC_8E, CODEC_16, CODEC_12, CODEC_13, 0x07]),
    st.integers(0, 3),
    st.binary(max_size=300),
    st.booleans(),
)
def test_arbitrary_bodies_in_a_good_envelope(codec: int, count: int, body: bytes, good_crc: bool) -> None:
    packet = frame(bytes([codec, count]) + body + bytes([count]))
    fuzz([packet if good_crc else bad_crc(packet)], after_handshake=True)


@settings(max_examples=200)
@given(st.data())
def test_mutated_real_frames(data: st.DataObject) -> None:
    vector = data.draw(st.sampled_from(PACKETS))
    raw = bytearray(vector.raw)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    fuzz([bytes(raw)], after_handshake=True)


def test_a_flood_of_garbage_is_refused_at_once() -> None:
    session = TeltonikaSession()
    session.feed(handshake(), RECEIVED)
    with pytest.raises(ProtocolViolation):
        session.feed(b"\x00\x00\x00\x00\x7f\xff\xff\xff" + bytes(10_000), RECEIVED)


records = st.builds(
    AvlRecord,
    timestamp_ms=st.integers(0, 2**45),
    priority=st.integers(0, 1),
    lon_e7=st.integers(-1_800_000_000, 1_800_000_000).filter(bool),
    lat_e7=st.integers(-900_000_000, 900_000_000),
    altitude_m=st.integers(-32768, 32767),
    angle=st.integers(0, 360),
    satellites=st.integers(1, 255),
    speed_kmh=st.integers(0, 65535),
    event_io=st.just(0),
    io=st.fixed_dictionaries({IO_BATTERY_PCT: st.integers(0, 100), IO_HDOP: st.integers(1, 500)}),
    io_variable=st.just({}),
)


@settings(max_examples=200)
@given(
    st.sampled_from([CODEC_8, CODEC_8E, CODEC_16]),
    st.lists(records, min_size=1, max_size=5),
    st.integers(1, 40),
)
def test_round_trip(codec: int, built: list[AvlRecord], cut: int) -> None:
    packet = avl_packet(codec, built)
    session = TeltonikaSession()
    session.feed(handshake(), RECEIVED)
    out = session.feed(packet[:cut], RECEIVED) + session.feed(packet[cut:], RECEIVED)
    [inbound] = out
    assert inbound.ack == len(built).to_bytes(4, "big")
    expected: list[Report] = [
        Fix(
            IMEI,
            datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=r.timestamp_ms),
            r.lat_e7 / 1e7,
            r.lon_e7 / 1e7,
            accuracy_m=r.io[IO_HDOP] / 2,
            speed_mps=r.speed_kmh / 3.6,
            heading_deg=float(r.angle),
            battery_pct=float(r.io[IO_BATTERY_PCT]),
        )
        for r in built
    ]
    assert list(inbound.reports) == expected


any_records = st.builds(
    AvlRecord,
    timestamp_ms=st.one_of(st.integers(0, 2**64 - 1), st.just(2**64 - 1)),
    priority=st.integers(0, 255),
    lon_e7=st.integers(-(2**31), 2**31 - 1),
    lat_e7=st.integers(-(2**31), 2**31 - 1),
    altitude_m=st.integers(-32768, 32767),
    angle=st.integers(0, 65535),
    satellites=st.integers(0, 255),
    speed_kmh=st.integers(0, 65535),
    event_io=st.sampled_from([0, IO_ALARM, IO_UNPLUG]),
    io=st.dictionaries(st.sampled_from([IO_ALARM, IO_UNPLUG, IO_BATTERY_PCT, IO_HDOP]), st.integers(0, 255)),
    io_variable=st.just({}),
)


@settings(max_examples=200)
@given(st.sampled_from([CODEC_8, CODEC_8E, CODEC_16]), st.lists(any_records, max_size=4), st.booleans())
def test_a_panic_record_is_never_lost(codec: int, built: list[AvlRecord], good_crc: bool) -> None:
    packet = avl_packet(codec, built)
    inbound = decode(packet if good_crc else bad_crc(packet))
    assert_sound(inbound)
    panics = [r for r in inbound.reports if isinstance(r, DeviceEvent) and r.detail == {"priority": "panic"}]
    assert len(panics) == sum(r.priority == 2 for r in built)
    assert all(event.kind is EventKind.SOS for event in panics)
    assert (inbound.ack is not None) == good_crc
    if not good_crc:
        assert inbound.error == BAD_CRC
        assert all(isinstance(r, DeviceEvent) and r.fix is None for r in inbound.reports)
