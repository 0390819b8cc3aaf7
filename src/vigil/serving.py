"""uvicorn, telling the app where it really listens.

The live-track links a push carries name this server. With no public URL configured they must name
the address the sockets were bound to: the configured port is not the one in use when `vigil serve
--port` or port 0 chose another. The app's lifespan runs before uvicorn binds, so the address is
handed over once the sockets exist (`Services.listening`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import uvicorn


class Server(uvicorn.Server):
    # Called about once a second while serving (`vigil serve --workers`: restart dead workers).
    every_second: Callable[[], None] | None = None

    async def on_tick(self, counter: int) -> bool:
        if self.every_second is not None and counter % 10 == 0:  # uvicorn ticks every 0.1 s
            self.every_second()
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        services = getattr(getattr(self.config.app, "state", None), "services", None)
        bound = [s for server in getattr(self, "servers", []) for s in server.sockets or ()]
        if services is not None and bound and not self.should_exit:
            services.listening = listening_url(bound[0].getsockname())


def listening_url(address: object) -> str | None:
    """http://host:port for a bound socket's address; a wildcard address (0.0.0.0, ::) says nothing
    about where people reach the machine, so its host name stands in for it."""
    if not isinstance(address, tuple) or len(address) < 2:
        return None  # a Unix socket: no URL to give
    host, port = str(address[0]), int(address[1])
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if ip.is_unspecified:
        return f"http://{socket.gethostname()}:{port}"
    return f"http://[{host}]:{port}" if ip.version == 6 else f"http://{host}:{port}"
