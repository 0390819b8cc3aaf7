"""GET /metrics: how this server runs, in the Prometheus text format (vigil/metrics.py says what).

No personal data is in it, but it shows operational state an attacker would like to have (which
listeners are down, how far dispatch is behind, how many critical alerts wait), so it is not public.
It is served to:

* the scraper, with the token set in `VIGIL_METRICS_TOKEN`, sent as `Authorization: Bearer …`
  only (never in the query string, where proxies and logs keep it); compared in constant time.
  Its scrapes are not audited: it is no one's account and reads no one's data.
* an admin's own token (a look by hand), checked and audited like every other call.

Anything else is refused as the rest of the API refuses: 401 without a token or with one that is not
known, 403 for another role.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from vigil.api import deps
from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action

router = APIRouter(tags=["system"])
# The classic text format (0.0.4), which every Prometheus version reads; Vigil's names need no escaping.
TEXT_FORMAT = CONTENT_TYPE_PLAIN_0_0_4
SCRAPER = "scrape token"
NOT_READY = "the server is starting: no metrics yet"


def scrape_token(request: Request) -> bool:
    """Whether the call carries the configured scrape token in its Authorization header."""
    expected = deps.services(request).settings.metrics_token
    header = request.headers.get("authorization", "")
    if expected is None or header[:7].lower() != "bearer ":
        return False
    given = header[7:].strip().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(given, expected.get_secret_value().encode("utf-8", "surrogatepass"))


def scraper_or(action: Action) -> Callable[[Request], str]:
    """A dependency: who scrapes. The scraper's token, else an account whose role may take `action`
    (checked and audited by `require`: 401/403 otherwise). A plain function, so FastAPI runs it on
    a worker thread: `require` waits for the audit write."""

    def dependency(request: Request) -> str:
        if scrape_token(request):
            return SCRAPER
        return require(action)(request).id

    return dependency


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {TEXT_FORMAT: {}}, "description": "Prometheus text format"}},
)
async def metrics(services: Wired, _: Annotated[str, Depends(scraper_or(Action.METRICS))]) -> Response:
    """Counters and gauges of this server (reports by channel, the writer, alerts by kind, the
    dispatch outbox, device listeners, live streams, the process), for Prometheus. Bearer: the
    scrape token (`VIGIL_METRICS_TOKEN`) or an admin's token. Read on the event loop, where most of
    what it reads lives (docs/architecture.md, "Metrics")."""
    registry = services.metrics
    if registry is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NOT_READY)
    return Response(generate_latest(registry), media_type=TEXT_FORMAT)
