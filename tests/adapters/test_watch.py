from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.adapters.watch import (
    COMMAND_ECHOES,
    KMH_TO_MPS,
    MAX_BINARY_FRAME,
    MAX_TEXT_FRAME,
    WatchSession,
    build_frame,
    parse_frame,
)
from vigil.adapters.wire import CommandReply, Inbound, Outbound, ProtocolViolation
from vigil.domain.model import CommandKind, DeviceEvent, EventKind, Fix

RECEIVED = datetime(2026, 12, 6, 8, 30, 0, tzinfo=UTC)
FRAMES = Path(__file__).resolve().parents[1] / "data" / "devices" / "watch_frames.txt"
IMEI = "861234567890123"
BOUND = max(MAX_TEXT_FRAME, 200)


# --- helpers --------------------------------------------------------------------------------------------


def real_frames() -> list[tuple[bytes, dict[str, Any]]]:
    """Every frame of the vectors file with its independent reading."""
    out = []
    for line in FRAMES.read_text().splitlines():
        if line.startswith("["):
            frame, _, reading = line.partition("  # ")
            out.append((frame.encode("ascii"), json.loads(reading)))
    return out


def feed_all(session: WatchSession, data: bytes, at: datetime = RECEIVED) -> list[Inbound]:
    out = session.feed(data, at)
    assert session.buffered <= BOUND
    return out


def one(data: bytes, at: datetime = RECEIVED) -> Inbound:
    inbounds = feed_all(WatchSession(), data, at)
    assert len(inbounds) == 1, inbounds
    return inbounds[0]


def frame(content: str, mfr: str = "3G", device: str = IMEI, index: str | None = None) -> bytes:
    return build_frame(mfr, device, content.encode("ascii"), index)


def location(
    kind: str = "UD",
    at: datetime = RECEIVED,
    valid: str = "A",
    lat: str = "37.566500",
    ns: str = "N",
    lon: str = "126.978000",
    ew: str = "E",
    speed: str = "36.0",
    course: str = "90.5",
    battery: str = "77",
    status: str = "00000000",
) -> str:
    """A location content as a watch writes it, cells and wifis included."""
    return (
        f"{kind},{at:%d%m%y},{at:%H%M%S},{valid},{lat},{ns},{lon},{ew},{speed},{course},12.5,9,100,{battery},"
        f"1234,0,{status},2,255,450,5,1234,5678,140,1234,5679,120,2,home,aa:bb:cc:dd:ee:ff,-60,"
        "cafe,11:22:33:44:55:66,-70,5.0"
    )


def events(inbound: Inbound) -> list[DeviceEvent]:
    assert all(isinstance(report, DeviceEvent) for report in inbound.reports)
    return [report for report in inbound.reports if isinstance(report, DeviceEvent)]


def status_field(content: str) -> int:
    return int(content.split(",")[16], 16)


# --- every real frame -------------------------------------------------------------------------------------


def test_the_vectors_file_has_its_frames() -> None:
    assert len(real_frames()) == 47


@pytest.mark.parametrize(("raw", "reading"), real_frames(), ids=lambda value: str(value)[:40])
def test_every_real_frame(raw: bytes, reading: dict[str, Any]) -> None:
    inbound = one(raw)
    parsed = parse_frame(raw)
    head = parsed.header
    assert (head.mfr, head.device, parsed.type) == (reading["mfr"], reading["device"], reading["cmd"])
    assert inbound.identifier == reading["device"]
    assert inbound.error is None or parsed.type.startswith("AL")
    cmd = reading["cmd"]
    index = f"{head.index}*" if head.index is not None else ""
    prefix = f"[{head.mfr}*{head.device}*{index}"
    if cmd == "LK":
        assert inbound.ack == f"{prefix}0002*LK]".encode()
        (event,) = events(inbound)
        assert (event.kind, event.time, event.fix) == (EventKind.HEARTBEAT, RECEIVED, None)
        args = reading.get("args", "").split(",")
        assert event.detail == ({"battery_pct": args[2]} if len(args) >= 3 else {})
    elif cmd.startswith(("UD", "WT")):
        assert inbound.ack is None  # locations get no reply
        check_location(inbound, reading)
    elif cmd.startswith("AL"):
        assert inbound.ack == f"{prefix}0002*AL]".encode()
        check_alarm(inbound, reading, status_field(parsed.content))
    elif cmd == "TKQ":
        assert inbound.ack == raw  # echoed as is
        assert inbound.reports == ()
    else:  # health readings
        assert inbound == Inbound(identifier=reading["device"])


def expected_fix(reading: dict[str, Any]) -> Fix | None:
    if not reading["valid"] or (reading["lat"], reading["lon"]) == (0.0, 0.0):
        return None
    return Fix(
        device_id=reading["device"],
        time=datetime.fromisoformat(reading["time"]),
        lat=reading["lat"],
        lon=reading["lon"],
        speed_mps=pytest.approx(reading["speed_kmh"] / 3.6),  # type: ignore[arg-type]
        heading_deg=reading["course"],
        battery_pct=reading["battery_pct"],
    )


def check_location(inbound: Inbound, reading: dict[str, Any]) -> None:
    (report,) = inbound.reports
    fix = expected_fix(reading)
    if fix is not None:
        assert report == fix
    else:  # no fix, but alive: a heartbeat at the frame's own time
        assert report == DeviceEvent(
            reading["device"],
            datetime.fromisoformat(reading["time"]),
            EventKind.HEARTBEAT,
            detail={"battery_pct": str(reading["battery_pct"])},
        )


def check_alarm(inbound: Inbound, reading: dict[str, Any], status: int) -> None:
    time = datetime.fromisoformat(reading["time"])
    fix = expected_fix(reading)
    found = events(inbound)
    assert all(event.time == time and event.fix == fix for event in found)
    kinds = [event.kind for event in found]
    wanted = [
        kind
        for bit, kind in ((16, EventKind.SOS), (20, EventKind.REMOVAL), (14, EventKind.POWER_OFF))
        if status >> bit & 1
    ]
    if status & 1 or status >> 17 & 1:
        wanted.append(EventKind.BATTERY_LOW)
    if wanted:
        assert kinds == wanted
        assert inbound.error is None
    else:
        assert kinds == [EventKind.SOS]  # an alarm frame is an alarm, named or not
        assert found[0].detail["alarm"] == "unknown"
        assert inbound.error is not None


def test_real_alarms_by_name() -> None:
    by_device = {reading["device"] + reading["cmd"]: one(raw) for raw, reading in real_frames()}
    assert [e.kind for e in events(by_device["6907919734AL_LTE"])] == [EventKind.SOS]
    assert [e.kind for e in events(by_device["8809008845AL"])] == [EventKind.SOS]
    assert [e.kind for e in events(by_device["358839237678820ALCUSTOMER1"])] == [EventKind.REMOVAL]
    assert [e.kind for e in events(by_device["8800000015AL"])] == [EventKind.BATTERY_LOW]
    # The file's reading says "status": "1" / lowBattery for these ZJ alarms: it took the cell count
    # (the field after STATUS) for STATUS. STATUS is the 16th location field, 00100000: bit 20, removal.
    for key in ("689466020014198AL", "014111001332708AL"):
        (event,) = events(by_device[key])
        assert event.kind is EventKind.REMOVAL
        assert event.detail == {"alarm": "removing", "status": "00100000"}
    sos = events(by_device["8809008845AL"])[0]
    assert sos.fix is None  # V at (0, 0): no fix, the alarm stands
    fall = events(by_device["8308373902AL"])[0]
    assert fall.kind is EventKind.SOS
    assert fall.detail == {"alarm": "unknown", "status": "00200010", "named": "fallDown"}
    assert fall.fix is not None and (fall.fix.lat, fall.fix.lon) == (47.08395, 15.482185)
    assert by_device["8308373902AL"].error is not None and "fallDown" in by_device["8308373902AL"].error


def test_traccar_assertions() -> None:
    """The two positions Traccar's own test asserts."""
    frames = {reading["mfr"] + reading["device"] + reading["cmd"]: raw for raw, reading in real_frames()}
    (fix,) = one(frames["SG8800000015UD"]).reports
    assert isinstance(fix, Fix)
    assert fix.time == datetime(2014, 4, 22, 13, 46, 52, tzinfo=UTC)
    assert (round(fix.lat, 5), round(fix.lon, 5)) == (22.57171, 113.86140)
    (alive,) = one(frames["3G6105117105UD2"]).reports  # invalid: -33.48037,-70.76307 is no fix
    assert isinstance(alive, DeviceEvent) and alive.kind is EventKind.HEARTBEAT
    assert alive.time == datetime(2016, 7, 21, 23, 16, 1, tzinfo=UTC)


def test_len_mismatch_is_accepted() -> None:
    mismatched = [
        raw for raw, _ in real_frames() if parse_frame(raw).header.length != len(parse_frame(raw).content)
    ]
    assert len(mismatched) == 13
    lying = frame(location()).replace(b"*00", b"*ff", 1)
    assert isinstance(one(lying).reports[0], Fix)


# --- streams: split anywhere --------------------------------------------------------------------------------


def streams() -> dict[str, bytes]:
    """One connection's bytes per device: all its real frames back to back."""
    grouped: defaultdict[str, bytes] = defaultdict(bytes)
    for raw, reading in real_frames():
        grouped[reading["device"]] += raw
    return dict(grouped)


def test_a_stream_split_at_every_byte_boundary() -> None:
    for stream in streams().values():
        whole = feed_all(WatchSession(), stream)
        for cut in range(len(stream) + 1):
            session = WatchSession()
            assert feed_all(session, stream[:cut]) + feed_all(session, stream[cut:]) == whole


def test_a_stream_byte_by_byte() -> None:
    for stream in streams().values():
        session = WatchSession()
        pieces = [inbound for i in range(len(stream)) for inbound in feed_all(session, stream[i : i + 1])]
        assert pieces == feed_all(WatchSession(), stream)
        assert session.buffered == 0


def test_whitespace_between_frames_is_tolerated() -> None:
    session = WatchSession()
    out = feed_all(session, b"\r\n" + frame("LK") + b"\r\n " + frame("LK,0,0,50") + b"\n")
    assert len(out) == 2 and session.buffered == 0


# --- built frames (current times, other ids) ----------------------------------------------------------------


def test_built_location_is_a_fix() -> None:
    at = RECEIVED - timedelta(seconds=20)
    (fix,) = one(frame(location("UD_LTE", at=at, ns="S", ew="W"))).reports
    assert fix == Fix(
        IMEI,
        at.replace(microsecond=0),
        -37.5665,
        -126.978,
        speed_mps=pytest.approx(10.0),  # type: ignore[arg-type]
        heading_deg=90.5,
        battery_pct=77.0,
    )
    assert pytest.approx(1 / 3.6) == KMH_TO_MPS


def test_hemisphere_makes_the_sign() -> None:
    (fix,) = one(frame(location(lat="-10.5", ns="N", lon="-20.25", ew="W"))).reports
    assert isinstance(fix, Fix) and (fix.lat, fix.lon) == (-10.5, -20.25)
    (fix,) = one(frame(location(lat=" 10.5", ns="", lon="20.25", ew=""))).reports
    assert isinstance(fix, Fix) and (fix.lat, fix.lon) == (10.5, 20.25)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"valid": "V"}, False),
        ({"lat": "0.000000", "lon": "0.000000"}, True),
        ({"lat": "91.0"}, True),
        ({"lon": "east"}, True),
    ],
)
def test_location_without_a_fix_is_a_heartbeat(changes: dict[str, str], error: bool) -> None:
    inbound = one(frame(location(**changes)))  # type: ignore[arg-type]
    (event,) = events(inbound)
    assert (event.kind, event.time, event.fix, event.detail) == (
        EventKind.HEARTBEAT,
        RECEIVED,
        None,
        {"battery_pct": "77"},
    )
    assert (inbound.error is not None) is error
    assert inbound.ack is None


def test_location_with_a_bad_time_is_a_heartbeat_now() -> None:
    content = location().replace(f"{RECEIVED:%d%m%y}", "000000", 1)
    inbound = one(frame(content), RECEIVED + timedelta(seconds=5))
    (event,) = events(inbound)
    assert event.kind is EventKind.HEARTBEAT and event.time == RECEIVED + timedelta(seconds=5)
    assert inbound.error is not None and "date/time" in inbound.error


def test_bad_optional_fields_drop_only_themselves() -> None:
    inbound = one(frame(location(speed="fast", course="400", battery="250")))
    (fix,) = inbound.reports
    assert isinstance(fix, Fix)
    assert (fix.speed_mps, fix.heading_deg, fix.battery_pct) == (None, None, None)
    assert inbound.error is not None and "speed" in inbound.error and "battery" in inbound.error


def test_alarm_bits_one_event_per_kind_sos_first() -> None:
    status = f"{1 << 0 | 1 << 14 | 1 << 16 | 1 << 17 | 1 << 20:08X}"
    inbound = one(frame(location("AL", status=status), mfr="SG"))
    assert [e.kind for e in events(inbound)] == [
        EventKind.SOS,
        EventKind.REMOVAL,
        EventKind.POWER_OFF,
        EventKind.BATTERY_LOW,
    ]
    fix = events(inbound)[0].fix
    assert fix is not None and fix.lat == 37.5665
    assert all(e.fix == fix and e.detail["status"] == status for e in events(inbound))
    assert inbound.ack == f"[SG*{IMEI}*0002*AL]".encode()
    assert inbound.error is None


def test_alarm_kept_when_its_position_and_time_are_bad() -> None:
    content = location("AL_LTE", lat="north", status="00010000").replace(f"{RECEIVED:%H%M%S}", "256199", 1)
    later = RECEIVED + timedelta(minutes=1)
    inbound = one(frame(content), later)
    (sos,) = events(inbound)
    assert (sos.kind, sos.time, sos.fix) == (EventKind.SOS, later, None)
    assert inbound.error is not None and "date/time" in inbound.error and "coordinates" in inbound.error
    assert inbound.ack == f"[3G*{IMEI}*0002*AL]".encode()


@pytest.mark.parametrize("content", ["AL", "AL,1,2,3", "AL_LTE," + "x," * 20, location("AL", status="zz")])
def test_unreadable_alarm_is_still_reported_and_answered(content: str) -> None:
    inbound = one(frame(content))
    (event,) = events(inbound)
    assert (event.kind, event.time, event.detail["alarm"]) == (EventKind.SOS, RECEIVED, "unknown")
    assert inbound.error is not None
    assert inbound.ack == f"[3G*{IMEI}*0002*AL]".encode()


def test_zj_replies_keep_the_index() -> None:
    inbound = one(frame("LK,10,0,95", mfr="ZJ", index="0042"))
    assert inbound.ack == f"[ZJ*{IMEI}*0042*0002*LK]".encode()
    inbound = one(frame(location("AL", status="00010000"), mfr="ZJ", index="00ab"))
    assert inbound.ack == f"[ZJ*{IMEI}*00ab*0002*AL]".encode()
    assert [e.kind for e in events(inbound)] == [EventKind.SOS]


def test_init_and_talk_requests_are_answered() -> None:
    assert one(frame("INIT,13800000000,1,1")).ack == frame("INIT,1")
    assert one(frame("TKQ2")).ack == frame("TKQ2")


def test_another_device_on_the_connection_is_refused() -> None:
    session = WatchSession()
    feed_all(session, frame("LK"))
    (refused,) = feed_all(session, frame(location("AL", status="00010000"), device="9999999999"))
    assert refused.identifier is None and refused.reports == () and refused.ack is None
    assert refused.error is not None and "9999999999" in refused.error
    (still,) = feed_all(session, frame("LK"))
    assert still.identifier == IMEI and still.ack == frame("LK")


# --- binary frames --------------------------------------------------------------------------------------------


def escape(data: bytes) -> bytes:
    table = {0x7D: b"}\x01", 0x5B: b"}\x02", 0x5D: b"}\x03", 0x2C: b"}\x04", 0x2A: b"}\x05"}
    return b"".join(table.get(byte, bytes([byte])) for byte in data)


def test_voice_frames_are_skipped_without_buffering() -> None:
    voice = escape(b"#!AMR\n" + bytes(range(256)) * 200)
    tk = build_frame("3G", IMEI, b"TK," + voice)
    stream = tk + frame(location("AL", status="00010000"))
    session = WatchSession()
    out: list[Inbound] = []
    for start in range(0, len(stream), 1000):
        out += feed_all(session, stream[start : start + 1000])
    assert out[0] == Inbound(identifier=IMEI)
    assert [e.kind for e in events(out[1])] == [EventKind.SOS]
    assert len(out) == 2


def test_empty_voice_frame() -> None:
    assert one(frame("TK")) == Inbound(identifier=IMEI)


def test_binary_frame_past_its_bound_is_a_violation() -> None:
    session = WatchSession()
    feed_all(session, frame("LK")[:-1].replace(b"LK", b"img,"))
    with pytest.raises(ProtocolViolation):
        for _ in range(MAX_BINARY_FRAME // 4096 + 2):
            feed_all(session, b"\x00" * 4096)


# --- violations -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"\x78\x78\x11\x01",  # GT06
        b"[3G*123]",
        b"[3G*" + b"1" * 40 + b"*0002*LK]",
        b"[3G*1234567890*02*LK]",
        b"[3G*1234567890*0002*]",
        b"[3G" + b"*" * 200,
    ],
)
def test_not_this_protocol(data: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        WatchSession().feed(data, RECEIVED)


def test_text_frame_past_its_bound_is_a_violation() -> None:
    session = WatchSession()
    feed_all(session, b"[3G*1234567890*0ffe*UD,")
    with pytest.raises(ProtocolViolation):
        feed_all(session, b"1" * MAX_TEXT_FRAME)


def test_longest_text_frame_is_accepted() -> None:
    head = b"[3G*1234567890*0ffe*bphrt,"
    data = head + b"1" * (MAX_TEXT_FRAME - len(head) - 1) + b"]"
    assert len(data) == MAX_TEXT_FRAME
    assert one(data) == Inbound(identifier="1234567890")


# --- commands -------------------------------------------------------------------------------------------------


def bound_session(first: bytes) -> WatchSession:
    session = WatchSession()
    feed_all(session, first)
    return session


def command(kind: CommandKind, **params: str) -> Outbound:
    return Outbound(kind=kind, params=params, ref=7)


def test_no_command_before_the_device_named_itself() -> None:
    assert WatchSession().encode(command(CommandKind.LOCATE)) is None


def test_commands() -> None:
    session = bound_session(frame("LK", mfr="SG", device="9081000548"))
    assert (
        session.encode(command(CommandKind.SET_INTERVAL, seconds="15")) == b"[SG*9081000548*0009*UPLOAD,15]"
    )
    assert session.encode(command(CommandKind.LOCATE)) == b"[SG*9081000548*0002*CR]"
    assert session.encode(command(CommandKind.ALARM)) == b"[SG*9081000548*0004*FIND]"
    assert session.encode(command(CommandKind.VIBRATE)) == b"[SG*9081000548*0004*FIND]"
    assert session.encode(command(CommandKind.SET_INTERVAL, seconds="-1")) is None
    assert session.encode(command(CommandKind.SET_INTERVAL, seconds="1.5")) is None
    assert session.encode(command(CommandKind.SET_INTERVAL)) is None
    assert session.encode(command(CommandKind.MESSAGE)) is None


def test_message_is_utf16_hex_as_traccar_encodes_it() -> None:
    session = bound_session(frame("LK", mfr="CS", device="123456789012345"))
    # Traccar's WatchProtocolEncoderTest vector
    expected = b"[CS*123456789012345*0018*MESSAGE,0074006500780074]"
    assert session.encode(command(CommandKind.MESSAGE, text="text")) == expected
    korean = session.encode(command(CommandKind.MESSAGE, text="연락"))
    assert korean == b"[CS*123456789012345*0010*MESSAGE,c5f0b77d]"


def test_commands_with_the_index_form() -> None:
    session = bound_session(frame("LK", mfr="ZJ", index="0033"))
    assert session.encode(command(CommandKind.LOCATE)) == f"[ZJ*{IMEI}*0001*0002*CR]".encode()


@pytest.mark.parametrize("echo", ["UPLOAD", "CR", "FIND", "MESSAGE"])
def test_command_replies(echo: str) -> None:
    inbound = one(frame(echo))
    assert inbound == Inbound(
        identifier=IMEI, command_reply=CommandReply(ref=None, text=echo, kind=COMMAND_ECHOES[echo])
    )


# --- round trips and fuzzing ----------------------------------------------------------------------------------

ids = st.text("0123456789", min_size=10, max_size=15)
mfrs = st.sampled_from(["3G", "SG", "CS", "ZJ"])
contents = st.text(st.characters(codec="ascii", exclude_characters="[]*"), max_size=300).filter(
    lambda text: text[:1] not in ("", ",")
)


@given(mfrs, ids, contents, st.none() | st.text("0123456789abcdef", min_size=4, max_size=4))
def test_build_and_parse_round_trip(mfr: str, device: str, content: str, index: str | None) -> None:
    parsed = parse_frame(build_frame(mfr, device, content.encode("ascii"), index))
    assert (parsed.header.mfr, parsed.header.device, parsed.header.index) == (mfr, device, index)
    assert (parsed.content, parsed.header.length) == (content, len(content))


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    st.floats(min_value=-90, max_value=90).filter(lambda value: abs(value) > 1e-6),
    st.floats(min_value=-180, max_value=180).filter(lambda value: abs(value) > 1e-6),
    st.floats(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=100),
)
def test_built_fix_round_trip(at: datetime, lat: float, lon: float, speed: float, battery: int) -> None:
    content = location(
        at=at,
        lat=f"{abs(lat):.6f}",
        ns="N" if lat >= 0 else "S",
        lon=f"{abs(lon):.6f}",
        ew="E" if lon >= 0 else "W",
        speed=f"{speed:.2f}",
        battery=str(battery),
    )
    (report,) = one(frame(content, device="353" + "0" * 12)).reports
    assert isinstance(report, Fix)
    assert report.time == at.replace(microsecond=0, tzinfo=UTC)
    assert report.lat == pytest.approx(float(f"{lat:.6f}"), abs=1e-9)
    assert report.lon == pytest.approx(float(f"{lon:.6f}"), abs=1e-9)
    assert report.speed_mps == pytest.approx(float(f"{speed:.2f}") / 3.6)
    assert report.battery_pct == battery


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=600), max_size=8))
def test_arbitrary_bytes_only_ever_violate(chunks: list[bytes]) -> None:
    session = WatchSession()
    try:
        for chunk in chunks:
            feed_all(session, chunk)
    except ProtocolViolation:
        pass


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_arbitrary_bytes_after_a_good_header_only_ever_violate(chunks: list[bytes]) -> None:
    session = WatchSession()
    try:
        feed_all(session, b"[3G*1234567890*0010*" + b"".join(chunks))
        for chunk in chunks:
            feed_all(session, chunk + b"]")
    except ProtocolViolation:
        pass


alarm_fields = st.lists(
    st.sampled_from(["", "A", "V", "N", "S", "0", "1.5", "-3", "250", "00010000", "zz", " ", "999999"])
    | st.text(st.characters(codec="ascii", exclude_characters="[]*,"), max_size=8),
    max_size=25,
)


@settings(max_examples=300)
@given(st.sampled_from(["AL", "AL_LTE", "ALCUSTOMER1"]), alarm_fields)
def test_an_alarm_frame_is_always_reported_and_answered(kind: str, fields: list[str]) -> None:
    inbound = one(frame(",".join([kind, *fields])))
    assert inbound.ack == f"[3G*{IMEI}*0002*AL]".encode()
    assert inbound.reports
    assert all(isinstance(report, DeviceEvent) for report in inbound.reports)


@settings(max_examples=200)
@given(st.sampled_from(["UD", "UD2", "UD_LTE", "WT", "LK"]), alarm_fields)
def test_location_and_link_frames_always_prove_the_device_alive(kind: str, fields: list[str]) -> None:
    inbound = one(frame(",".join([kind, *fields])))
    assert len(inbound.reports) == 1
    assert inbound.identifier == IMEI


@settings(max_examples=100)
@given(st.lists(st.integers(min_value=0, max_value=2000), max_size=10))
def test_a_stream_in_arbitrary_pieces(cuts: list[int]) -> None:
    # One device per connection: rename every frame to one id so the whole file is one stream.
    stream = b"".join(frame(parse_frame(raw).content) for raw, _ in real_frames())
    whole = feed_all(WatchSession(), stream)
    session = WatchSession()
    pieces: list[Inbound] = []
    start = 0
    for cut in sorted(cuts):
        pieces += feed_all(session, stream[start:cut])
        start = max(start, cut)
    pieces += feed_all(session, stream[start:])
    assert pieces == whole
    assert len(whole) == len(real_frames())
