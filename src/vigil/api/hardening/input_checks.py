"""Input no store can hold, refused at the edge before any router reads it, as two ASGI middlewares.

`CleanUrl` refuses NUL characters in the path or query string (PostgreSQL text cannot hold them);
it runs before the rate limit, as it always has. `BodyChecks` runs after it: a body larger than
`max_body` (declared or streamed) is 413, and a body holding NUL characters, lone surrogates, numbers
that are not finite or integers beyond 64 bits is refused with the field it was found in (422, the
app's own shape; 400 for the device paths, where 422 would say some messages were stored).

Signed dispatch callbacks are left to check their signature first, then size and content themselves
(tests/api/test_api_dispatch_fuzz.py): an unsigned caller learns nothing about its body.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.hardening.refusal import refuse

TOO_LARGE = "the body is larger than {limit} bytes"
NUL_REFUSED = "NUL characters (\\u0000, %00) are not accepted in the {where}"
BAD_NUMBER = "the JSON body holds a number that is not finite or out of range"
BAD_TEXT = "the JSON body holds text that is not valid Unicode (a lone surrogate)"
BAD_LENGTH = "the Content-Length header is not a number"

# Integers outside 64 bits fit no column; floats must be finite (JSON has no NaN or Infinity).
INT_LIMIT: Final = 2**63
METHODS_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEVICE_PATHS: Final = ("/v1/devices/messages", "/osmand")
SELF_CHECKED: Final = ("/v1/dispatch/callbacks/",)
# Images (a subject's photo) and evidence files to verify (a PDF): binary, so NUL bytes are their
# content; only their size is checked here, their type by the route (by the bytes themselves). The
# verifier stores nothing of what it is sent.
BINARY: Final = re.compile(r"^/v1/subjects/[^/]+/photo$|^/v1/evidence/verify$")

# Cheap pre-check of a JSON body: only a body that may hold a NUL or a lone surrogate escaped, a
# NaN or an Infinity, an exponent of three digits or more, or a run of 19 digits or more is parsed
# here in full (the parse decides; a body let through by mistake costs only that parse).
_ESCAPES = re.compile(rb"\\u0000|\\u[dD][89abAB]")
# Every digit read as 0 and every E as e: the numbers' shapes are then plain substrings, which
# bytes.find scans at memory speed. One regular expression with all the shapes as alternatives
# tried each at every byte: half a millisecond for a device's 14 kB post of 100 fixes, 5 us a fix.
_SHAPES = bytes.maketrans(b"123456789E", b"000000000e")
_LONG_RUN = b"0" * 19
_EXPONENTS = (b"e000", b"e+000", b"e-000")


def _suspect(body: bytes) -> bool:
    if b"\\u" in body and _ESCAPES.search(body) is not None:
        return True
    if b"NaN" in body or b"Infinity" in body:
        return True
    shapes = body.translate(_SHAPES)
    return _LONG_RUN in shapes or any(e in shapes for e in _EXPONENTS)


class CleanUrl:
    """Refuses (400, or a WebSocket closed with 1008) a path or query string holding NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"} and not scope.get("path", "").startswith(SELF_CHECKED):
            refusal = _refuse_url(scope)
            if refusal is not None:
                await refuse(scope, receive, send, 400, refusal)
                return
        await self.app(scope, receive, send)


class BodyChecks:
    """Reads an HTTP body whole (up to `max_body` bytes), refuses one no store can hold, and hands
    the app the same bytes."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(SELF_CHECKED):  # callbacks limit their size too
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        length, chunked = _declared_length(scope)
        if length == -1:
            await refuse(scope, receive, send, 400, BAD_LENGTH)
            return
        if length is not None and length > self.max_body:
            await refuse(scope, receive, send, 413, TOO_LARGE.format(limit=self.max_body))
            return
        if not (chunked or length or method in METHODS_WITH_BODY):
            await self.app(scope, receive, send)
            return
        body = await _read(receive, self.max_body)
        if body is None:
            await refuse(scope, receive, send, 413, TOO_LARGE.format(limit=self.max_body))
            return
        problem = None if BINARY.match(path) else _body_problem(scope, body)
        if problem is not None:
            reason, field = problem
            if field is None or path.startswith(DEVICE_PATHS):
                # devices: 400 is "nothing was stored" (422 would say some messages were)
                await refuse(scope, receive, send, 400, reason)
            else:  # the app's own 422 shape: the field (dotted path) and the reason
                await refuse(scope, receive, send, 422, [{"field": field, "reason": reason}])
            return
        await self.app(scope, _replay(body, receive), send)


def _declared_length(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length, or None if absent, -1 if not a number; whether the body is chunked)."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if not value.strip().isdigit():
                return -1, chunked
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (what a client streams is never held)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see an empty body
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then wait for the disconnect, as the server would

    return replay


def _refuse_url(scope: Scope) -> str | None:
    path: str = scope.get("path", "")
    if "\x00" in path:
        return NUL_REFUSED.format(where="path")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return NUL_REFUSED.format(where="query string")
    return None


def _body_problem(scope: Scope, body: bytes) -> tuple[str, str | None] | None:
    """Why a body no store can hold is refused: NUL characters (PostgreSQL text cannot hold them),
    lone surrogates (not UTF-8), non-finite numbers and integers beyond 64 bits. (reason, the field
    as a dotted path or "" for a JSON body whose field is unknown; None: not readable as a whole)."""
    if not body:
        return None
    content_type = ""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value.decode("latin-1").lower()
            break
    if "application/x-www-form-urlencoded" in content_type:
        return (NUL_REFUSED.format(where="form body"), None) if b"%00" in body or b"\x00" in body else None
    if b"\x00" in body:
        return NUL_REFUSED.format(where="body"), None
    if "json" not in content_type or not _suspect(body):
        return None
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_int=_int, parse_float=_float)
    except _BadNumber:
        return BAD_NUMBER, ""
    except (ValueError, RecursionError):  # not JSON: the route answers that itself
        return None
    return _text_problem(value)


class _BadNumber(Exception):
    pass


def _no_constant(_: str) -> Any:
    raise _BadNumber


def _int(text: str) -> int:
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise _BadNumber
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber
    return value


def _text_problem(value: Any) -> tuple[str, str] | None:
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        texts: list[str]
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}.{i}" if where else str(i)) for i, v in enumerate(item))
            continue
        else:
            continue
        for text in texts:
            if "\x00" in text:
                return NUL_REFUSED.format(where="body"), _printable(where)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return BAD_TEXT, _printable(where)
    return None


def _printable(where: str) -> str:
    return where.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
