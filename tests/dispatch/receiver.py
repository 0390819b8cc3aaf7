"""A real dispatch system stand-in: an HTTP server on loopback that checks every push the way a
receiver would (Standard Webhooks signature with the reference library, then the CloudEvents, CAP and
EIDO schemas), deduplicates on the webhook id, and answers as a test scripts it (up, 429, 410, down,
hanging)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Push:
    path: str
    id: str
    event: dict[str, Any]
    received: float  # time.time() at receipt
    raw: bytes = b""  # the body as it arrived


@dataclass
class Script:
    """How one path answers: queued (status, headers) first, then `status` for ever."""

    status: int = 200
    queue: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hang_s: float = 0.0


class Receiver:
    def __init__(self, secrets: dict[str, str], validate: Callable[[dict[str, Any]], None]) -> None:
        self.secrets = secrets  # path -> whsec_ secret of the target living there
        self.validate = validate
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scripts: dict[str, Script] = {path: Script() for path in secrets}
        self.attempts: list[tuple[str, str]] = []  # (path, webhook-id) of every POST, duplicates too
        self.pushes: dict[str, list[Push]] = {path: [] for path in secrets}  # deduplicated, in order
        self.sms: list[dict[str, Any]] = []
        self.problems: list[str] = []  # signature or schema failures: a test asserts this stays empty
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- life cycle ---------------------------------------------------------------------------------

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()

    def down(self) -> None:
        """Stop listening: connections are refused, as with a dispatch system that is off."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- reading --------------------------------------------------------------------------------------

    def ids(self, path: str) -> list[str]:
        with self._lock:
            return [p.id for p in self.pushes[path]]

    def events(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p.event for p in self.pushes[path]]

    def wait(self, path: str, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.events(path)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(
            f"{path}: {len(self.events(path))} pushes, wanted {count}; problems {self.problems}"
        )

    # --- the handler ---------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length)
        path = request.path
        if path == "/sms":
            with self._lock:
                self.sms.append(json.loads(body))
            return _answer(request, 200)
        script = self.scripts.get(path)
        secret = self.secrets.get(path)
        if script is None or secret is None:
            return _answer(request, 404)
        headers = {k.lower(): v for k, v in request.headers.items()}
        message_id = headers.get("webhook-id", "")
        with self._lock:
            self.attempts.append((path, message_id))
        try:
            event = Webhook(secret).verify(body, headers)
        except Exception as exc:
            self._problem(f"{path} {message_id}: signature: {exc}")
            return _answer(request, 401)
        if not headers.get("content-type", "").startswith("application/cloudevents+json"):
            self._problem(f"{path} {message_id}: content-type {headers.get('content-type')}")
        if event.get("id") != message_id:
            self._problem(f"{path}: webhook-id {message_id} is not the CloudEvent id {event.get('id')}")
        try:
            self.validate(event)
        except Exception as exc:
            self._problem(f"{path} {message_id}: {exc}")
        if script.hang_s:
            time.sleep(script.hang_s)  # a receiver that stalls: the sender gives up or dies meanwhile
            return
        with self._lock:
            status, extra = script.queue.pop(0) if script.queue else (script.status, {})
            if 200 <= status < 300 and message_id not in {p.id for p in self.pushes[path]}:
                self.pushes[path].append(Push(path, message_id, event, time.time(), body))
        _answer(request, status, extra)

    def _problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)


def _answer(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str] | None = None) -> None:
    request.send_response(status)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.send_header("content-length", "0")
    request.end_headers()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
