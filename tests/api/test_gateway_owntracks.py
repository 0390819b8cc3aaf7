"""OwnTracks phones through the real Mosquitto and the real server: `VIGIL_MQTT_URL` set, the app's
lifespan subscribes; a location is stored against the device registered with its `user/device`; a
command queued over the API reaches the app's `cmd` topic and its answer (a location with t=r) is
recorded; a last will shows the device offline until it is heard again."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import aiomqtt
import pytest

from conftest import Api, _api
from database_kit import Copy
from services import service_unavailable

HOST, PORT = "127.0.0.1", 1883
WAIT_S = 15.0


@pytest.fixture
def phone_server(request: pytest.FixtureRequest, provisioned: Copy) -> Iterator[Api]:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        service_unavailable("Mosquitto", f"{HOST}:{PORT}", exc)
    client_id = f"vigil-test-{uuid.uuid4().hex[:12]}"
    api = _api(request, provisioned, mqtt_url=f"mqtt://{HOST}:{PORT}", mqtt_client_id=client_id)
    api.start()
    try:
        _until(lambda: api.client.get("/health").json()["listeners"]["owntracks"]["connected"], "subscribed")
        yield api
    finally:
        api.stop()


def _until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"waited {WAIT_S} s for {what}")


def _publish(topic: str, message: dict[str, Any]) -> None:
    async def go() -> None:
        async with aiomqtt.Client(HOST, PORT, identifier=f"phone-{uuid.uuid4().hex[:12]}") as client:
            await client.publish(topic, json.dumps(message).encode(), qos=1)

    asyncio.run(go())


def test_a_phone_reports_is_commanded_answers_and_goes_offline(phone_server: Api) -> None:
    api = phone_server
    user = f"u{uuid.uuid4().hex[:10]}"
    identifier = f"{user}/phone"
    api.protected("P1", device=None)
    body = {"kind": "phone", "protocol": "owntracks", "identifier": identifier, "person_id": "P1"}
    assert api.put("/v1/devices/PH-1", body).status_code == 201
    topic = f"owntracks/{identifier}"
    now = int(api.clock().timestamp())

    _publish(topic, {"_type": "location", "lat": api.HOME_LAT, "lon": api.HOME_LON, "acc": 12, "tst": now})
    _until(lambda: api.fixes_of("PH-1"), "the location to be stored")
    assert api.get("/v1/devices/PH-1").json()["online"] is True

    # A command reaches the app's cmd topic; its answer is a location marked t=r.
    received: list[dict[str, Any]] = []

    async def listen_and_command() -> None:
        async with aiomqtt.Client(HOST, PORT, identifier=f"app-{uuid.uuid4().hex[:12]}") as client:
            await client.subscribe(f"{topic}/cmd", qos=1)
            r = await asyncio.to_thread(api.post, "/v1/devices/PH-1/commands", {"type": "locate"})
            assert r.status_code == 201, r.text
            async with asyncio.timeout(WAIT_S):
                async for message in client.messages:
                    received.append(json.loads(bytes(message.payload)))
                    return

    asyncio.run(listen_and_command())
    assert received == [{"_type": "cmd", "action": "reportLocation"}]
    (command,) = api.get("/v1/devices/PH-1/commands").json()
    _until(lambda: _status(api, command["id"]) == "sent", "the command to be sent")
    _publish(topic, {"_type": "location", "lat": api.HOME_LAT, "lon": api.HOME_LON, "tst": now + 5, "t": "r"})
    _until(lambda: _status(api, command["id"]) == "acknowledged", "the answer to be recorded")

    # Its last will: offline until it is heard again.
    _publish(topic, {"_type": "lwt", "tst": now - 3600})
    _until(lambda: api.get("/v1/devices/PH-1").json()["online"] is False, "the device to show offline")
    _publish(topic, {"_type": "location", "lat": api.HOME_LAT, "lon": api.HOME_LON, "tst": now + 10})
    _until(lambda: api.get("/v1/devices/PH-1").json()["online"] is True, "the device to be back online")


def _status(api: Api, command_id: str) -> str:
    return str({c["id"]: c for c in api.get("/v1/devices/PH-1/commands").json()}[command_id]["status"])


def test_an_unknown_phone_is_refused_and_nothing_is_stored(phone_server: Api) -> None:
    api = phone_server
    _publish(
        f"owntracks/nobody{uuid.uuid4().hex[:8]}/phone",
        {"_type": "location", "lat": 37.5, "lon": 127.0, "tst": 1},
    )
    _until(
        lambda: api.client.app.state.services.gateway.admission.refusals[("owntracks", "unknown identifier")],
        "the refusal to be counted",
    )
