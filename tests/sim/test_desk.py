"""The demo's dispatch desks take a push as a real receiver would: a bad signature is refused (401)
and never answered, a retried webhook-id is counted once (per desk: one alert change goes to every
target under the same id), and a violation gets a receipt from each desk and a unit from the
police, on the signed callback, which Vigil's own check accepts."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from vigil.dispatch import signing
from vigil_sim.desk import Desk, Desks

POLICE = Desk("demo-112", "112", "police", "/112", unit="Patrol 12")
PROBATION = Desk("demo-probation", "probation", "probation", "/probation")


class _Vigil:
    """Stands in for the server's callback route: checks each report's signature as it does."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        target = request.url.path.removeprefix("/v1/dispatch/callbacks/")
        desk = {d.target_id: d for d in (POLICE, PROBATION)}[target]
        signing.verify(desk.secret, request.headers, request.content, datetime.now(UTC))
        self.reports.append((target, json.loads(request.content)))
        return httpx.Response(200, json={"alert": "a-1", "state": "dispatched", "duplicate": False})


def _push(
    desk: Desk, message_id: str, kind: str, *, secret: str | None = None
) -> tuple[bytes, dict[str, str]]:
    event = {
        "id": message_id,
        "type": "org.vigil.alert.escalated",
        "subject": "a-1",
        "data": {"alert": {"kind": kind}},
    }
    body = json.dumps(event).encode()
    return body, signing.headers(secret or desk.secret, message_id, datetime.now(UTC), body)


def test_the_desks_verify_each_push_and_answer_it() -> None:
    async def run() -> tuple[Desks, _Vigil, list[int]]:
        vigil = _Vigil()
        desks = Desks([POLICE, PROBATION], "http://vigil.test", unit_after_s=0.01)
        desks._client = httpx.AsyncClient(transport=httpx.MockTransport(vigil))
        statuses = []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=desks), base_url="http://desk"
        ) as client:
            forged, headers = _push(POLICE, "msg_1", "proximity_violation", secret=signing.new_secret())
            statuses.append((await client.post("/112", content=forged, headers=headers)).status_code)
            body, headers = _push(POLICE, "msg_2", "proximity_violation")
            for _ in range(2):  # a retry of the same push
                statuses.append((await client.post("/112", content=body, headers=headers)).status_code)
            statuses.append((await client.post("/nowhere", content=body, headers=headers)).status_code)
            body, headers = _push(PROBATION, "msg_2", "proximity_violation")  # the same change, to probation
            statuses.append((await client.post("/probation", content=body, headers=headers)).status_code)
        for _ in range(200):
            if len(vigil.reports) >= 3:
                break
            await asyncio.sleep(0.01)
        await desks.aclose()
        return desks, vigil, statuses

    desks, vigil, statuses = asyncio.run(run())
    assert statuses == [401, 200, 200, 404, 200]
    assert (desks.tally.verified, desks.tally.refused, desks.tally.reported) == (2, 1, 3)
    assert sorted((target, r["status"]) for target, r in vigil.reports) == [
        ("demo-112", "received"),
        ("demo-112", "units_assigned"),
        ("demo-probation", "received"),
    ]
    [unit] = [r for _, r in vigil.reports if r["status"] == "units_assigned"]
    assert unit["units"] == ["Patrol 12"] and all(r["alert"] == "a-1" for _, r in vigil.reports)
