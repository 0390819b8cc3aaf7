"""The demo's dispatch desks: the receiving end of a 112 centre and of a probation service, on loopback.

`vigil demo` registers them as its dispatch targets, so that the automatic push and the answers to
it can be seen in an alert's detail. Each desk takes a push as a real dispatch system would: it
checks the Standard Webhooks signature with its own secret (the reference library's check, not
Vigil's; a push that fails it is answered 401 and never acted on), counts a retried webhook-id once,
and answers 200 at once. Then it reports back on Vigil's signed callback (docs/dispatch.md):

* `received`, for every push that opens or escalates an alert: its receipt, which acknowledges the
  push, so Vigil does not escalate to another target;
* from the police desk, for the alerts that call for a unit (a proximity or zone violation, a cut
  strap, an SOS), `units_assigned` with a patrol a few seconds later: the alert moves to dispatched
  and the unit is named on its timeline.

Nothing leaves the machine: the desks listen on 127.0.0.1 and call back the demo's own server.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from vigil.dispatch import signing

# The alerts a police desk sends a unit to (the kinds Vigil asks dispatch to acknowledge).
UNIT_KINDS = frozenset({"proximity_violation", "zone_violation", "tamper", "sos"})
RECEIPT_TYPES = frozenset({"org.vigil.alert.opened", "org.vigil.alert.escalated"})


@dataclass(frozen=True, slots=True)
class Desk:
    """One dispatch target: its id in Vigil's registry, its name there, its agency, its secret, and
    the unit it sends (police; none for a desk that only gives receipts)."""

    target_id: str
    name: str
    agency: str  # police | probation
    path: str  # where it listens on the receiver, e.g. /112
    unit: str | None = None
    secret: str = field(default_factory=signing.new_secret)

    def registration(self, base: str) -> dict[str, Any]:
        """The body of `PUT /v1/dispatch/targets/<target_id>` that makes it a target of every area."""
        return {
            "name": self.name,
            "url": base + self.path,
            "agency": self.agency,
            "codes": [],
            "secret": self.secret,
            "formats": ["cap", "eido"],
            "priority": 1,
        }


def demo_desks() -> tuple[Desk, Desk]:
    return (
        Desk("demo-112", "112 종합상황실 (demo)", "police", "/112", unit="순찰 12 / Patrol 12"),
        Desk("demo-probation", "보호관찰소 (demo)", "probation", "/probation"),
    )


@dataclass(slots=True)
class Tally:
    verified: int = 0  # pushes whose signature held (a retry of one webhook-id to a desk counted once)
    refused: int = 0  # pushes refused for their signature
    reported: int = 0  # reports Vigil accepted (200)
    report_errors: list[str] = field(default_factory=list)  # reports Vigil refused, and why


class Desks:
    """A raw ASGI app serving every desk at its path, and the reports it then sends back to Vigil."""

    def __init__(self, desks: Iterable[Desk], vigil_url: str, *, unit_after_s: float = 8.0) -> None:
        self.desks = {d.path: d for d in desks}
        self._hooks = {d.path: Webhook(d.secret) for d in self.desks.values()}
        self.vigil_url = vigil_url.rstrip("/")
        self.unit_after_s = unit_after_s
        self.tally = Tally()
        self._seen: set[tuple[str, str]] = set()  # (target, webhook-id): one change goes to each target
        self._units_sent: set[tuple[str, str]] = set()  # (target, alert)
        self._pending: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._case = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        desk = self.desks.get(scope["path"])
        if scope["method"] != "POST" or desk is None:
            status, answer = 404, b'{"error": "no such desk"}'
        else:
            status, answer = self._push(desk, body, scope["headers"])
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def _push(self, desk: Desk, body: bytes, raw: Iterable[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
        try:
            event = self._hooks[desk.path].verify(body, headers)
        except (WebhookVerificationError, ValueError):
            self.tally.refused += 1
            return 401, b'{"error": "bad signature"}'
        seen = (desk.target_id, headers["webhook-id"])
        if seen in self._seen:
            return 200, b'{"duplicate": true}'
        self._seen.add(seen)
        self.tally.verified += 1
        if isinstance(event, dict):
            self._answer(desk, event)
        return 200, b'{"ok": true}'

    def _answer(self, desk: Desk, event: dict[str, Any]) -> None:
        """What the desk reports back about this push (sent after the 200, off the request)."""
        alert_id = str(event.get("subject", ""))
        alert = (event.get("data") or {}).get("alert") or {}
        if not alert_id or event.get("type") not in RECEIPT_TYPES:
            return
        self._later(0.0, desk, {"alert": alert_id, "status": "received"})
        key = (desk.target_id, alert_id)
        if desk.unit and alert.get("kind") in UNIT_KINDS and key not in self._units_sent:
            self._units_sent.add(key)
            self._case += 1
            ref = f"DEMO-{datetime.now(UTC):%y%m%d}-{self._case:04d}"
            report = {"alert": alert_id, "status": "units_assigned", "units": [desk.unit], "incident": ref}
            self._later(self.unit_after_s, desk, report)

    def _later(self, delay_s: float, desk: Desk, report: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._report(delay_s, desk, report))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _report(self, delay_s: float, desk: Desk, report: dict[str, Any]) -> None:
        await asyncio.sleep(delay_s)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        body = json.dumps({**report, "at": datetime.now(UTC).isoformat()}).encode()
        message_id = f"desk_{secrets.token_hex(12)}"
        headers = signing.headers(desk.secret, message_id, datetime.now(UTC), body)
        url = f"{self.vigil_url}/v1/dispatch/callbacks/{desk.target_id}"
        try:
            r = await self._client.post(
                url, content=body, headers={**headers, "content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            self.tally.report_errors.append(f"{report['status']} {report['alert']}: {exc}")
            return
        if r.status_code == 200:
            self.tally.reported += 1
        else:  # e.g. 409: the operator closed the alert before the unit was named
            self.tally.report_errors.append(f"{report['status']} {report['alert']}: {r.status_code}")

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
