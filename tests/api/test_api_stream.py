"""The live WebSocket stream: authentication, what a viewer receives, filters, and slow viewers.

Messages are awaited in order rather than with timeouts: to show that something was *not* sent, the
test sends it first and then something that must arrive, and checks that the latter comes next (the
hub publishes committed batches in order)."""

from __future__ import annotations

import pytest
from api_kit import WATCH, features
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.timeout(60)  # a message that never comes must not hang the run

POLICY = 1008
TOO_SLOW = 4008


def connect(api, who: str = "operator", watch: bool = True, **params: str):
    """The stream as `who`; `watch` states the control centre's purpose, as its app does."""
    stated = WATCH if watch else {}
    query = "&".join(f"{k}={v}" for k, v in {"token": api.tokens[who], **stated, **params}.items())
    return api.client.websocket_connect(f"/v1/stream?{query}")


def hello(ws) -> dict:
    message = ws.receive_json()
    assert message["type"] == "hello", message
    return message


def position_of(message: dict) -> tuple[str, float]:
    assert message["type"] == "position", message
    feature = message["feature"]
    return feature["properties"]["person"], feature["geometry"]["coordinates"][1]


@pytest.mark.parametrize(
    "url",
    ["/v1/stream", "/v1/stream?token=vgl_nonsense", "/v1/stream?token="],
    ids=["no-token", "unknown-token", "empty-token"],
)
def test_stream_refuses_without_a_valid_token(app_client, url):
    with pytest.raises(WebSocketDisconnect) as refused, app_client.client.websocket_connect(url) as ws:
        ws.receive_json()  # accepted, then closed with the reason
    assert refused.value.code == POLICY


@pytest.mark.parametrize("who", ["gateway", "admin", "auditor", "protected_person"])
def test_stream_refuses_roles_that_may_not_watch(app_client, who):
    with pytest.raises(WebSocketDisconnect) as refused, connect(app_client, who) as ws:
        ws.receive_json()  # accepted, then closed with the reason
    assert refused.value.code == POLICY


def test_stream_refuses_an_unknown_alert_filter(app_client):
    with pytest.raises(WebSocketDisconnect) as refused, connect(app_client, alert="no-such-alert") as ws:
        ws.receive_json()  # accepted, then closed with the reason
    assert refused.value.code == POLICY


def test_operator_receives_positions_and_alert_changes(app_client):
    api = app_client
    alert_id = api.violation()
    with connect(api) as ws:
        assert hello(ws) == {"type": "hello", "subject": None, "alert": None}
        assert api.send(api.fix("AM-1", api.north(10), seconds=-1)).status_code == 200
        change = ws.receive_json()
        assert change["type"] == "alert"
        assert (change["change"], change["alert"]["id"], change["alert"]["kind"]) == (
            "updated",
            alert_id,
            "proximity_violation",
        )
        batch = ws.receive_json()  # the whole map: positions come batched, after the change
        assert batch["type"] == "positions"
        [feature] = features(batch)
        assert position_of({"type": "position", "feature": feature}) == ("S1", pytest.approx(api.north(10)))
        assert feature["geometry"]["type"] == "Point"
        assert feature["properties"]["device"] == "AM-1"
        # a person's step is published too
        assert api.post(f"/v1/alerts/{alert_id}/steps", {"state": "acknowledged"}).status_code == 200
        change = ws.receive_json()
        assert (change["change"], change["actor"], change["alert"]["state"]) == (
            "acknowledged",
            "u-operator",
            "acknowledged",
        )


def test_subject_filter_receives_only_that_subject(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    api.subject("S2", "AM-2")
    with connect(api, subject="S1") as ws:
        assert hello(ws)["subject"] == "S1"
        assert api.send(api.fix("AM-2", 37.62, seconds=-3)).status_code == 200
        assert api.send(api.fix("AM-1", 37.61, seconds=-3)).status_code == 200
        # moves a second apart that a car could make (an impossible one moves no one)
        assert api.send(api.fix("AM-2", 37.6206, seconds=-2)).status_code == 200
        assert api.send(api.fix("AM-1", 37.6106, seconds=-2)).status_code == 200
        assert position_of(ws.receive_json()) == ("S1", 37.61)
        assert position_of(ws.receive_json()) == ("S1", 37.6106)


def test_alert_filter_receives_that_alert_and_its_parties(app_client):
    api = app_client
    first = api.violation("O1", "S1", "P1", "AM-1", "W-1")
    second = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    with connect(api, alert=first) as ws:
        assert hello(ws)["alert"] == first
        assert api.post(f"/v1/alerts/{second}/steps", {"state": "acknowledged"}).status_code == 200
        assert api.send(api.fix("W-2", api.HOME_LAT, seconds=-2)).status_code == 200
        assert api.send(api.fix("W-1", api.HOME_LAT, seconds=-2)).status_code == 200
        assert position_of(ws.receive_json()) == ("P1", api.HOME_LAT)
        assert api.post(f"/v1/alerts/{first}/steps", {"state": "dispatched"}).status_code == 200
        change = ws.receive_json()
        assert (change["type"], change["alert"]["id"], change["change"]) == ("alert", first, "dispatched")


@pytest.mark.app_settings(stream_queue=10, stream_batch_s=0)
def test_a_slow_viewer_is_dropped_and_the_server_keeps_serving(app_client):
    """A viewer that cannot take a burst larger than its queue is dropped with 4008; the others, the
    API and new viewers carry on. (Unbatched: each fix its own message, as filtered viewers get.)"""
    api = app_client
    api.subject("S1", "AM-1")
    api.subject("S2", "AM-2")
    burst = [api.fix("AM-1", 37.6 + i / 10_000, seconds=-60 + i) for i in range(25)]
    with connect(api) as slow, connect(api, subject="S2") as other:
        hello(slow)
        hello(other)
        assert api.send(burst).json()["stored"] == 25  # 25 positions in one commit, queue of 10
        assert api.send(api.fix("AM-2", 37.7, seconds=-1)).status_code == 200
        # commits are published in order, so once this arrives the burst has been offered too
        assert position_of(other.receive_json()) == ("S2", 37.7)
        assert api.hub.dropped >= 1
        assert len(api.hub.viewers) == 1
        received = 0
        with pytest.raises(WebSocketDisconnect) as dropped:
            while True:
                slow.receive_json()
                received += 1
        assert dropped.value.code == TOO_SLOW
        assert received < 10
    with connect(api) as fresh:
        hello(fresh)
        assert api.send(api.fix("AM-1", 37.6026, seconds=0)).status_code == 200
        assert position_of(fresh.receive_json()) == ("S1", 37.6026)
    assert api.get("/v1/positions", params=WATCH).status_code == 200
