"""The fallback channel: when a push has not got through for too long, a person must hear of it by
another way (an SMS to the duty officer through an HTTP gateway). Pluggable; logs by default."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    alert_id: str
    target_id: str
    text: str  # plain words for a person, without personal data beyond the alert id


class Fallback(Protocol):
    async def send(self, notice: Notice) -> None: ...


class LogFallback:
    """The default: an ERROR line that log monitoring picks up."""

    async def send(self, notice: Notice) -> None:
        log.error("FALLBACK alert=%s target=%s: %s", notice.alert_id, notice.target_id, notice.text)


class HttpFallback:
    """POSTs {"alert", "target", "text"} as JSON to a gateway (e.g. an SMS service's HTTP API)."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self._url = url
        self._client = client

    async def send(self, notice: Notice) -> None:
        body = {"alert": notice.alert_id, "target": notice.target_id, "text": notice.text}
        try:
            answer = await self._client.post(self._url, json=body)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            # The last resort failed too: the operators' alarm on the dashboard still stands.
            log.error("fallback gateway failed for alert %s: %s", notice.alert_id, exc)
            await LogFallback().send(notice)
