"""The TCP listener (vigil/gateway/tcp.py) over the real store, with a line protocol made for the
test: what the listener does whatever the protocol (who a connection speaks for, acknowledgement
only after the durable write, conflicts, bounded connections). Each real protocol's codec is tested
through a real socket in test_gateway_devices.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from vigil.adapters.wire import Inbound, Outbound, Protocol, ProtocolViolation
from vigil.domain.model import DeviceEvent, EventKind, Fix
from vigil.gateway.intake import Admission
from vigil.gateway.tcp import Listener
from vigil.store import tables as t

IMEI = "864717003283581"
LIMIT = 256


@dataclass
class Lines:
    """A toy protocol: `LOGIN <id>`, `FIX <lat> <lon>`, `SOS`, one per line."""

    buffer: bytearray = field(default_factory=bytearray)
    identifier: str = ""

    def feed(self, data: bytes, received_at: datetime) -> list[Inbound]:
        self.buffer += data
        if len(self.buffer) > LIMIT:
            raise ProtocolViolation("line too long")
        out = []
        while b"\n" in self.buffer:
            line, _, rest = bytes(self.buffer).partition(b"\n")
            self.buffer = bytearray(rest)
            word, *args = line.decode().split()
            if word == "LOGIN":
                self.identifier = args[0]
                out.append(Inbound(identifier=args[0], ack=b"OK\n", refusal=b"NO\n"))
            elif word == "FIX":
                fix = Fix(self.identifier, received_at, float(args[0]), float(args[1]), accuracy_m=5)
                out.append(Inbound(reports=(fix,), ack=b"ACK\n"))
            elif word == "SOS":
                out.append(
                    Inbound(reports=(DeviceEvent(self.identifier, received_at, EventKind.SOS),), ack=b"ACK\n")
                )
            else:
                raise ProtocolViolation(f"not a line of this protocol: {word!r}")
        return out

    def encode(self, command: Outbound) -> bytes | None:
        return None


def _run(api: Any, scenario: Callable[[Listener], Awaitable[None]], **options: Any) -> Listener:
    services = api.client.app.state.services
    admission = Admission(services.reader, services.runner)
    listener = Listener(Protocol.GT06, "127.0.0.1", 0, Lines, admission, api.clock, **options)

    async def main() -> None:
        await listener.bind(0)  # any free port (0 in the settings means disabled)
        assert listener.state == "listening"
        try:
            await scenario(listener)
        finally:
            while OPEN:
                writer = OPEN.pop()
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
            await listener.stop()

    asyncio.run(main())
    return listener


OPEN: list[asyncio.StreamWriter] = []  # the test's client ends, closed when its scenario ends


async def _connect(listener: Listener) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    OPEN.append(writer)
    return reader, writer


async def _say(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], line: str) -> bytes:
    reader, writer = conn
    writer.write(line.encode() + b"\n")
    await writer.drain()
    return await asyncio.wait_for(reader.readline(), 10)


def _monitor(api: Any, device: str = "AM-9", **extra: Any) -> None:
    api.subject("S1", device=None)
    body = {"kind": "ankle_monitor", "protocol": "gt06", "identifier": IMEI, "person_id": "S1", **extra}
    assert api.put(f"/v1/devices/{device}", body).status_code == 201


def test_a_known_device_is_acknowledged_only_after_its_fix_is_stored(app_client) -> None:
    api = app_client
    _monitor(api)
    seen: list[int] = []

    async def scenario(listener: Listener) -> None:
        conn = await _connect(listener)
        assert await _say(conn, f"LOGIN {IMEI}") == b"OK\n"
        assert await _say(conn, f"FIX {api.HOME_LAT} {api.HOME_LON}") == b"ACK\n"
        seen.append(len(api.fixes_of("AM-9")))  # on disk by the time the ack is read

    _run(api, scenario)
    assert seen == [1]
    assert api.fixes_of("AM-9")[0].lat == pytest.approx(api.HOME_LAT)


def test_an_unknown_identifier_is_refused_counted_and_nothing_is_stored(app_client) -> None:
    api = app_client
    _monitor(api)

    async def scenario(listener: Listener) -> None:
        conn = await _connect(listener)
        assert await _say(conn, "LOGIN 999999999999999") == b"NO\n"
        assert await conn[0].read() == b""  # closed

    listener = _run(api, scenario)
    assert listener.intake.refusals[("gt06", "unknown identifier")] == 1
    assert api.count(t.fixes) == 0


def test_reports_before_a_login_are_not_stored_and_not_acknowledged(app_client) -> None:
    api = app_client
    _monitor(api)

    async def scenario(listener: Listener) -> None:
        reader, writer = await _connect(listener)
        writer.write(f"FIX {api.HOME_LAT} {api.HOME_LON}\nLOGIN {IMEI}\n".encode())
        assert await asyncio.wait_for(reader.readline(), 10) == b"OK\n"  # no ACK before it

    listener = _run(api, scenario)
    assert listener.intake.refusals[("gt06", "reports before the device identified itself")] == 1
    assert api.count(t.fixes) == 0


def test_an_alarm_is_stored_and_raises(app_client) -> None:
    api = app_client
    _monitor(api)

    async def scenario(listener: Listener) -> None:
        conn = await _connect(listener)
        await _say(conn, f"LOGIN {IMEI}")
        assert await _say(conn, "SOS") == b"ACK\n"

    _run(api, scenario)
    assert [a["kind"] for a in api.get("/v1/alerts", params={"subject": "S1"}).json()] == ["sos"]


def test_a_reconnect_takes_over_quietly_but_two_live_ends_raise_device_conflict(app_client) -> None:
    api = app_client
    _monitor(api)

    async def scenario(listener: Listener) -> None:
        old = await _connect(listener)
        await _say(old, f"LOGIN {IMEI}")
        new = await _connect(listener)
        await _say(new, f"LOGIN {IMEI}")  # a reconnect: the old socket may be half open
        assert await _say(new, f"FIX {api.HOME_LAT} {api.HOME_LON}") == b"ACK\n"
        assert api.get("/v1/alerts", params={"subject": "S1"}).json() == []
        # the old end is alive too: a conflict; its position is not believed, its alarm still stands
        assert await _say(old, f"FIX {api.north(5000)} {api.HOME_LON}") == b"ACK\n"
        assert await _say(old, "SOS") == b"ACK\n"
        assert await _say(new, f"FIX {api.HOME_LAT} {api.HOME_LON}") == b"ACK\n"  # the newer goes on

    _run(api, scenario)
    alerts = api.get("/v1/alerts", params={"subject": "S1"}).json()
    assert sorted(a["kind"] for a in alerts) == ["device_conflict", "sos"]
    assert all(f.lat != pytest.approx(api.north(5000)) for f in api.fixes_of("AM-9"))


def test_a_device_restricted_to_a_network_is_not_believed_from_outside_it(app_client) -> None:
    api = app_client
    _monitor(api, network="10.64.0.0/16")  # the test connects from 127.0.0.1

    async def scenario(listener: Listener) -> None:
        conn = await _connect(listener)
        assert await _say(conn, f"LOGIN {IMEI}") == b"OK\n"
        assert await _say(conn, f"FIX {api.HOME_LAT} {api.HOME_LON}") == b"ACK\n"  # judged: refused
        assert await _say(conn, "SOS") == b"ACK\n"  # an alarm is never dropped, whoever sends it

    listener = _run(api, scenario)
    assert api.count(t.fixes) == 0
    assert listener.intake.refusals[("gt06", "untrusted connection")] == 1
    with api.db.connect() as conn:
        kinds = sorted(conn.execute(select(t.alerts.c.kind)).scalars())
        detail = conn.execute(
            select(t.device_events.c.detail).where(t.device_events.c.kind == "sos")
        ).scalar_one()
    assert kinds == ["device_conflict", "sos"]
    assert "outside its network" in detail["untrusted"]


def test_a_violation_closes_that_connection_only(app_client) -> None:
    api = app_client
    _monitor(api)

    async def scenario(listener: Listener) -> None:
        good = await _connect(listener)
        await _say(good, f"LOGIN {IMEI}")
        bad_reader, bad_writer = await _connect(listener)
        bad_writer.write(b"X" * (LIMIT + 1))
        assert await asyncio.wait_for(bad_reader.read(), 10) == b""
        assert await _say(good, f"FIX {api.HOME_LAT} {api.HOME_LON}") == b"ACK\n"

    listener = _run(api, scenario)
    assert listener.intake.refusals[("gt06", "violation: line too long")] == 1


def test_an_idle_connection_is_closed_and_the_connection_cap_holds(app_client) -> None:
    api = app_client

    async def scenario(listener: Listener) -> None:
        first = await _connect(listener)
        second_reader, _ = await _connect(listener)
        assert await asyncio.wait_for(second_reader.read(), 10) == b""  # over the cap of one
        assert await asyncio.wait_for(first[0].read(), 10) == b""  # idle past 0.2 s

    listener = _run(api, scenario, idle_s=0.2, max_connections=1)
    assert listener.intake.refusals[("gt06", "too many connections")] == 1


def test_a_taken_port_does_not_stop_the_server_and_health_says_so(app_client) -> None:
    services = app_client.client.app.state.services
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listener = Listener(
            Protocol.GT06,
            "127.0.0.1",
            port,
            Lines,
            Admission(services.reader, services.runner),
            app_client.clock,
        )
        asyncio.run(listener.start())
    assert listener.status()["state"] == "failed"
    assert str(port) in listener.status()["reason"]
