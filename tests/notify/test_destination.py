"""Where a push may go (notify/destination.py): an endpoint chosen by whoever holds her account must
not make the server POST inside its own network. A host name is resolved when the push is sent,
refused when any of its addresses is not global, and the connection goes to the address checked,
with the name kept for the Host header and TLS (no second lookup for DNS rebinding to answer)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from vigil.notify import destination
from vigil.notify.messages import Channel, Notice
from vigil.notify.sender import Sender, SenderSettings
from vigil.notify.vapid import VapidKey

INSIDE = [
    "10.0.0.5", "172.16.3.4", "192.168.1.1", "127.0.0.1", "127.8.8.8", "0.0.0.0", "169.254.169.254",
    "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1", "fe80::1", "::ffff:10.0.0.1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "192.0.2.10", "2001:db8::1",
]  # fmt: skip
OUTSIDE = ["8.8.8.8", "142.250.196.110", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", INSIDE)
def test_addresses_inside_a_network_are_refused(address: str) -> None:
    assert not destination.reachable(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", OUTSIDE)
def test_global_addresses_are_reachable(address: str) -> None:
    assert destination.reachable(ipaddress.ip_address(address))


def test_loopback_only_where_allowed_and_nothing_else_private() -> None:
    assert destination.reachable(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert destination.reachable(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True)
    assert not destination.reachable(ipaddress.ip_address("10.0.0.5"), allow_loopback=True)


@given(st.ip_addresses())
def test_whatever_the_address_only_global_unicast_passes(address: Any) -> None:
    plain = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    if destination.reachable(address):
        assert plain.is_global and not plain.is_multicast and not plain.is_loopback
    else:
        assert not plain.is_global or plain.is_multicast


def test_a_name_that_resolves_inside_is_refused_and_one_allowed_is_pinned() -> None:
    with pytest.raises(destination.Refused, match="localhost"):
        asyncio.run(destination.pin("https://localhost:8443/push/abc"))
    pinned = asyncio.run(destination.pin("http://localhost:8443/push/abc?x=1", allow_loopback=True))
    host = pinned.url.split("//")[1].split(":8443")[0]
    assert host in ("127.0.0.1", "[::1]") and pinned.url.endswith(":8443/push/abc?x=1")
    assert (pinned.host_header, pinned.server_name) == ("localhost:8443", "localhost")
    literal = asyncio.run(destination.pin("https://8.8.8.8/p"))
    assert (literal.url, literal.host_header) == ("https://8.8.8.8/p", "8.8.8.8")


def _key() -> VapidKey:
    return VapidKey(ec.generate_private_key(ec.SECP256R1()), "test")


def _notice(endpoint: str) -> Notice:
    browser = ec.generate_private_key(ec.SECP256R1()).public_key()
    p256dh = browser.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    now = datetime.now(UTC)
    return Notice(
        id=1, channel=Channel.PUSH, alert_id="a-1", recipient=endpoint, payload='{"kind": "near"}',
        created_at=now, next_attempt_at=now, p256dh=base64.urlsafe_b64encode(p256dh).decode().rstrip("="),
        auth=base64.urlsafe_b64encode(b"0123456789abcdef").decode().rstrip("="),
    )  # fmt: skip


def _attempt(endpoint: str, *, allow_loopback: bool) -> tuple[Any, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201)

    async def run() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            sender = Sender(
                submit=lambda _: None,  # type: ignore[arg-type,return-value]
                load=list, client=client, key=_key(), settings=SenderSettings(allow_loopback=allow_loopback),
                clock=lambda: datetime.now(UTC), wall=lambda: datetime.now(UTC), rng=random.Random(1),
            )  # fmt: skip
            return await sender._attempt(_notice(endpoint))

    return asyncio.run(run()), seen


def test_the_sender_never_posts_to_a_name_that_leads_inside() -> None:
    sent, seen = _attempt("https://localhost:8443/push/abc", allow_loopback=False)
    assert sent.state == "failed" and "inside the network" in sent.error and seen == []


def test_the_sender_connects_to_the_address_it_checked_keeping_the_name() -> None:
    sent, [request] = _attempt("http://localhost:8443/push/abc", allow_loopback=True)
    assert sent.state == "delivered"
    assert request.url.host in ("127.0.0.1", "::1") and request.url.path == "/push/abc"
    assert request.headers["host"] == "localhost:8443"
    assert request.extensions["sni_hostname"] == "localhost"
