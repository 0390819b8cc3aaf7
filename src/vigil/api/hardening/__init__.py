"""Hardening at the edge, in front of every router: rate limits, body limits and input no store can
hold, security headers, a strict CORS policy, and log redaction of tokens and secrets.

One module per concern, each a plain ASGI middleware (not BaseHTTPMiddleware: WebSockets and
streamed responses pass through untouched except for the connection-time checks): `headers`,
`input_checks`, `rate_limit`; and `redaction`, a log filter. `install(app, settings)` is the one
place they are put in front of the app, in order; a second call is a no-op. See docs/deployment.md
for the settings and how to run behind TLS.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from vigil.api.hardening.headers import SecurityHeaders, tile_source
from vigil.api.hardening.input_checks import BodyChecks, CleanUrl
from vigil.api.hardening.rate_limit import Limit, Limiter, RateLimit, credential
from vigil.api.hardening.redaction import RedactingFilter, install_log_redaction, redact
from vigil.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Add the edge middleware (and CORS when `cors_origins` lists any) and the log filter.

    A request meets them in this order: security headers (on every response, refusals included),
    NUL in the URL, the rate limit, the body checks, CORS, then the app. Starlette runs the
    middleware added last first, so they are added here from the inside out."""
    if getattr(app.state, "hardened", False):
        return
    app.state.hardened = True
    if settings.cors_origins:
        # Inside the rest, so preflights are rate limited and get the security headers too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Purpose", "X-Purpose-Reason"],
            allow_credentials=False,  # tokens travel in the Authorization header, never in cookies
            max_age=600,
        )
    app.add_middleware(BodyChecks, max_body=settings.max_body_bytes)
    app.add_middleware(
        RateLimit,
        device=Limit(settings.rate_device_per_s, settings.rate_device_burst),
        gateway=Limit(settings.rate_gateway_per_s, settings.rate_gateway_burst),
        user=Limit(settings.rate_user_per_s, settings.rate_user_burst),
        anonymous=Limit(settings.rate_anonymous_per_s, settings.rate_anonymous_burst),
        my_position=Limit(settings.rate_my_position_per_s, settings.rate_my_position_burst),
        my_evidence=Limit(settings.rate_my_evidence_per_s, settings.rate_my_evidence_burst),
        max_buckets=settings.rate_max_buckets,
    )
    app.add_middleware(CleanUrl)
    app.add_middleware(
        SecurityHeaders,
        tile_url=settings.tile_url,
        public_url=settings.public_url,
        blob_images=settings.pmtiles is not None,
    )
    install_log_redaction()


__all__ = [
    "BodyChecks",
    "CleanUrl",
    "Limit",
    "Limiter",
    "RateLimit",
    "RedactingFilter",
    "SecurityHeaders",
    "credential",
    "install",
    "install_log_redaction",
    "redact",
    "tile_source",
]
