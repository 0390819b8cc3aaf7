"""Security headers on every HTTP response, the edge's own refusals included, as one ASGI
middleware (the outermost: whatever answers, the headers go out). API responses are never cached."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Paths of the interactive API documentation (FastAPI's Swagger UI and ReDoc load from a CDN).
DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


class SecurityHeaders:
    """The headers every HTTP response carries. The Content-Security-Policy fits the shipped web
    apps: everything from this origin, images also as data: URLs and from the tile server if one is
    set, WebSockets to this host. Inline style attributes are allowed (style-src-attr: the apps set
    a few, e.g. the field terminal's heading arrow); inline scripts, other origins and framing are not.

    tile_url: the map tiles' URL template (their server is allowed as an image source);
    public_url: where people reach this server (https: browsers are told to keep to HTTPS);
    blob_images: images from blob: URLs too (raster tiles read from Vigil's own PMTiles archive are
    handed to their <img> as blobs made in the page)."""

    def __init__(
        self,
        app: ASGIApp,
        tile_url: str | None = None,
        public_url: str | None = None,
        blob_images: bool = False,
    ) -> None:
        self.app = app
        tiles = tile_source(tile_url)
        self._img = " ".join(
            ["'self'", "data:", *(["blob:"] if blob_images else []), *([tiles] if tiles else [])]
        )
        self._hsts = _is_https(public_url)
        self._csp: dict[str, str] = {}
        self._docs_csp = (
            "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )

    def policy(self, host: str | None) -> str:
        """The CSP for a page served under `host` (the Host header, if it is a plain host[:port])."""
        key = host if host is not None and _HOST.match(host) else ""
        found = self._csp.get(key)
        if found is None:
            sockets = f" ws://{key} wss://{key}" if key else ""
            found = (
                f"default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
                f"img-src {self._img}; connect-src 'self'{sockets}; font-src 'self'; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
            )
            if len(self._csp) > 100:
                self._csp.clear()
            self._csp[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = self._wrap(scope, send)
        await self.app(scope, receive, send)

    def _wrap(self, scope: Scope, send: Send) -> Send:
        path: str = scope.get("path", "")
        api = path.startswith(("/v1/", "/osmand"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                host = None
                for name, value in scope.get("headers", ()):
                    if name == b"host":
                        host = value.decode("latin-1")
                        break
                csp = self._docs_csp if path in DOCS_PATHS else self.policy(host)
                headers.setdefault("content-security-policy", csp)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "no-referrer")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("permissions-policy", "geolocation=(self), camera=(), microphone=()")
                headers.setdefault("cross-origin-opener-policy", "same-origin")
                if self._hsts:
                    headers.setdefault("strict-transport-security", "max-age=31536000")
                if api:
                    headers["cache-control"] = "no-store"
            await send(message)

        return send_with_headers


def tile_source(tile_url: str | None) -> str | None:
    """The CSP source of a tile URL template: https://{s}.tile.example/{z}/{x}/{y}.png ->
    https://*.tile.example."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "sub"))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    netloc = parts.netloc
    if "{s}" in tile_url and netloc.startswith("sub."):
        netloc = "*." + netloc[len("sub.") :]
    if not re.fullmatch(r"[A-Za-z0-9.*\-]+(:[0-9]{1,5})?", netloc):
        return None
    return f"{parts.scheme}://{netloc}"


def _is_https(url: str | None) -> bool:
    return url is not None and urlsplit(url).scheme.lower() == "https"
