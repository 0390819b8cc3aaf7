"""How a route writes: it hands a command to the single writer and waits for the answer; a command
the writer turns down comes back as a refusal (vigil.commands), answered here as a 4xx.

Refusals are answered in the shape every other error has: `{"detail": [{"field", "reason"}]}` when
they name a field (as a 422 from validation does), `{"detail": reason}` when they do not.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from vigil.api import deps
from vigil.commands import Command, Refusal
from vigil.runner import Runner

T = TypeVar("T")


async def run(request: HTTPConnection, command: Command[T]) -> T:
    """Submit a command to the single writer and wait for its answer, off the event loop's thread.
    A refusal is raised as itself, so a route may catch one to answer otherwise (a 404 it can tell
    from a read); left alone, `install`'s handler answers it. A WebSocket's connection serves too."""
    runner: Runner = deps.services(request).runner
    return await asyncio.wrap_future(runner.submit(command))


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)  # registered for Refusal alone
    return JSONResponse({"detail": exc.detail()}, status_code=exc.status)


def install(app: FastAPI) -> None:
    """Answer every refusal a route lets through with its status, field and reason."""
    app.add_exception_handler(Refusal, _refused)
