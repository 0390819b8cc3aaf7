"""The OwnTracks subscriber against the real Mosquitto on 127.0.0.1:1883 (skipped without it, failed
under CI=true). Every test publishes under its own random user, so tests may run side by side on one
broker; the test Intake sees everyone's messages and is asserted on its own devices only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import pytest

from services import service_unavailable
from vigil.adapters.wire import CommandReply, Outbound, Protocol
from vigil.commands import IngestOutcome
from vigil.domain.model import CommandKind, Fix, Report
from vigil.gateway.mqtt import UNKNOWN_IDENTIFIER, Broker, OwnTracksSubscriber, parse_url

HOST, PORT = "127.0.0.1", 1883
NOW = datetime.now(UTC).replace(microsecond=0)
WAIT_S = 15.0


@pytest.fixture(scope="module")
def broker() -> str:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        service_unavailable("Mosquitto", f"{HOST}:{PORT}", exc)
    return f"mqtt://{HOST}:{PORT}"


class RecordingIntake:
    """An Intake that records what it is given; its stores fail `failures` times first."""

    def __init__(self, devices: dict[str, str], failures: int = 0) -> None:
        self.devices = devices
        self.failures = failures
        self.looked_up: list[str] = []
        self.attempts: list[list[Report]] = []
        self.stored: list[tuple[list[Report], datetime]] = []
        self.offline_calls: list[tuple[str, datetime]] = []
        self.refusals: list[str] = []
        self.answers: list[tuple[str, CommandReply]] = []

    async def device_for(self, protocol: Protocol, identifier: str) -> str | None:
        assert protocol is Protocol.OWNTRACKS
        self.looked_up.append(identifier)
        return self.devices.get(identifier)

    async def store(self, reports: Sequence[Report], received_at: datetime) -> IngestOutcome:
        self.attempts.append(list(reports))
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the database is away")
        self.stored.append((list(reports), received_at))
        return IngestOutcome(stored=len(reports))

    async def offline(self, device_id: str, at: datetime) -> None:
        self.offline_calls.append((device_id, at))

    async def answered(self, device_id: str, reply: CommandReply) -> None:
        self.answers.append((device_id, reply))

    def refused(self, protocol: Protocol, why: str) -> None:
        assert protocol is Protocol.OWNTRACKS
        self.refusals.append(why)


def lats(intake: RecordingIntake) -> list[float]:
    return [report.lat for reports, _ in intake.stored for report in reports if isinstance(report, Fix)]


def clock() -> datetime:
    return NOW


def user() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def location(lat: float = 37.5665, lon: float = 126.978, **fields: Any) -> bytes:
    return json.dumps(
        {"_type": "location", "lat": lat, "lon": lon, "tst": int(NOW.timestamp()), **fields}
    ).encode()


async def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serving(url: str, intake: RecordingIntake, **options: Any) -> AsyncIterator[OwnTracksSubscriber]:
    """A subscriber running against `url` until the block ends (then stopped and awaited)."""
    subscriber = OwnTracksSubscriber(url, intake, clock, backoff_start_s=0.05, backoff_max_s=0.5, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(subscriber.run(stop))
    try:
        await eventually(lambda: subscriber.connected or task.done(), "the subscriber to connect")
        yield subscriber
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_S)


async def publish(topic: str, payload: bytes, *, retain: bool = False) -> None:
    async with aiomqtt.Client(HOST, PORT, identifier=f"test-{uuid.uuid4().hex[:12]}") as client:
        await client.publish(topic, payload, qos=1, retain=retain)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


# --- the broker URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker", Broker("broker", 1883, tls=False)),
        ("mqtts://broker", Broker("broker", 8883, tls=True)),
        ("mqtt://127.0.0.1:1884/", Broker("127.0.0.1", 1884, tls=False)),
        ("mqtts://vigil:s%40cret%3A@b.example:9999", Broker("b.example", 9999, True, "vigil", "s@cret:")),
    ],
)
def test_broker_urls(url: str, expected: Broker) -> None:
    assert parse_url(url) == expected
    assert "cret" not in str(parse_url(url))


@pytest.mark.parametrize(
    "url",
    ["http://broker", "broker:1883", "mqtt://", "mqtt://broker:99999", "mqtt://broker/topic", "mqtt://b?x=1"],
)
def test_bad_broker_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_url(url)


def test_mqtts_verifies_the_broker_by_default() -> None:
    subscriber = OwnTracksSubscriber("mqtts://user:pw@broker.example", RecordingIntake({}), clock)
    context = subscriber._tls_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert subscriber.broker == Broker("broker.example", 8883, True, "user", "pw")
    assert subscriber.client_id.startswith("vigil-") and len(subscriber.client_id) <= 23
    assert OwnTracksSubscriber("mqtt://b", RecordingIntake({}), clock).client_id != subscriber.client_id


# --- against Mosquitto ------------------------------------------------------------------------------


def test_a_published_location_is_stored_bound_to_its_device(broker: str) -> None:
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-1"})

    async def test() -> None:
        async with serving(broker, intake):
            await publish(f"owntracks/{name}/phone", location(acc=8, vel=18, batt=70))
            await eventually(lambda: bool(intake.stored), "the location to be stored")
        [(reports, received_at)] = intake.stored
        assert received_at == NOW
        assert reports == [
            Fix(
                "dev-1", NOW, 37.5665, 126.978, accuracy_m=8.0, speed_mps=pytest.approx(5.0), battery_pct=70.0
            )
        ]
        assert intake.looked_up.count(f"{name}/phone") == 1

    run(test)


def test_a_transition_on_the_event_topic_is_stored(broker: str) -> None:
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-2"})
    payload = json.dumps(
        {"_type": "transition", "event": "enter", "lat": 48.87, "lon": 2.35, "acc": 20, "tst": 1707057574}
    ).encode()

    async def test() -> None:
        async with serving(broker, intake):
            await publish(f"owntracks/{name}/phone/event", payload)
            await eventually(lambda: bool(intake.stored), "the transition's position to be stored")
        [([fix], _)] = intake.stored
        assert fix == Fix("dev-2", datetime(2024, 2, 4, 14, 39, 34, tzinfo=UTC), 48.87, 2.35, accuracy_m=20.0)

    run(test)


def test_an_unknown_identifier_is_refused_and_nothing_stored(broker: str) -> None:
    name = user()
    intake = RecordingIntake({})

    async def test() -> None:
        async with serving(broker, intake):
            await publish(f"owntracks/{name}/phone", location())
            await eventually(lambda: f"{name}/phone" in intake.looked_up, "the identifier to be looked up")
        assert UNKNOWN_IDENTIFIER in intake.refusals
        assert intake.attempts == []

    run(test)


def test_a_malformed_message_is_refused_with_its_reason(broker: str) -> None:
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-3"})

    async def test() -> None:
        async with serving(broker, intake):
            await publish(f"owntracks/{name}/phone", location(lat=95.0))
            await publish(f"owntracks/{name}/phone", location(lat=1.5))
            await eventually(lambda: bool(intake.stored), "the good location to be stored")
        assert "lat: must be in [-90, 90]" in intake.refusals
        [([fix], _)] = intake.stored
        assert isinstance(fix, Fix) and fix.lat == 1.5

    run(test)


def test_a_message_whose_store_fails_is_redelivered_then_stored_once_and_acknowledged(broker: str) -> None:
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-4"}, failures=2)
    client_id = f"vigil-test-{uuid.uuid4().hex[:8]}"

    async def test() -> None:
        async with serving(broker, intake, client_id=client_id):
            await publish(f"owntracks/{name}/phone", location(lat=10.0))
            await eventually(lambda: bool(intake.stored), "the location to be stored after two failures")
        assert len(intake.attempts) == 3  # not acknowledged twice, so delivered three times
        [([fix], _)] = intake.stored
        assert isinstance(fix, Fix) and fix.lat == 10.0
        # Acknowledged once stored: the same session, resumed, gets nothing again.
        async with serving(broker, intake, client_id=client_id):
            await publish(f"owntracks/{name}/phone", location(lat=11.0))
            await eventually(lambda: len(intake.stored) == 2, "the next location")
            await asyncio.sleep(0.3)
        assert lats(intake) == [10.0, 11.0]
        assert len(intake.attempts) == 4

    run(test)


def test_a_last_will_calls_offline(broker: str) -> None:
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-5"})

    async def test() -> None:
        async with serving(broker, intake):
            await publish(f"owntracks/{name}/phone", b'{"_type":"lwt","tst":1706856000}')
            await eventually(lambda: bool(intake.offline_calls), "offline to be called")
        assert intake.offline_calls == [("dev-5", NOW)]
        assert intake.attempts == []

    run(test)


def test_a_real_last_will_from_a_lost_app_calls_offline(broker: str) -> None:
    """The broker itself publishes the app's will when the app's connection dies without DISCONNECT."""
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-6"})
    topic = f"owntracks/{name}/phone"

    async def test() -> None:
        async with serving(broker, intake):
            will = aiomqtt.Will(topic, b'{"_type":"lwt","tst":1706856000}', qos=1)
            app = aiomqtt.Client(HOST, PORT, identifier=f"app-{name}", will=will, keepalive=60)
            await app.__aenter__()
            await app.publish(topic, location(), qos=1)
            await eventually(lambda: bool(intake.stored), "the app's location")
            sock = app._client.socket()
            assert isinstance(sock, socket.socket)
            sock.shutdown(socket.SHUT_RDWR)  # the phone drops off the network
            await eventually(lambda: bool(intake.offline_calls), "the broker's will to reach offline")
            with contextlib.suppress(Exception):
                await app.__aexit__(None, None, None)
        assert intake.offline_calls == [("dev-6", NOW)]

    run(test)


def test_retained_messages_at_subscription(broker: str) -> None:
    """The broker replays retained messages on subscribing: a location is stored, a will is old news."""
    name, other = user(), user()
    intake = RecordingIntake({f"{name}/phone": "dev-7", f"{other}/phone": "dev-8"})

    async def test() -> None:
        await publish(f"owntracks/{name}/phone", location(lat=20.0), retain=True)
        await publish(f"owntracks/{other}/phone", b'{"_type":"lwt"}', retain=True)
        try:
            async with serving(broker, intake, topics=[f"owntracks/{name}/+", f"owntracks/{other}/+"]):
                await eventually(lambda: bool(intake.stored), "the retained location")
                await asyncio.sleep(0.3)
        finally:
            for who in (name, other):  # an empty retained message deletes it
                await publish(f"owntracks/{who}/phone", b"", retain=True)
        [([fix], _)] = intake.stored
        assert isinstance(fix, Fix) and fix.device_id == "dev-7"
        assert intake.offline_calls == []

    run(test)


def test_commands_are_published_to_the_apps_cmd_topic(broker: str) -> None:
    name = user()
    intake = RecordingIntake({})

    async def test() -> None:
        async with aiomqtt.Client(HOST, PORT, identifier=f"app-{name}") as app:
            await app.subscribe(f"owntracks/{name}/phone/cmd", qos=1)
            async with serving(broker, intake) as subscriber:
                assert await subscriber.send(f"{name}/phone", Outbound(CommandKind.LOCATE, {}, 1))
                assert await subscriber.send(
                    f"{name}/phone", Outbound(CommandKind.SET_INTERVAL, {"seconds": "15"}, 2)
                )
                assert not await subscriber.send(f"{name}/phone", Outbound(CommandKind.VIBRATE, {}, 3))
                assert not await subscriber.send("no-slash", Outbound(CommandKind.LOCATE, {}, 4))
                assert not await subscriber.send(f"{name}/+", Outbound(CommandKind.LOCATE, {}, 5))
                got = []
                async with asyncio.timeout(WAIT_S):
                    async for message in app.messages:
                        assert not message.retain
                        got.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
                        if len(got) == 2:
                            break
            assert got[0] == {"_type": "cmd", "action": "reportLocation"}
            assert got[1]["action"] == "setConfiguration"
            assert got[1]["configuration"]["locatorInterval"] == 15
            assert not await subscriber.send(f"{name}/phone", Outbound(CommandKind.LOCATE, {}, 6))  # stopped

    run(test)


# --- the broker going away ----------------------------------------------------------------------------


class Proxy:
    """A TCP relay to Mosquitto that can cut every connection through it, as a broker restart does."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, HOST, 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            writer.close()
            return
        self.writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_it_reconnects_and_resumes_its_session_when_the_broker_goes_away(broker: str) -> None:
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-9"})

    async def test() -> None:
        proxy = Proxy()
        port = await proxy.start()
        try:
            async with serving(f"mqtt://{HOST}:{port}", intake) as subscriber:
                await publish(f"owntracks/{name}/phone", location(lat=1.0))
                await eventually(lambda: len(intake.stored) == 1, "the first location")
                proxy.cut()
                await eventually(lambda: not subscriber.connected, "the subscriber to notice")
                # Published while it is away: kept in its session by the broker, delivered on return.
                await publish(f"owntracks/{name}/phone", location(lat=2.0))
                await eventually(lambda: 2.0 in lats(intake), "the location sent while away")
        finally:
            await proxy.close()
        # At least once: a cut between storing and the PUBACK reaching the broker delivers the first
        # again (the store makes it a duplicate); nothing is lost and the order is kept.
        assert lats(intake) in ([1.0, 2.0], [1.0, 1.0, 2.0])

    run(test)


def test_no_broker_is_retried_not_fatal() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    intake = RecordingIntake({})

    async def test() -> None:
        subscriber = OwnTracksSubscriber(
            f"mqtt://{HOST}:{port}", intake, clock, backoff_start_s=0.01, backoff_max_s=0.05
        )
        stop = asyncio.Event()
        task = asyncio.create_task(subscriber.run(stop))
        await asyncio.sleep(0.5)
        assert not task.done()
        assert not subscriber.connected
        stop.set()
        await asyncio.wait_for(task, WAIT_S)

    run(test)


def test_a_stale_clock_is_not_used_for_the_device_time(broker: str) -> None:
    """The fix keeps the app's own tst; only received_at is the clock's."""
    name = user()
    intake = RecordingIntake({f"{name}/phone": "dev-10"})
    then = NOW - timedelta(days=3)

    async def test() -> None:
        async with serving(broker, intake):
            await publish(f"owntracks/{name}/phone", location(tst=int(then.timestamp())))
            await eventually(lambda: bool(intake.stored), "the location")
        [([fix], received_at)] = intake.stored
        assert (fix.time, received_at) == (then, NOW)

    run(test)
