"""A Nominatim-compatible geocoder on loopback: the stand-in for a deployment's self-hosted Nominatim.

It knows a few addresses (`PLACES`), answers /search and /reverse in format=jsonv2 as Nominatim does,
remembers what it was asked, and can be made slow (`delay_s`) or broken (`status`)."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback_kit import LoopbackServer

# address -> (display name, lat, lon)
PLACES: dict[str, tuple[str, float, float]] = {
    "세종대로 110": ("서울특별시청, 110, 세종대로, 중구, 서울특별시, 04524, 대한민국", 37.56647, 126.97796),
    "Sejong-daero 110": (
        "Seoul City Hall, 110, Sejong-daero, Jung-gu, Seoul, 04524, South Korea",
        37.56647,
        126.97796,
    ),
}
REVERSE_NAME = "세종대로 110, 중구, 서울특별시"


class Geocoder(LoopbackServer):
    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.status = 200
        super().__init__()

    @property
    def url(self) -> str:
        return self.base

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        geocoder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                geocoder.asked.append(
                    {"path": parts.path, **query, "accept-language": self.headers.get("Accept-Language")}
                )
                if geocoder.delay_s:
                    time.sleep(geocoder.delay_s)
                if geocoder.status != 200:
                    self._answer(geocoder.status, {"error": "down"})
                    return
                if parts.path == "/search":
                    wanted = " ".join(query.get("q", "").split())
                    found = [
                        {"lat": str(lat), "lon": str(lon), "display_name": name, "category": "place"}
                        for address, (name, lat, lon) in PLACES.items()
                        if wanted and wanted.lower() in address.lower()
                    ]
                    self._answer(200, found)
                elif parts.path == "/reverse":
                    lat, lon = float(query["lat"]), float(query["lon"])
                    if abs(lat - 37.56) < 0.2 and abs(lon - 126.98) < 0.3:
                        self._answer(
                            200, {"lat": query["lat"], "lon": query["lon"], "display_name": REVERSE_NAME}
                        )
                    else:
                        self._answer(200, {"error": "Unable to geocode"})
                else:
                    self._answer(404, {"error": "no such path"})

            def _answer(self, code: int, body: Any) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
