"""Real devices through real sockets: the server started as `vigil serve` starts it (its lifespan
opens the listeners on the configured ports), real frames from tests/data/devices, the store
behind. Each protocol: its device is known by its identifier, its reports are stored before the
acknowledgement, an alarm raises, and a command queued over the API reaches the connected device
and its answer is recorded."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, _api
from database_kit import Copy
from dispatch.receiver import _free_port
from vigil.adapters import gt06, teltonika, watch

DATA = Path(__file__).parent.parent / "data" / "devices"
TELTONIKA_IMEI = "123456789012345"
GT06_IMEI = "864717003283581"
WATCH_ID = "9031853319"


def frames(name: str) -> list[str]:
    return [
        line.split("  #")[0].strip()
        for line in (DATA / name).read_text().splitlines()
        if line and not line.startswith("#")
    ]


@pytest.fixture
def served(request: pytest.FixtureRequest, provisioned: Copy) -> Iterator[Api]:
    """The app with its device listeners on free ports (`api.settings.<protocol>_port`)."""
    api = _api(
        request, provisioned, gt06_port=_free_port(), watch_port=_free_port(), teltonika_port=_free_port()
    )
    api.start()
    try:
        yield api
    finally:
        api.stop()


class Device:
    """A device's end of a TCP connection, blocking, with a deadline on every read."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, size: int) -> bytes:
        got = b""
        while len(got) < size:
            chunk = self.sock.recv(size - len(got))
            if not chunk:
                break
            got += chunk
        return got

    def until(self, end: bytes) -> bytes:
        got = b""
        while not got.endswith(end):
            chunk = self.sock.recv(1)
            if not chunk:
                break
            got += chunk
        return got

    def close(self) -> None:
        self.sock.close()


def _register(api: Api, device: str, protocol: str, identifier: str, person: str = "S1") -> None:
    if person.startswith("S"):
        api.subject(person, device=None)
    else:
        api.protected(person, device=None)
    kind = "ankle_monitor" if person.startswith("S") else "smartwatch"
    body = {"kind": kind, "protocol": protocol, "identifier": identifier, "person_id": person}
    assert api.put(f"/v1/devices/{device}", body).status_code == 201


def _command(api: Api, device: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post(f"/v1/devices/{device}/commands", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _status(api: Api, device: str, command_id: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        found = {c["id"]: c for c in api.get(f"/v1/devices/{device}/commands").json()}[command_id]
        if found["status"] == wanted or time.monotonic() > deadline:
            return dict(found)
        time.sleep(0.02)


def test_health_shows_the_listeners(served: Api) -> None:
    listeners = served.client.get("/health").json()["listeners"]
    assert listeners["watch"] == {"port": served.settings.watch_port, "state": "listening", "connections": 0}
    assert listeners["teltonika"]["state"] == "listening"


def test_teltonika_handshake_records_ack_and_a_command_answered(served: Api) -> None:
    api = served
    _register(api, "AM-T", "teltonika", TELTONIKA_IMEI)
    handshake, avl = frames("teltonika_frames.txt")[:2]
    device = Device(api.settings.teltonika_port)
    try:
        device.send(bytes.fromhex(handshake))
        assert device.read(1) == b"\x01"
        device.send(bytes.fromhex(avl))
        assert device.read(4) == (2).to_bytes(4, "big")  # two records, stored before this
        assert len(api.fixes_of("AM-T")) == 2
        command = _command(api, "AM-T", {"type": "locate"})
        wire = device.read(len(teltonika.command_packet("getgps")))
        assert wire == teltonika.command_packet("getgps")
        assert _status(api, "AM-T", command["id"], "sent")["status"] == "sent"
        answer = b"GPS:1 Sat:7 Lat:54.6 Long:25.2"
        device.send(
            teltonika.frame(bytes([0x0C, 1, 0x06]) + len(answer).to_bytes(4, "big") + answer + b"\x01")
        )
        done = _status(api, "AM-T", command["id"], "acknowledged")
        assert (done["status"], done["reply"]) == ("acknowledged", answer.decode())
    finally:
        device.close()


def test_an_unknown_teltonika_imei_is_refused_with_its_00(served: Api) -> None:
    device = Device(served.settings.teltonika_port)
    try:
        device.send(bytes.fromhex(frames("teltonika_frames.txt")[0]))
        assert device.read(1) == b"\x00"
        assert device.read(1) == b""  # and closed
    finally:
        device.close()
    assert served.fixes_of("AM-T") == []
    assert served.client.get("/health").json()["listeners"]["teltonika"]["refused"] == 1  # counted


def test_watch_location_alarm_and_command(served: Api) -> None:
    api = served
    _register(api, "W-9", "watch", WATCH_ID, person="P1")
    device = Device(api.settings.watch_port)
    ud2 = next(f for f in frames("watch_frames.txt") if f.startswith(f"[3G*{WATCH_ID}*") and "*UD2," in f)
    link = watch.build_frame("3G", WATCH_ID, b"LK,0,0,88")
    alarm = watch.build_frame(
        "3G", WATCH_ID, b"AL,220322,055105,A,22.761162,N,114.360192,E,0,0,47,14,100,64,0,0,00010000,0,0"
    )
    try:
        device.send(link)
        assert device.until(b"]") == f"[3G*{WATCH_ID}*0002*LK]".encode()
        device.send(ud2.encode())  # a location gets no reply in this protocol
        device.send(alarm)
        assert device.until(b"]") == f"[3G*{WATCH_ID}*0002*AL]".encode()
        assert len(api.fixes_of("W-9")) >= 1
        alerts = api.get("/v1/alerts", params={"protected_person": "P1"}).json()
        assert "sos" in [a["kind"] for a in alerts]
        # her SOS put her watch in pursuit mode: report every 15 s
        assert device.until(b"]") == f"[3G*{WATCH_ID}*0009*UPLOAD,15]".encode()
        command = _command(api, "W-9", {"type": "locate"})
        assert device.until(b"]") == f"[3G*{WATCH_ID}*0002*CR]".encode()
        device.send(f"[3G*{WATCH_ID}*0002*CR]".encode())  # the echo names the command it answers
        assert _status(api, "W-9", command["id"], "acknowledged")["status"] == "acknowledged"
        pursuit = next(c for c in api.get("/v1/devices/W-9/commands").json() if c["requested_by"] == "vigil")
        assert pursuit["status"] == "sent"  # not taken for the answer to the locate
    finally:
        device.close()


def test_a_command_for_a_device_that_cannot_say_it_fails_with_the_reason(served: Api) -> None:
    api = served
    _register(api, "AM-T", "teltonika", TELTONIKA_IMEI)
    device = Device(api.settings.teltonika_port)
    try:
        device.send(bytes.fromhex(frames("teltonika_frames.txt")[0]))
        assert device.read(1) == b"\x01"
        command = _command(api, "AM-T", {"type": "vibrate"})
        failed = _status(api, "AM-T", command["id"], "failed")
        assert failed["status"] == "failed" and "cannot be sent vibrate" in failed["reply"]
    finally:
        device.close()


def test_a_command_queued_while_the_device_is_away_goes_out_when_it_connects(served: Api) -> None:
    api = served
    _register(api, "W-9", "watch", WATCH_ID, person="P1")
    command = _command(api, "W-9", {"type": "locate"})
    assert command["status"] == "pending"
    device = Device(api.settings.watch_port)
    try:
        device.send(watch.build_frame("3G", WATCH_ID, b"LK"))
        assert device.until(b"]") == f"[3G*{WATCH_ID}*0002*LK]".encode()
        assert device.until(b"]") == f"[3G*{WATCH_ID}*0002*CR]".encode()
        assert _status(api, "W-9", command["id"], "sent")["status"] == "sent"
    finally:
        device.close()


def _hex_frames(name: str) -> dict[str, bytes]:
    """The file's frames with their expected acknowledgements: frame hex -> ack bytes (or b"")."""
    found = {}
    for line in (DATA / name).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        raw = line.split("  #")[0].strip()
        found[raw] = bytes.fromhex(line.rsplit("ack=", 1)[1].strip()) if "ack=" in line else b""
    return found


def test_gt06_login_position_alarm_and_a_command_answered(served: Api) -> None:
    api = served
    _register(api, "AM-G", "gt06", GT06_IMEI)
    vectors = _hex_frames("gt06_frames.txt")
    login = next(f for f in vectors if f.startswith("78780d01" + "0" + GT06_IMEI[:7]))
    position = next(f for f in vectors if f.startswith("78781f12"))
    removal = next(f for f in vectors if f.startswith("7878251613020c12"))  # strap removal alarm
    device = Device(api.settings.gt06_port)
    try:
        device.send(bytes.fromhex(login))
        assert device.until(b"\r\n") == vectors[login]
        device.send(bytes.fromhex(position))
        assert device.until(b"\r\n") == gt06.ack(0x12, int(position[-12:-8], 16))
        assert len(api.fixes_of("AM-G")) == 1
        device.send(bytes.fromhex(removal))
        assert device.until(b"\r\n") == vectors[removal]
        assert "tamper" in [a["kind"] for a in api.get("/v1/alerts", params={"subject": "S1"}).json()]
        assert b"TIMER,15,15#" in device.until(b"\r\n")  # the tamper put his monitor in pursuit mode
        command = _command(api, "AM-G", {"type": "locate"})
        wire = device.until(b"\r\n")
        assert b"WHERE#" in wire and wire[3] == 0x80
        ref = int.from_bytes(wire[5:9], "big")
        text = b"Lat:N23.1, Lon:E114.4"
        device.send(gt06.frame(0x15, bytes([4 + len(text)]) + ref.to_bytes(4, "big") + text, 7))
        done = _status(api, "AM-G", command["id"], "acknowledged")
        assert (done["status"], done["reply"]) == ("acknowledged", text.decode())
    finally:
        device.close()


def _gps_frame(at: datetime, lat: float, lon: float, serial: int, speed_kmh: int = 30) -> bytes:
    """A GT06 0x12 position: time, a valid fix north and east, speed, no cell block worth reading."""
    flags = 0x0400 | 0x1000  # north, fix valid; east
    block = (
        bytes([at.year - 2000, at.month, at.day, at.hour, at.minute, at.second, 0xC9])
        + round(lat * 1_800_000).to_bytes(4, "big")
        + round(lon * 1_800_000).to_bytes(4, "big")
        + bytes([speed_kmh])
        + flags.to_bytes(2, "big")
    )
    return gt06.frame(0x12, block + bytes.fromhex("01cc00287d001f71"), serial)


def _until_ack(device: Device, proto: int, serial: int) -> list[bytes]:
    """Frames read until the ack of (proto, serial): the commands that came before it."""
    others: list[bytes] = []
    while (frame := device.until(b"\r\n")) != gt06.ack(proto, serial):
        assert frame, "the connection closed"
        others.append(frame)
    return others


def test_pursuit_mode_reaches_a_connected_monitor_when_he_comes_near(served: Api) -> None:
    """His approach within the warning distance asks his GT06 monitor, over its open connection,
    to report every 15 s; the command is recorded as the system's, sent; once the danger is over,
    the mode ends on its own and the monitor is asked back to its normal interval."""
    api = served
    _register(api, "AM-G", "gt06", GT06_IMEI)
    api.protected("P1", "W-1")
    assert api.order().status_code == 201
    assert api.send([api.fix("W-1", api.HOME_LAT)]).status_code == 200
    device = Device(api.settings.gt06_port)
    try:
        device.send(gt06.frame(0x01, bytes.fromhex("0" + GT06_IMEI), 1))
        assert device.until(b"\r\n") == gt06.ack(0x01, 1)
        device.send(_gps_frame(api.clock(), api.north(800), api.HOME_LON, 2))
        assert device.until(b"\r\n") == gt06.ack(0x12, 2)
        command = device.until(b"\r\n")
        assert command[3] == 0x80 and b"TIMER,15,15#" in command
        # He drives off and keeps reporting: the warning clears at the end of its 15-min hold, and
        # 5 min later the mode ends on its own: the monitor is asked back to its normal interval.
        seen: list[bytes] = []
        commands = "/v1/devices/AM-G/commands"
        for serial in range(3, 14):  # every 240 s, until the mode has ended (seen at serial 10)
            api.clock.advance(240)
            device.send(_gps_frame(api.clock(), api.north(3000), api.HOME_LON, serial, speed_kmh=0))
            device.sock.settimeout(10)
            seen += _until_ack(device, 0x12, serial)
            device.sock.settimeout(1)
            # Once the system has asked the monitor back to 60 s (a command of its own, recorded), the
            # frame follows on the connection. Until then the next round goes at once: a command made
            # after this look shows up in the next round (its frame before that round's ack, or here).
            asked_back = any(c["params"] == {"seconds": "60"} for c in api.get(commands).json())
            deadline = time.monotonic() + (10 if asked_back else 0)
            while not any(b"TIMER,60,60#" in frame for frame in seen) and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    seen.append(device.until(b"\r\n"))
            if any(b"TIMER,60,60#" in frame for frame in seen):
                break
        assert any(b"TIMER,60,60#" in frame for frame in seen), seen
    finally:
        device.close()
    back, fast = api.get(commands).json()  # newest first
    assert (fast["type"], fast["params"], fast["requested_by"]) == (
        "set_interval",
        {"seconds": "15"},
        "vigil",
    )
    assert (back["params"], back["requested_by"]) == ({"seconds": "60"}, "vigil")
    assert _status(api, "AM-G", back["id"], "sent")["status"] == "sent"
    assert api.get("/v1/devices/AM-G").json()["pursuit_since"] is None
    assert api.get("/v1/devices/W-1").json()["pursuit_since"] is None  # hers had started and ended too
