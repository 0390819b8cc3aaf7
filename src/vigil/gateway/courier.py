"""Commands on their way to devices: what is pending for a device, and each step it takes (sent,
answered, failed, expired) written through the single writer and into the audit trail as the
system's own act."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vigil.adapters.wire import CommandReply
from vigil.commands import Touched, Write
from vigil.store import device_commands
from vigil.store.audit import Entry
from vigil.store.device_commands import Queued

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from vigil.runner import Runner

SYSTEM = "vigil"


class Courier:
    def __init__(self, db: Engine, runner: Runner, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._runner = runner
        self._clock = clock
        # Devices with something pending, as last known (queued here, or found by a sweep): an HTTP
        # device's post asks the store only when it is one of them, not on every report.
        self.waiting: set[str] = set()
        self._marks: list[tuple[Queued, str, asyncio.Future[bool]]] = []  # `sent`, not yet written

    def expect(self, device_id: str) -> None:
        """A command was queued for the device."""
        self.waiting.add(device_id)

    async def handed_over(self, device_ids: Iterable[str], via: str) -> list[Queued]:
        """The pending commands of devices that just posted over HTTP, marked sent: they go back in
        that post's answer (the device's only channel back)."""
        out: list[Queued] = []
        for device_id in sorted(set(device_ids) & self.waiting):
            commands = await self.pending(device_id)
            if not commands:
                self.waiting.discard(device_id)
            for command in commands:
                if await self.sent(command, via):  # not handed twice (two posts at once)
                    out.append(command)
        return out

    async def pending(self, device_id: str) -> list[Queued]:
        def read() -> list[Queued]:
            with self._db.connect() as conn:
                return device_commands.pending(conn, device_id, self._clock())

        return await asyncio.to_thread(read)

    async def waiting_devices(self) -> list[str]:
        def read() -> list[str]:
            with self._db.connect() as conn:
                return device_commands.devices_with_pending(conn, self._clock())

        found = await asyncio.to_thread(read)
        self.waiting = set(found)
        return found

    async def sent(self, command: Queued, via: str) -> bool:
        """Mark the command sent; False when it was no longer pending (sent by another path, expired):
        then it must not go out again. Marks asked for in the same turn of the event loop go to the
        writer as one write (pursuit mode sends thousands at once when many pairs start together)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._marks.append((command, via, future))
        if len(self._marks) == 1:
            asyncio.get_running_loop().call_soon(self._flush_marks)
        return await future

    def _flush_marks(self) -> None:
        marks, self._marks = self._marks, []

        def apply(conn: Connection, now: datetime) -> Touched:
            moved: list[bool] = []
            entries: list[Entry] = []
            for command, via, _ in marks:
                done = bool(device_commands.sent(conn, now, command.id).result)
                moved.append(done)
                if done:
                    entries.append(_entry(command.device_id, command.id, "sent", via))
            return Touched(result=moved, audit=tuple(entries))

        def settle(done: asyncio.Future[Any]) -> None:
            if done.cancelled():  # shutting down: no one will send them
                for _, _, future in marks:
                    future.cancel()
                return
            error = done.exception()
            for i, (_, _, future) in enumerate(marks):
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result()[i])

        asyncio.wrap_future(self._runner.submit(Write(apply))).add_done_callback(settle)

    async def failed(self, command: Queued, why: str) -> None:
        await self._step(
            lambda conn, now: device_commands.failed(conn, now, command.id, why),
            command.device_id,
            command.id,
            "failed",
            why,
        )

    async def answered(self, device_id: str, reply: CommandReply) -> str | None:
        """The device's answer to the command it is for; returns that command's id (None: none was
        waiting for an answer)."""

        def step(conn: Connection, now: datetime) -> Touched:
            done = device_commands.acknowledged(conn, now, device_id, reply.ref, reply.text, reply.kind)
            if done.result is None:
                return done
            return replace(
                done, audit=(_entry(device_id, str(done.result), "acknowledged", reply.text[:200]),)
            )

        found = await self._write(step)
        return None if found is None else str(found)

    async def expire(self) -> int:
        expired = await self._write(device_commands.expire)
        return int(expired or 0)

    async def _step(
        self,
        apply: Callable[[Connection, datetime], Touched],
        device_id: str,
        command_id: str,
        what: str,
        note: str,
    ) -> bool:
        """One step of a command, and its audit entry, in one transaction; whether it was taken."""

        def step(conn: Connection, now: datetime) -> Touched:
            done = apply(conn, now)
            if not done.result:
                return done
            return replace(done, audit=(_entry(device_id, command_id, what, note),))

        return bool(await self._write(step))

    async def _write(self, apply: Callable[[Connection, datetime], Touched]) -> Any:
        return await asyncio.wrap_future(self._runner.submit(Write(apply)))


def _entry(device_id: str, command_id: str, what: str, note: str) -> Entry:
    return Entry(
        actor=SYSTEM,
        role="system",
        action=f"device.command.{what}",
        target=f"devices/{device_id}/commands/{command_id}",
        reason=note,
    )
