"""The server's schedule for reminders before an order ends (store/reminders.py): a sweep soon after
start-up, then every `order_reminder_every_s` seconds, through the single writer.

A missed minute costs nothing: a lead time is due from the moment it is reached until the order ends,
so a server that was down sends it at its next sweep. In a cluster every edge keeps the schedule;
PostgreSQL's advisory lock lets one sweep at a time, and the reminders' key makes a second sweep a
no-op in any case.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from vigil.commands import Write
from vigil.store import reminders
from vigil.store.database import one_at_a_time

if TYPE_CHECKING:
    from vigil.services import Services

log = logging.getLogger(__name__)

FIRST_RUN_AFTER_S = 30.0  # the first sweep, once the server has settled
REMIND_LOCK = 0x76_69_67_72_6D  # PostgreSQL's advisory lock: one sweep at a time in a cluster


def remind_now(services: Services) -> list[reminders.Sent] | None:
    """One sweep on a running server; blocks the calling thread. None: another process of the
    cluster is sweeping now."""
    days = services.settings.order_reminder_days

    def sweep() -> list[reminders.Sent]:
        sent = services.runner.submit(Write(lambda conn, now: reminders.remind(conn, now, days))).result()
        return list(sent or [])

    with one_at_a_time(services.db, REMIND_LOCK) as mine:
        return sweep() if mine else None


async def remind_periodically(services: Services, every_s: float) -> None:
    """Sweep now and then until cancelled (0: never). A failed sweep is logged and tried again at
    the next turn."""
    if every_s <= 0:
        return
    await asyncio.sleep(min(every_s, FIRST_RUN_AFTER_S))
    while True:
        try:
            sent = await asyncio.to_thread(remind_now, services)
            if sent:
                log.info("order reminders: %d sent", len(sent))
        except Exception:
            log.exception("order reminder sweep failed; trying again at the next turn")
        await asyncio.sleep(every_s)
