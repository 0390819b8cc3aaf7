"""The running services, handed to routes by dependency injection.

A route names what it needs as a parameter (`services: Wired`) instead of reaching into
`app.state`; helpers that are handed only the request (authentication, the access trail) call
`services(conn)` for the same object."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from vigil.services import Services


def services(conn: HTTPConnection) -> Services:
    """The services of the app serving this request or WebSocket (set when its lifespan starts)."""
    found: Services = conn.app.state.services
    return found


async def _inject(conn: HTTPConnection) -> Services:
    # async: FastAPI calls it on the event loop, not on a worker thread as it would a plain function
    return services(conn)


Wired = Annotated[Services, Depends(_inject)]
