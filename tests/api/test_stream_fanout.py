"""The stream's fan-out (api/streams.py Hub): one encoding per change shared by every viewer, the
whole map's positions batched (newest per person, flushed before an alert), what a slow viewer may
hold, and the victim's own view untouched by any of it.

The hub is driven directly with committed batches (`Published`) on an event loop, as the writer's
hand-off does; the last test goes through the real app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_kit import HOME_LAT, WATCH, features, north
from starlette.websockets import WebSocketDisconnect

from vigil.api import streams
from vigil.api.policy import Scope
from vigil.api.stream_areas import Tally
from vigil.api.streams import Hub, Viewer
from vigil.domain.alerts import Alert, AlertChange, AlertKey, AlertKind, AlertState, Change, Facts
from vigil.domain.model import Fix, Role, protected_ref, subject_ref
from vigil.processor import PositionUpdate, Published
from vigil.store.accounts import Principal, create_user, issue_token

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
EVERYTHING = Scope(everything=True)
OPERATOR = Principal("u-op", Role.OPERATOR)


def position(person: str, seconds: float, lat: float = 37.6, kind: str = "subject") -> PositionUpdate:
    device = ("AM-" if kind == "subject" else "W-") + person
    return PositionUpdate(person, kind, Fix(device, T0 + timedelta(seconds=seconds), lat, 127.2))


def change(alert_id: str = "A1", subject: str = "S1", state: AlertState = AlertState.OPEN) -> AlertChange:
    alert = Alert(
        id=alert_id,
        key=AlertKey("proximity", subject, "P1"),
        kind=AlertKind.PROXIMITY_VIOLATION,
        state=state,
        active=True,
        opened_at=T0,
        updated_at=T0,
        facts=Facts(),
        subject_id=subject,
        protected_person_id="P1",
    )
    return AlertChange(alert, Change.OPENED, T0)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def queued(viewer: Viewer) -> list[Any]:
    """What the viewer's sender would send next, rendered as it would render it (and so taken)."""
    out = []
    while not viewer.queue.empty():
        item = viewer.queue.get_nowait()
        text = item if isinstance(item, str) or item is None else viewer.take(item)
        if text is not None:
            out.append(json.loads(text) if isinstance(text, str) else text)
    return out


def shown(message: dict[str, Any]) -> list[tuple[str, float]]:
    return [(f["properties"]["person"], f["geometry"]["coordinates"][1]) for f in features(message)]


def test_each_change_is_encoded_once_and_the_text_shared_by_every_viewer(monkeypatch):
    calls: list[Any] = []
    encode = streams.encode

    def counting(value: Any) -> str:
        calls.append(value)
        return encode(value)

    monkeypatch.setattr(streams, "encode", counting)

    async def body() -> None:
        hub = Hub(100, batch_s=10.0)  # no flush by the timer during the test
        whole = [hub.join(OPERATOR, EVERYTHING, subject=None, alert=None, people=set()) for _ in range(5)]
        people = {subject_ref("S1"), protected_ref("P1")}
        filtered = [hub.join(OPERATOR, EVERYTHING, subject="S1", alert=None, people=people) for _ in range(5)]
        hub.publish(Published(alerts=[change()], positions=[position("S1", 1), position("S2", 1)]))
        assert len(calls) == 3  # one alert change, two positions: whatever the number of viewers
        alert_texts = {id(v.queue.get_nowait()) for v in whole + filtered}
        assert len(alert_texts) == 1  # the very same str object in every queue
        singles = {id(v.queue.get_nowait()) for v in filtered}
        assert len(singles) == 1 and all(v.queue.empty() for v in filtered)  # S2 is not theirs
        held = {id(v.gathering[("subject", "S1")][1]) for v in whole}
        assert len(held) == 1  # the feature encoded once, held by each whole-map viewer
        hub.flush()
        bodies = [queued(v) for v in whole]
        assert all(b == bodies[0] for b in bodies) and len(calls) == 3
        [batch] = bodies[0]
        assert batch["type"] == "positions" and sorted(shown(batch)) == [("S1", 37.6), ("S2", 37.6)]

    run(body)


def test_a_batch_keeps_the_newest_position_per_person_and_goes_before_an_alert():
    async def body() -> None:
        hub = Hub(100, batch_s=10.0)
        viewer = hub.join(OPERATOR, EVERYTHING, subject=None, alert=None, people=set())
        hub.publish(
            Published(positions=[position("S1", 1, 37.61), position("P1", 1, 37.5, "protected_person")])
        )
        hub.publish(Published(positions=[position("S1", 3, 37.63)]))
        hub.publish(Published(positions=[position("S1", 2, 37.62)]))  # late: older than the one held
        assert viewer.queue.empty()  # nothing sent before the window ends...
        hub.publish(Published(alerts=[change()], positions=[position("S1", 4, 37.64)]))
        # ...except for an alert: what was gathered goes first, then the change; the position
        # committed with the alert waits for the next flush
        first, second = queued(viewer)
        assert sorted(shown(first)) == [("P1", 37.5), ("S1", 37.63)]
        assert second["type"] == "alert" and second["alert"]["id"] == "A1"
        hub.flush()
        [third] = queued(viewer)
        assert shown(third) == [("S1", 37.64)]
        assert viewer.held == {} and viewer.gathering == {}

    run(body)


def test_the_timer_flushes_the_window_at_most_every_batch_s():
    async def body() -> None:
        hub = Hub(100, batch_s=0.05)
        viewer = hub.join(OPERATOR, EVERYTHING, subject=None, alert=None, people=set())
        for i in range(20):
            hub.publish(Published(positions=[position("S1", i, 37.6 + i / 1000)]))
        message = await asyncio.wait_for(viewer.queue.get(), timeout=5.0)
        assert isinstance(message, dict)
        text = viewer.take(message)
        assert text is not None and shown(json.loads(text)) == [("S1", pytest.approx(37.619))]

    run(body)


def test_batched_viewers_see_only_their_scope():
    """A dispatcher's whole map: the parties of the alerts it follows, batched, and no one else."""

    async def body() -> None:
        hub = Hub(100, batch_s=10.0)
        scope = Scope(areas=("31",), followed={"A1": frozenset({subject_ref("S1"), protected_ref("P1")})})
        dispatcher = Principal("u-d", Role.POLICE_DISPATCHER, areas=("31",))
        viewer = hub.join(dispatcher, scope, subject=None, alert=None, people=set())
        assert viewer.batched
        hub.publish(
            Published(
                positions=[
                    position("S1", 1),
                    position("P1", 1, 37.5, "protected_person"),
                    position("S2", 1),
                    position("P2", 1, 37.4, "protected_person"),
                    position("S1", 1, kind="protected_person"),  # the same id as another kind: not his
                ]
            )
        )
        hub.flush()
        [batch] = queued(viewer)
        kinds = {(f["properties"]["person"], f["properties"]["person_kind"]) for f in features(batch)}
        assert kinds == {("S1", "subject"), ("P1", "protected_person")}

    run(body)


def test_a_slow_viewer_holds_at_most_two_positions_per_person_and_is_dropped_when_its_queue_fills():
    def positions_held(viewer: Viewer) -> int:
        batches = [item for item in viewer.queue._queue if isinstance(item, dict)]  # type: ignore[attr-defined]
        return sum(len(b) for b in batches) + len(viewer.gathering)

    async def body() -> None:
        hub = Hub(100, batch_s=10.0)
        slow = hub.join(OPERATOR, EVERYTHING, subject=None, alert=None, people=set())
        people = [f"S{i}" for i in range(50)]
        for second in range(200):  # never read: 200 windows of 50 people's positions
            hub.publish(Published(positions=[position(p, second) for p in people]))
            hub.flush()
        # one queued batch (each flush added to it), one position per person
        assert slow.queue.qsize() == 1 and positions_held(slow) == 50
        for second in range(200, 240):  # now an alert change in every window: batches between them
            hub.publish(
                Published(alerts=[change(f"A{second}")], positions=[position(p, second) for p in people])
            )
            hub.flush()
            assert positions_held(slow) <= 2 * len(people)
        assert slow.queue.qsize() == 1 + 2 * 40 and not slow.dropped
        # the newest of each person is what is queued (the older batches gave theirs up)
        newest = {key: batch[key][0] for key, batch in slow.held.items()}
        assert len(newest) == 50 and set(newest.values()) == {T0 + timedelta(seconds=239)}
        for i in range(20):  # alert changes are never coalesced: they fill the queue
            hub.publish(Published(alerts=[change(f"B{i}", people[i])]))
        assert slow.dropped and hub.dropped == 1 and slow not in hub.viewers
        assert slow.held == {} and slow.gathering == {}
        items = list(slow.queue._queue)  # type: ignore[attr-defined]
        assert items[-1] is None  # the sender closes the socket with 4008 when it comes to it

    run(body)


def test_without_batching_every_fix_is_its_own_message():
    async def body() -> None:
        hub = Hub(100, batch_s=0)
        viewer = hub.join(OPERATOR, EVERYTHING, subject=None, alert=None, people=set())
        assert not viewer.batched
        hub.publish(Published(positions=[position("S1", 1), position("S1", 2, 37.7)]))
        assert [m["type"] for m in queued(viewer)] == ["position", "position"]

    run(body)


# --- through the app --------------------------------------------------------------------------------


def test_the_victims_view_keeps_its_limits_while_the_whole_map_streams_him(app_client):
    """Operators' batches carry his full position; her own app's answer still shows him only within
    her order's view (600 m), and never the map's rendering. She may not open the stream at all."""
    api = app_client
    with api.db.begin() as conn:
        create_user(
            conn, user_id="u-p1", name="P1", role=Role.PROTECTED_PERSON, now=api.clock(), person_id="P1"
        )
        token = issue_token(conn, role=Role.PROTECTED_PERSON, now=api.clock(), user_id="u-p1")
    her = {"Authorization": f"Bearer {token}"}
    api.subject("S1", "AM-1")
    api.protected("P1", None)
    assert api.put("/v1/devices/PH-1", {"kind": "phone", "person_id": "P1"}).status_code == 201
    assert api.order("O1").status_code == 201
    assert api.send([api.fix("PH-1", HOME_LAT)]).status_code == 200
    query = "&".join(f"{k}={v}" for k, v in {"token": api.tokens["operator"], **WATCH}.items())
    with api.client.websocket_connect(f"/v1/stream?{query}") as ws:
        assert ws.receive_json()["type"] == "hello"
        for metres, near in ((800, False), (400, True)):
            api.clock.advance(30)
            assert api.send([api.fix("AM-1", north(metres))]).status_code == 200
            seen: list[tuple[str, float]] = []
            while ("S1", pytest.approx(north(metres))) not in seen:
                seen = shown(ws.receive_json())
            status = api.client.get("/v1/me/status", headers=her).json()
            text = json.dumps(status)
            assert "Feature" not in text and "AM-1" not in text  # not the map's rendering
            if near:
                [him] = status["offenders"]
                assert him["lat"] == pytest.approx(north(400)) and him["compass"] == "N"
            else:
                assert status["offenders"] == [{"band": "warning", "from_m": 600, "to_m": 1000}]
                assert f"{north(800):.4f}"[:7] not in text
    victim_query = f"token={token}&{'&'.join(f'{k}={v}' for k, v in WATCH.items())}"
    with (
        api.client.websocket_connect(f"/v1/stream?{victim_query}") as ws,
        pytest.raises(Exception) as refused,
    ):
        ws.receive_json()
    assert getattr(refused.value, "code", None) == 1008


# --- the whole map at national zoom: counts per municipality ------------------------------------------

HOME_CODE, SEOUL_CODE = "31130", "11010"  # Namyangju (HOME), Jongno-gu
SEOUL_LAT, SEOUL_LON = 37.5730, 126.9794


def test_a_tally_counts_people_per_municipality_and_says_only_what_changed():
    tally = Tally()
    tally.place(("subject", "S1"), T0, HOME_CODE)
    tally.place(("protected_person", "P1"), T0, HOME_CODE)
    tally.place(("subject", "S2"), T0, SEOUL_CODE)
    first = json.loads(tally.take() or "")
    assert first == {
        "type": "areas",
        "areas": {HOME_CODE: {"subject": 1, "protected_person": 1}, SEOUL_CODE: {"subject": 1}},
    }
    assert tally.take() is None  # nothing changed since
    tally.place(("subject", "S1"), T0 + timedelta(seconds=5), HOME_CODE)  # moved within: no news
    assert tally.take() is None
    tally.place(("subject", "S2"), T0 + timedelta(seconds=9), HOME_CODE)
    tally.place(("subject", "S2"), T0 + timedelta(seconds=8), SEOUL_CODE)  # late: ignored
    assert json.loads(tally.take() or "")["areas"] == {
        HOME_CODE: {"subject": 2, "protected_person": 1},
        SEOUL_CODE: {},  # emptied: said once, as absolute counts always are
    }
    tally.seed(("subject", "S2"), T0, SEOUL_CODE)  # the stream told of him already: the seed loses
    tally.seed(("subject", "S3"), T0, SEOUL_CODE)
    assert json.loads(tally.take() or "")["areas"] == {SEOUL_CODE: {"subject": 1}}
    assert len(tally.where) == 4


def test_an_areas_viewer_has_at_most_one_message_waiting_and_sees_only_its_scope():
    async def body() -> None:
        hub = Hub(10, batch_s=10.0)
        slow = hub.join(OPERATOR, EVERYTHING, subject=None, alert=None, people=set(), areas=True)
        scope = Scope(caseload=frozenset({"S1"}), own=frozenset({subject_ref("S1")}))
        officer = Principal("u-po", Role.PROBATION_OFFICER)
        narrow = hub.join(officer, scope, subject=None, alert=None, people=set(), areas=True)
        assert slow.tally is not None and not slow.batched
        for second in range(100):  # never read
            lat = HOME_LAT if second % 2 else SEOUL_LAT
            lon = 127.2 if second % 2 else SEOUL_LON
            moves = [
                PositionUpdate(p, "subject", Fix(f"AM-{p}", T0 + timedelta(seconds=second), lat, lon))
                for p in ("S1", "S2", "S3")
            ]
            hub.publish(Published(positions=moves))
            hub.flush()
        assert slow.queue.qsize() == 1 and not slow.dropped
        [message] = queued(slow)
        assert message["areas"] == {HOME_CODE: {"subject": 3}, SEOUL_CODE: {}}
        [message] = queued(narrow)
        assert message["areas"] == {HOME_CODE: {"subject": 1}, SEOUL_CODE: {}}

    run(body)


def test_the_areas_view_starts_from_where_everyone_was_and_follows_them(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    api.subject("S2", "AM-2")
    assert api.send([api.fix("AM-1", HOME_LAT), api.fix("AM-2", SEOUL_LAT, SEOUL_LON)]).status_code == 200
    query = "&".join(
        f"{k}={v}" for k, v in {"token": api.tokens["operator"], **WATCH, "view": "areas"}.items()
    )
    with api.client.websocket_connect(f"/v1/stream?{query}") as ws:
        assert ws.receive_json()["type"] == "hello"
        first = ws.receive_json()
        assert first == {"type": "areas", "areas": {HOME_CODE: {"subject": 1}, SEOUL_CODE: {"subject": 1}}}
        api.clock.advance(7200)  # 25 km in two hours: a move he could make
        assert api.send([api.fix("AM-2", HOME_LAT)]).status_code == 200
        message = ws.receive_json()
        while message["type"] != "areas":
            message = ws.receive_json()
        assert message["areas"] == {HOME_CODE: {"subject": 2}, SEOUL_CODE: {}}


@pytest.mark.parametrize("params", ["view=areas&subject=S1", "view=everything"], ids=["filtered", "unknown"])
def test_the_areas_view_is_of_the_whole_map_only(app_client, params):
    api = app_client
    api.subject("S1", "AM-1")
    query = "&".join(f"{k}={v}" for k, v in {"token": api.tokens["operator"], **WATCH}.items())
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        api.client.websocket_connect(f"/v1/stream?{query}&{params}") as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 1008 and "view=" in refused.value.reason
