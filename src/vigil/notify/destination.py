"""Where a push may go: a push service on the internet, never inside the server's own network.

A subscription's endpoint is chosen by whoever holds her account, and the server POSTs to it. The
API refuses an endpoint whose host is a private or loopback address literally (api/push.py); a host
NAME could still resolve to one (an internal service's name, a DNS record pointing at 10.0.0.5 or
169.254.169.254). So each push resolves the name when it is sent, refuses it if any address is not
global, and connects to the address it checked (the name still goes in the Host header and in TLS's
server name, so the certificate is verified for the name): a second lookup that answers otherwise
(DNS rebinding) is never made.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def reachable(address: Address, *, allow_loopback: bool = False) -> bool:
    """Whether a push may be sent to this address: a global unicast one (an IPv4 address mapped into
    IPv6 is judged as itself); loopback only where allowed (a test's push service on 127.0.0.1)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class Pinned:
    """The request's URL with the host replaced by the address checked, and what keeps the name."""

    url: str
    host_header: str
    server_name: str


class Refused(Exception):
    """The endpoint's name leads inside the network: never sent (a message for the record)."""


async def pin(url: str, *, allow_loopback: bool = False) -> Pinned:
    """Resolve the endpoint's host; raise Refused if any address it has is not reachable, OSError
    if the name does not resolve (worth a retry: DNS may be down for a moment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise OSError(f"{host!r} has no address")
    # Every address is judged, not only the one used: a name with one public and one private
    # address is someone steering the server, whichever the connection would have taken.
    bad = [a for a in addresses if not reachable(a, allow_loopback=allow_loopback)]
    if bad:
        raise Refused(f"the endpoint's host {host!r} resolves to {bad[0]}, inside the network: not sent")
    chosen = addresses[0]
    shown = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    host_header = f"{host}:{parts.port}" if parts.port else host
    return Pinned(urlunsplit(parts._replace(netloc=netloc)), host_header, host)
