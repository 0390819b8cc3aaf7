"""The OwnTracks MQTT subscriber: phones publish to a broker, Vigil reads them off it.

One subscriber connects to the broker (`mqtt://[user:password@]host[:1883]`, or `mqtts://...[:8883]`
with TLS), subscribes to `owntracks/+/+` and `owntracks/+/+/event` at QoS 1, and for each message:
decodes it (adapters/owntracks.py), looks its `user/device` up with `Intake.device_for`, binds and
stores its reports (`Intake.store`) or tells `Intake.offline` of a last will, and only then sends the
PUBACK. So a message the broker saw acknowledged is on disk.

Deliberate choices:

* Manual acknowledgement. aiomqtt 2.5.1 does not expose it, so the paho client underneath is told
  (`manual_ack_set`) and acknowledges (`ack(mid, qos)`) itself; nothing else of paho is touched.
* A message that could not be stored (the lookup, `store` or `offline` raised) is not acknowledged:
  the subscriber drops the connection and reconnects with backoff, and the broker sends every
  unacknowledged message again (MQTT only redelivers on a reconnect, never on the same connection).
  That needs the session to outlive the connection: MQTT 5 with clean start off and a session
  expiry (SESSION_EXPIRY_S). A message that keeps failing is retried forever (at most once per
  BACKOFF_MAX_S): at-least-once means an alarm is never dropped because the database was away.
* Messages with nothing to store are acknowledged at once: malformed ones and unknown identifiers
  (counted with `Intake.refused`), ignored types. A retransmission would not make them better.
* The client id is unique per process (two processes with one id would throw each other off the
  broker). The cost: messages that arrive while the process is down wait in a session nobody
  resumes. A deployment that runs one subscriber per role can pass a stable `client_id` instead,
  and a restart then resumes the session (within SESSION_EXPIRY_S) and loses nothing.
* Flow control: the broker keeps at most RECEIVE_MAXIMUM messages unacknowledged in flight to us
  (MQTT 5 Receive Maximum), so memory stays bounded while a store is slow. Past MAX_QUEUED unhandled
  messages (only a QoS 0 flood gets there) aiomqtt drops what comes; a QoS 1 message so dropped
  is sent again on the next reconnect.
* Retained messages come with a new subscription only (MQTT 5 retain handling 1), not again on each
  reconnect. A retained last will is old news (the device went offline at some earlier, unknown
  time): acknowledged and ignored. A retained location is stored like any other (it carries its own
  time, and the store makes a repeat a duplicate).
* The last will's time is the receipt time: the broker publishes it when it loses the app, and its
  own `tst` is when the app connected.
* The broker going away is never fatal: every failure is logged and followed by a reconnect, with
  exponential backoff from BACKOFF_START_S to BACKOFF_MAX_S (reset once a connection serves again).
* Commands (`send`) are published to `owntracks/<user>/<device>/cmd` at QoS 1, not retained (a
  retained command would be obeyed again by every reconnect); True once the broker has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

import aiomqtt
from aiomqtt.client import MessagesIterator
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from vigil.adapters import owntracks
from vigil.adapters.native import Refused
from vigil.adapters.wire import Inbound, Outbound, Protocol, bind
from vigil.gateway.intake import Intake
from vigil.tally import Reports

log = logging.getLogger(__name__)

TOPICS = ("owntracks/+/+", "owntracks/+/+/event")
QOS = 1
SCHEMES = {"mqtt": 1883, "mqtts": 8883}
SESSION_EXPIRY_S = 3600  # how long the broker keeps our unacknowledged messages while we are away
RECEIVE_MAXIMUM = 32  # messages in flight to us, unacknowledged
MAX_QUEUED = 1000  # messages read off the socket and not yet handled (aiomqtt drops past it: redelivered)
KEEPALIVE_S = 60
TIMEOUT_S = 10.0  # connect, subscribe, publish
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0
UNKNOWN_IDENTIFIER = "unknown identifier"


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the broker is, from its URL (the password never appears in a log)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_url(url: str) -> Broker:
    """`mqtt://[user[:password]@]host[:port]` or `mqtts://...`; ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"the broker URL must start with mqtt:// or mqtts://, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("the broker URL names no host")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("the broker URL has only a host, a port and credentials")
    port = parts.port or SCHEMES[parts.scheme]  # urlsplit raises ValueError for a bad port
    return Broker(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "mqtts",
        username=None if parts.username is None else unquote(parts.username),
        password=None if parts.password is None else unquote(parts.password),
    )


def process_client_id() -> str:
    """A client id no other process uses: 22 characters, within what every MQTT broker must take."""
    return f"vigil-{secrets.token_hex(8)}"


class Unstored(Exception):
    """A message could not be stored: it stays unacknowledged, and the connection is dropped so the
    broker sends it again."""


class OwnTracksSubscriber:
    """The broker connection: reads and stores what phones publish, and publishes commands to them."""

    def __init__(
        self,
        url: str,
        intake: Intake,
        clock: Callable[[], datetime],
        *,
        client_id: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        topics: Sequence[str] = TOPICS,
        session_expiry_s: int = SESSION_EXPIRY_S,
        backoff_start_s: float = BACKOFF_START_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        keepalive_s: int = KEEPALIVE_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.broker = parse_url(url)
        self.client_id = client_id or process_client_id()
        self._intake = intake
        self._clock = clock
        self._tls_context = tls_context
        if self.broker.tls and tls_context is None:
            self._tls_context = ssl.create_default_context()
        self._topics = tuple(topics)
        self._session_expiry_s = session_expiry_s
        self._backoff_start_s = backoff_start_s
        self._backoff_max_s = backoff_max_s
        self._keepalive_s = keepalive_s
        self._timeout_s = timeout_s
        self._client: aiomqtt.Client | None = None  # while connected and subscribed
        self._subscribed = False  # this connection got as far as its subscription
        self._stored = False  # this connection stored something
        self.reports = Reports()  # counted for /metrics

    @property
    def connected(self) -> bool:
        return self._client is not None

    # --- the subscriber loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, reconnecting whenever the broker goes away; never raises (but
        for cancellation)."""
        delay = self._backoff_start_s
        log.info("MQTT subscriber %s for %s", self.client_id, self.broker)
        while not stop.is_set():
            self._subscribed = self._stored = False
            unstored = False
            try:
                await self._connection(stop)
            except Unstored as exc:
                unstored = True
                log.warning("MQTT: %s; reconnecting so that the broker sends it again", exc)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT broker %s: %s", self.broker, exc)
            except Exception:
                log.exception("MQTT subscriber failed")
            if stop.is_set():
                break
            # A connection that served starts the backoff over; failing to store keeps it growing.
            if self._stored or (self._subscribed and not unstored):
                delay = self._backoff_start_s
            log.info("MQTT reconnecting to %s in %.1f s", self.broker, delay)
            await _sleep_unless(stop, delay)
            delay = min(delay * 2, self._backoff_max_s)
        log.info("MQTT subscriber %s stopped", self.client_id)

    def _new_client(self) -> aiomqtt.Client:
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.SessionExpiryInterval = self._session_expiry_s
        connect.ReceiveMaximum = RECEIVE_MAXIMUM
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,  # resume the session: it holds what we did not acknowledge
            properties=connect,
            keepalive=self._keepalive_s,
            timeout=self._timeout_s,
            max_queued_incoming_messages=MAX_QUEUED,
            tls_context=self._tls_context,
        )
        # aiomqtt has no manual acknowledgement: its paho client does (see the module doc).
        client._client.manual_ack_set(True)
        return client

    async def _connection(self, stop: asyncio.Event) -> None:
        client = self._new_client()
        async with client:
            await self._subscribe(client)
            self._client = client
            try:
                log.info("MQTT connected to %s, subscribed to %s", self.broker, ", ".join(self._topics))
                self._subscribed = True
                await self._consume(client, stop)
            finally:
                self._client = None

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        # Retained messages (each app's last location) only for a new subscription, not again on
        # every reconnect into the resumed session.
        options = SubscribeOptions(qos=QOS, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        granted = await client.subscribe([(topic, options) for topic in self._topics])
        for topic, code in zip(self._topics, granted, strict=False):
            if _refused(code):
                raise aiomqtt.MqttError(f"the broker refused the subscription to {topic}: {code}")

    async def _consume(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        messages = client.messages
        while not stop.is_set():
            message = await _next_unless(messages, stop)
            if message is None:
                return
            await self._handle(client, message)

    async def _handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        received_at = self._clock()
        inbound = owntracks.decode(str(message.topic), _bytes(message.payload), received_at)
        await self._deliver(inbound, retained=message.retain, received_at=received_at)
        # Stored (or nothing to store): now, and only now, the broker may forget it.
        client._client.ack(message.mid, message.qos)

    async def _deliver(self, inbound: Inbound, *, retained: bool, received_at: datetime) -> None:
        if inbound.error is not None:
            log.info("OwnTracks message from %s refused: %s", inbound.identifier or "?", inbound.error)
            self._intake.refused(Protocol.OWNTRACKS, inbound.error)
        if not inbound.reports and not inbound.offline:
            return
        identifier = inbound.identifier
        assert identifier is not None  # the decoder names every message it reports for
        if inbound.offline and retained:
            return  # an old last will, replayed by the broker on subscribing: no news of now
        try:
            device = await self._intake.device_for(Protocol.OWNTRACKS, identifier)
        except Exception as exc:
            raise Unstored(f"looking up {identifier} failed: {exc!r}") from exc
        if device is None:
            self._intake.refused(Protocol.OWNTRACKS, UNKNOWN_IDENTIFIER)
            return
        try:
            if inbound.offline:
                await self._intake.offline(device, received_at)
            else:
                handed = len(inbound.reports)
                try:
                    outcome = await self._intake.store(
                        [bind(report, device) for report in inbound.reports], received_at
                    )
                except Exception:
                    self.reports.lost(handed)
                    raise
                self.reports.took(handed, outcome)
            if inbound.command_reply is not None:
                await self._intake.answered(device, inbound.command_reply)
        except Exception as exc:
            raise Unstored(f"storing for {identifier} failed: {exc!r}") from exc
        self._stored = True

    # --- commands ---------------------------------------------------------------------------------

    async def send(self, identifier: str, command: Outbound) -> bool:
        """Publish `command` to the app `identifier` (`user/device`) at QoS 1: True once the broker has
        it (the app fetches it when it next connects); False when the app cannot be asked that, the
        identifier is no OwnTracks one, or the broker is not reachable now (ask again later)."""
        encoded = owntracks.encode_command(command.kind, command.params)
        if encoded is None:
            return False
        topic = owntracks.command_topic(identifier)
        try:
            if owntracks.topic_identifier(f"{owntracks.PREFIX}/{identifier}") != identifier:
                return False
        except Refused:
            return False
        client = self._client
        if client is None:
            return False
        _, payload = encoded
        try:
            await client.publish(topic, payload, qos=QOS, retain=False, timeout=self._timeout_s)
        except aiomqtt.MqttError as exc:
            log.warning("MQTT command %s to %s not published: %s", command.kind, identifier, exc)
            return False
        return True


async def run(
    url: str,
    intake: Intake,
    clock: Callable[[], datetime],
    *,
    stop: asyncio.Event,
    client_id: str | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """Subscribe to the OwnTracks topics of the broker at `url` and store what phones report, until
    `stop` is set. (Build an OwnTracksSubscriber yourself to also `send` commands.)"""
    subscriber = OwnTracksSubscriber(url, intake, clock, client_id=client_id, tls_context=tls_context)
    await subscriber.run(stop)


def _refused(code: object) -> bool:
    """A SUBACK's answer for one topic: a granted QoS (MQTT 3) or a reason code (MQTT 5)."""
    if isinstance(code, ReasonCode):
        return code.is_failure
    return not isinstance(code, int) or code >= 0x80


def _bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _next_unless(messages: MessagesIterator, stop: asyncio.Event) -> aiomqtt.Message | None:
    """The next message, or None once `stop` is set first. A message that arrived is handled even
    when the stop came with it (handled and acknowledged rather than left to a session nobody
    resumes)."""
    getter = asyncio.ensure_future(messages.__anext__())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await getter
    if getter.cancelled():
        return None
    return getter.result()  # MqttError when the broker went away
