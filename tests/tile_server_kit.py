"""An XYZ tile server on loopback: the stand-in for a deployment's `VIGIL_TILE_URL`.

It answers /{z}/{x}/{y}.png with a PNG of one colour (SERVER_RGB, so a test can find it in the
report's map), remembers every path it was asked, and can be made slow (`delay_s`), broken
(`status`), or to answer with bytes that are not an image (`garbage`)."""

from __future__ import annotations

import re
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback_kit import LoopbackServer
from pmtiles_kit import png

_TILE = re.compile(r"^/(\d+)/(\d+)/(\d+)\.png$")
SERVER_RGB = (0x2E, 0x8B, 0xC0)  # no other layer of the report's map uses it


class TileServer(LoopbackServer):
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.delay_s = 0.0
        self.status = 200
        self.garbage = False
        super().__init__()

    @property
    def url(self) -> str:
        """The tile URL template, as VIGIL_TILE_URL takes it."""
        return f"{self.base}/{{z}}/{{x}}/{{y}}.png"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.asked.append(self.path)
                if server.delay_s:
                    time.sleep(server.delay_s)
                found = _TILE.match(self.path)
                if found is None:
                    self._answer(404, b"no such tile")
                elif server.status != 200:
                    self._answer(server.status, b"down")
                elif server.garbage:
                    self._answer(200, b"<html>not a tile</html>")
                else:
                    self._answer(200, png(SERVER_RGB))

            def _answer(self, code: int, data: bytes) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "image/png" if code == 200 else "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (out of time)
                    pass

        return Handler
