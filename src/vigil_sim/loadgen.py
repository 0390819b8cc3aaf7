"""The load generator of `vigil bench --http`: a separate process that drives a running server over
its real device interface and times what comes back.

    python -m vigil_sim.loadgen --url http://127.0.0.1:PORT --device-token T --operator-token T \\
        --pairs 5000 --devices 10000 --throughput 100000 --latency 50000 --rate 5000 --memory \\
        --server-pid PID --out result.json

It rebuilds the bench workload from its fixed seed (`bench.plan`, the same registry the parent
registered), then sends native JSON batches (`bench.BATCH` messages each) to POST
/v1/devices/messages with httpx over `CONNECTIONS` keep-alive connections, one request in flight per
connection. Each pair's moves always travel on the same connection, so every device's fixes arrive in
order. Meanwhile a WebSocket client (a child process, so reading the stream does not slow the
sender) is subscribed to /v1/stream as an operator (`--viewers N`: N operators, on N connections of
that one process) and notes when each alert message arrives.

Phases: warm-up (one fix per party), throughput (full speed), latency (paced, open loop within the
connections: a batch is sent when due, or as soon as its connection is free if it is late), memory
(one fix for every registered device). The server's CPU time (/proc/PID/stat) and peak memory
(VmHWM) are read around each phase.

Two additions for the cluster benchmark (`clusterbench`): `--sync` makes each phase wait for the
parent at its start and end (one JSON line out on stdout, one line back on stdin): the parent reads
every role's CPU there, and in cluster mode answers a phase's end only once the workers have
applied all of it, telling the instant they did (the edge answers a device once the log holds its
report, before any worker judges it, so the phase's capacity is until then). `--bus URL --bus-subject
S` adds a listener on the cluster's bus (core NATS), which times alert changes as the workers publish
them after their commit, like the WebSocket listener does at the viewer. The parent may also hand
back, at a phase's end, the signed pushes its dispatch receiver got, timed the same way.

Receipt -> alert delivery: for an alert message on the stream about pair i, the latency is from just
before the POST of the latest batch sent before it that carried a move of pair i, to the message's
arrival. Clocks: `time.monotonic()`, which is one clock for every process on Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import msgspec

from vigil_sim.bench import PRODUCERS, Move, _Stamper, percentile, plan

CONNECTIONS = PRODUCERS  # 4, as the issue sets
BATCH = 100
NATIVE_PATH = "/v1/devices/messages"
TIMEOUT_S = 60.0
GRACE_S = 1.0
QUIET_S = 0.5  # the stream counts as drained once no viewer has heard anything for this long
DRAIN_S = 120.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- the server's CPU and memory -----------------------------------------------------------------


def server_cpu_s(pid: int) -> float | None:
    """utime + stime of the process, in seconds (None off Linux or if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces; it ends at ')'
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def server_memory_mb(pid: int) -> dict[str, float | None]:
    """VmRSS and VmHWM of the process, in MiB."""
    out: dict[str, float | None] = {"rss_mb": None, "peak_rss_mb": None}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            out["rss_mb"] = round(int(value.split()[0]) / 1024.0, 1)
        elif key == "VmHWM":
            out["peak_rss_mb"] = round(int(value.split()[0]) / 1024.0, 1)
    return out


# --- the progress bar -----------------------------------------------------------------------------


class Bar:
    """One line on stderr, redrawn in place (at most 10 times a second)."""

    WIDTH = 30

    def __init__(self, label: str, total: int, *, enabled: bool = True) -> None:
        self.label = label
        self.total = max(1, total)
        self.done = 0
        self.enabled = enabled
        self._drawn = 0.0
        self._start = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._drawn >= 0.1 or self.done >= self.total):
            self._drawn = now
            share = min(1.0, self.done / self.total)
            full = int(share * self.WIDTH)
            rate = self.done / max(1e-9, now - self._start)
            sys.stderr.write(
                f"\r  {self.label:<28} [{'#' * full}{'.' * (self.WIDTH - full)}] {share:4.0%} "
                f"{self.done:>9,} fixes {rate:>8,.0f}/s"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# --- the WebSocket listener (a child process) -----------------------------------------------------


def _listen(url: str, viewers: int, ready: Any, stop: Any, results: Connection, last: Any) -> None:
    """Subscribe `viewers` operators; note (arrival, change, kind, subject) of every alert message the
    first one receives, and count what each receives. `last` holds the latest arrival (monotonic), so
    the sender can wait until the stream has gone quiet."""
    asyncio.run(_listen_async(url, viewers, ready, stop, results, last))


def _is_alert(text: str) -> bool:
    head = text[:24]  # '{"type": "alert", ...' however the server spaces its JSON
    return '"alert"' in head


def _features(text: str) -> int:
    """Positions in one message: one, or as many as a batch holds (counted without parsing it)."""
    if '"positions"' in text[:24]:
        return text.count('"Feature"')
    return 1


async def _listen_async(
    url: str, viewers: int, ready: Any, stop: Any, results: Connection, last: Any
) -> None:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    alerts: list[tuple[float, str, str, str]] = []
    positions = [0] * viewers
    messages = [0] * viewers
    received = [0] * viewers  # characters
    closed: list[str | None] = [None] * viewers

    async def one(k: int, ws: ClientConnection) -> None:
        try:
            while not stop.is_set():
                try:
                    text = await asyncio.wait_for(ws.recv(), timeout=0.2)
                except TimeoutError:
                    continue
                arrived = time.monotonic()
                last.value = arrived
                if isinstance(text, bytes):
                    text = text.decode()
                messages[k] += 1
                received[k] += len(text)
                if _is_alert(text):
                    if k == 0:
                        message = json.loads(text)
                        alert = message["alert"]
                        alerts.append((arrived, message["change"], alert["kind"], alert["subject"] or ""))
                else:
                    positions[k] += _features(text)
        except ConnectionClosed as exc:
            closed[k] = f"{exc.rcvd.code if exc.rcvd else 'no close frame'}"

    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(viewers):
            ws = await stack.enter_async_context(
                connect(url, max_size=None, max_queue=None, ping_interval=None)
            )
            await ws.recv()  # hello
            sockets.append(ws)
        ready.set()
        await asyncio.gather(*(one(k, ws) for k, ws in enumerate(sockets)))
    results.send(
        {
            "alerts": alerts,
            "positions": positions[0],
            "closed": next((c for c in closed if c is not None), None),
            "viewers": {"positions": positions, "messages": messages, "characters": received},
        }
    )
    results.close()


class _BusAlert(msgspec.Struct):
    kind: str
    subject_id: str | None = None


class _BusChange(msgspec.Struct):
    alert: _BusAlert
    change: str


class _BusPosition(msgspec.Struct):
    person_id: str


class _Changes(msgspec.Struct):
    """The fields of `vigil.cluster.bus.Changes` the bus listener reads (the rest is skipped)."""

    alerts: list[_BusChange] = []
    positions: list[_BusPosition] = []


def _listen_bus(url: str, subject: str, ready: Any, stop: Any, results: Connection) -> None:
    """Subscribe to the cluster's bus; note (arrival, change, kind, subject) of every alert change,
    and (arrival, pair) of every position: a worker publishes each batch's positions and alert
    changes in one message after its commit, so a position's arrival is its report's commit, seen
    for every report rather than for the few that change an alert."""
    asyncio.run(_listen_bus_async(url, subject, ready, stop, results))


async def _listen_bus_async(url: str, subject: str, ready: Any, stop: Any, results: Connection) -> None:
    import nats

    decode = msgspec.json.Decoder(_Changes).decode
    alerts: list[tuple[float, str, str, str]] = []
    positions: list[tuple[float, str, str, str]] = []
    messages = 0

    async def heard(msg: Any) -> None:
        nonlocal messages
        arrived = time.monotonic()
        messages += 1
        changes = decode(msg.data)
        for c in changes.alerts:
            alerts.append((arrived, c.change, c.alert.kind, c.alert.subject_id or ""))
        for p in changes.positions:
            # w1's people are s-N and p-N: either party's position is its pair's (timed as "s-N")
            positions.append((arrived, "position", "", "s-" + p.person_id[2:]))

    nc = await nats.connect(url, name="vigil-bench-bus")
    await nc.subscribe(subject, cb=heard, pending_msgs_limit=-1, pending_bytes_limit=-1)
    await nc.flush()
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await nc.close()
    results.send({"alerts": alerts, "positions": positions, "messages": messages})
    results.close()


class Sync:
    """The handshake with the parent (`--sync`): a JSON line out, a JSON line back."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    async def ask(self, event: str, phase: str, **more: Any) -> dict[str, Any]:
        if not self.enabled:
            return {}
        print(json.dumps({"event": event, "phase": phase, "at": time.monotonic(), **more}), flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        answer: dict[str, Any] = json.loads(line) if line.strip() else {}
        return answer


# --- the sender -----------------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    name: str
    fixes: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: int = 0
    batches: int = 0
    failed: int = 0
    seconds: float = 0.0
    started: float = 0.0  # monotonic
    ended: float = 0.0
    paced_at: float | None = None
    round_trips: list[float] = field(default_factory=list)  # seconds, every batch
    cpu_s: float | None = None  # the server's CPU time during the phase
    loadgen_cpu_s: float = 0.0  # this process's CPU time during the phase
    listener_cpu_s: float | None = None  # the WebSocket client's
    peak_rss_mb: float | None = None  # the server's VmHWM at the end of the phase

    def summary(self) -> dict[str, Any]:
        return {
            "fixes": self.fixes,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "batches": self.batches,
            "failed_batches": self.failed,
            "seconds": round(self.seconds, 3),
            "fixes_per_s": round(self.stored / self.seconds, 1) if self.seconds > 0 else 0.0,
            "paced_at_fixes_per_s": self.paced_at,
            "post_p50_ms": _ms(percentile(self.round_trips, 50)),
            "post_p95_ms": _ms(percentile(self.round_trips, 95)),
            "post_p99_ms": _ms(percentile(self.round_trips, 99)),
            "server_cpu_s": None if self.cpu_s is None else round(self.cpu_s, 2),
            "server_cpu_share": (
                round(self.cpu_s / self.seconds, 2) if self.cpu_s is not None and self.seconds > 0 else None
            ),
            "server_peak_rss_mb": self.peak_rss_mb,
            "loadgen_cpu_share": round(self.loadgen_cpu_s / self.seconds, 2) if self.seconds > 0 else None,
            "listener_cpu_share": (
                round(self.listener_cpu_s / self.seconds, 2)
                if self.listener_cpu_s is not None and self.seconds > 0
                else None
            ),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


class Sender:
    def __init__(
        self, url: str, token: str, server_pid: int | None, *, bar: bool, listener_pid: int | None = None
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
            timeout=TIMEOUT_S,
        )
        self.server_pid = server_pid
        self.listener_pid = listener_pid
        self.stampers = [_Stamper() for _ in range(CONNECTIONS)]
        self.sends: dict[int, list[float]] = {}  # pair -> monotonic send times, increasing
        self.pushes: list[tuple[float, str, str, str]] = []
        self.bar = bar

    async def aclose(self) -> None:
        await self.client.aclose()

    async def phase(
        self,
        label: str,
        name: str,
        streams: Sequence[Sequence[Move]],
        *,
        rate: float | None = None,
        sync: Sync | None = None,
    ) -> PhaseResult:
        result = PhaseResult(name, paced_at=rate)
        chunks = [[s[i : i + BATCH] for i in range(0, len(s), BATCH)] for s in streams]
        result.fixes = sum(len(s) for s in streams)
        bar = Bar(f"{label} {name}", result.fixes, enabled=self.bar)
        interval = None if rate is None else BATCH / rate
        if sync is not None:
            await sync.ask("start", name)
        cpu_before = None if self.server_pid is None else server_cpu_s(self.server_pid)
        listener_before = None if self.listener_pid is None else server_cpu_s(self.listener_pid)
        own_before = time.process_time()
        start = time.monotonic()
        result.started = start

        async def work(k: int) -> None:
            stamper = self.stampers[k]
            for i, chunk in enumerate(chunks[k]):
                if interval is not None:
                    pause = start + (i * len(chunks) + k) * interval - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                body = stamper.body(chunk)
                sent = time.monotonic()
                for device, _, _ in chunk:
                    if device[1] in "sp":  # a party of a pair: ds-NNNNNN / dp-NNNNNN
                        self.sends.setdefault(int(device[3:]), []).append(sent)
                try:
                    response = await self.client.post(NATIVE_PATH, content=body)
                except httpx.HTTPError:
                    result.failed += 1
                    continue
                result.round_trips.append(time.monotonic() - sent)
                result.batches += 1
                if response.status_code >= 500:
                    result.failed += 1
                    continue
                answer = response.json()
                result.stored += answer.get("stored", 0)
                result.duplicates += answer.get("duplicates", 0)
                result.errors += len(answer.get("errors", []))
                bar.add(len(chunk))

        await asyncio.gather(*(work(k) for k in range(len(chunks))))
        result.ended = time.monotonic()
        bar.close()
        if sync is not None:
            # the parent answers once the phase is applied (cluster mode: by the workers)
            answer = await sync.ask("end", name, stored=result.stored)
            result.ended = max(result.ended, float(answer.get("applied_at", result.ended)))
            # pushes the parent's dispatch receiver got: (arrival, "push", type, subject), monotonic
            self.pushes += [tuple(p) for p in answer.get("pushes", [])]
        result.seconds = result.ended - start
        result.loadgen_cpu_s = time.process_time() - own_before
        if self.listener_pid is not None and listener_before is not None:
            listener_after = server_cpu_s(self.listener_pid)
            if listener_after is not None:
                result.listener_cpu_s = listener_after - listener_before
        if self.server_pid is not None:
            cpu_after = server_cpu_s(self.server_pid)
            if cpu_before is not None and cpu_after is not None:
                result.cpu_s = cpu_after - cpu_before
            result.peak_rss_mb = server_memory_mb(self.server_pid)["peak_rss_mb"]
        return result


def delivery(
    alerts: Sequence[tuple[float, str, str, str]], sends: dict[int, list[float]], start: float, end: float
) -> list[float]:
    """Receipt -> WebSocket delivery, in seconds, of the alert messages that arrived in [start, end),
    each timed from the latest batch sent in the window that carried a move of the alert's pair."""
    out: list[float] = []
    for arrived, _, _, subject in alerts:
        if not (start <= arrived < end) or not subject.startswith("s-"):
            continue
        times = sends.get(int(subject[2:]))
        if not times:
            continue
        i = bisect.bisect_right(times, arrived)
        if i and times[i - 1] >= start:
            out.append(arrived - times[i - 1])
    return out


def _by_change(
    alerts: Sequence[tuple[float, str, str, str]], sends: dict[int, list[float]], start: float, end: float
) -> dict[str, Any]:
    """The delivery figures split by the kind of change (opened, updated, escalated, cleared...): a
    change no move caused (a clear after the hold time, a timer) is timed from an older batch."""
    out: dict[str, Any] = {}
    for change in sorted({a[1] for a in alerts}):
        lat = delivery([a for a in alerts if a[1] == change], sends, start, end)
        if lat:
            out[change] = {
                "n": len(lat),
                "p50_ms": _ms(percentile(lat, 50)),
                "p99_ms": _ms(percentile(lat, 99)),
            }
    return out


def _window(alerts: Sequence[tuple[float, str, str, str]], start: float, end: float) -> list[Any]:
    return [a for a in alerts if start <= a[0] < end]


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    work = plan(args.pairs, args.devices)
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    ready = spawn.Event()
    receiver, sender_end = spawn.Pipe(duplex=False)
    # The whole stream is a view beyond one alert: it is opened with a purpose, as operators do.
    query = f"token={args.operator_token}&purpose=monitoring&reason=load+benchmark"
    ws_url = args.url.replace("http://", "ws://", 1) + f"/v1/stream?{query}"
    last = multiprocessing.get_context("spawn").Value("d", 0.0)
    listener = multiprocessing.get_context("spawn").Process(
        target=_listen,
        args=(ws_url, args.viewers, ready, stop, sender_end, last),
        name="vigil-bench-ws",
        daemon=True,
    )
    listener.start()
    sender_end.close()
    if not await asyncio.to_thread(ready.wait, 30.0):
        listener.kill()
        raise RuntimeError("the WebSocket client did not connect")
    bus_receiver = bus_listener = None
    if args.bus:
        bus_ready = spawn.Event()
        bus_receiver, bus_end = spawn.Pipe(duplex=False)
        bus_listener = spawn.Process(
            target=_listen_bus,
            args=(args.bus, args.bus_subject, bus_ready, stop, bus_end),
            name="vigil-bench-bus",
            daemon=True,
        )
        bus_listener.start()
        bus_end.close()
        if not await asyncio.to_thread(bus_ready.wait, 30.0):
            bus_listener.kill()
            listener.kill()
            raise RuntimeError("the bus listener did not connect")
    sender = Sender(
        args.url, args.device_token, args.server_pid, bar=not args.quiet, listener_pid=listener.pid
    )
    sync = Sync(args.sync)
    phases: list[PhaseResult] = []
    cpu_start = None if args.server_pid is None else server_cpu_s(args.server_pid)
    rate = args.rate
    try:
        phases.append(
            await sender.phase(args.label, "warm-up", work.everyone(work.party_devices()), sync=sync)
        )
        if args.throughput > 0:
            phases.append(
                await sender.phase(args.label, "throughput", work.moves(args.throughput), sync=sync)
            )
            if args.rate_share:
                # paced at a share of the capacity just measured (the issue: "at half the measured capacity")
                measured = phases[-1].stored / phases[-1].seconds if phases[-1].seconds > 0 else 0.0
                rate = max(BATCH / 1.0, args.rate_share * measured)
        if args.latency > 0:
            phases.append(
                await sender.phase(args.label, "latency", work.moves(args.latency), rate=rate, sync=sync)
            )
        if args.memory:
            everyone = work.everyone(work.party_devices() + work.extra_devices())
            phases.append(await sender.phase(args.label, "memory", everyone, sync=sync))
        await asyncio.sleep(GRACE_S)  # let the last alerts reach the stream
        # Viewers that fell behind are still being sent to: the server's CPU for the run counts
        # until the stream has been quiet for a while (at most DRAIN_S more).
        drained_by = time.monotonic() + DRAIN_S
        while time.monotonic() < drained_by and time.monotonic() - last.value < QUIET_S:
            await asyncio.sleep(0.1)
    finally:
        await sender.aclose()
        stop.set()
    heard: dict[str, Any] = await asyncio.to_thread(receiver.recv) if receiver.poll(30.0) else {}
    listener.join(10.0)
    on_bus: dict[str, Any] = {}
    if bus_receiver is not None and bus_listener is not None:
        on_bus = await asyncio.to_thread(bus_receiver.recv) if bus_receiver.poll(30.0) else {}
        bus_listener.join(10.0)
    alerts: list[tuple[float, str, str, str]] = [tuple(a) for a in heard.get("alerts", [])]
    bus_alerts: list[tuple[float, str, str, str]] = [tuple(a) for a in on_bus.get("alerts", [])]
    bus_positions: list[tuple[float, str, str, str]] = [tuple(a) for a in on_bus.get("positions", [])]
    out_phases: dict[str, Any] = {}
    for i, ph in enumerate(phases):
        summary = ph.summary()
        # a phase's alerts may arrive after its last response: until the next phase starts, or for
        # the grace second after the last phase
        end = phases[i + 1].started if i + 1 < len(phases) else ph.ended + GRACE_S
        lat = delivery(alerts, sender.sends, ph.started, end)
        heard_here = _window(alerts, ph.started, end)
        summary["alert_messages"] = len(heard_here)
        summary["alerts_opened"] = sum(1 for a in heard_here if a[1] == "opened")
        summary["delivery_p50_ms"] = _ms(percentile(lat, 50))
        summary["delivery_p95_ms"] = _ms(percentile(lat, 95))
        summary["delivery_p99_ms"] = _ms(percentile(lat, 99))
        if sender.pushes:
            pushed = delivery(sender.pushes, sender.sends, ph.started, end)
            summary["pushes"] = len(_window(sender.pushes, ph.started, end))
            summary["push_timed"] = len(pushed)
            summary["push_p50_ms"] = _ms(percentile(pushed, 50))
            summary["push_p95_ms"] = _ms(percentile(pushed, 95))
            summary["push_p99_ms"] = _ms(percentile(pushed, 99))
        if args.bus:
            on_time = delivery(bus_alerts, sender.sends, ph.started, end)
            summary["bus_alerts"] = len(_window(bus_alerts, ph.started, end))
            summary["bus_timed"] = len(on_time)
            summary["bus_p50_ms"] = _ms(percentile(on_time, 50))
            summary["bus_p95_ms"] = _ms(percentile(on_time, 95))
            summary["bus_p99_ms"] = _ms(percentile(on_time, 99))
            summary["bus_by_change"] = _by_change(bus_alerts, sender.sends, ph.started, end)
            committed = delivery(bus_positions, sender.sends, ph.started, end)
            summary["bus_commit_timed"] = len(committed)
            summary["bus_commit_p50_ms"] = _ms(percentile(committed, 50))
            summary["bus_commit_p95_ms"] = _ms(percentile(committed, 95))
            summary["bus_commit_p99_ms"] = _ms(percentile(committed, 99))
        out_phases[ph.name] = summary
    memory = server_memory_mb(args.server_pid) if args.server_pid is not None else {}
    cpu_end = None if args.server_pid is None else server_cpu_s(args.server_pid)
    fixes = sum(ph.stored for ph in phases)
    run_cpu = None if cpu_start is None or cpu_end is None else cpu_end - cpu_start
    return {
        "phases": out_phases,
        "alert_messages": len(alerts),
        "alerts_opened": sum(1 for a in alerts if a[1] == "opened"),
        "positions_received": heard.get("positions"),
        "stream_closed": heard.get("closed"),
        "viewers": heard.get("viewers"),
        "server_memory": memory,
        # the server's CPU from the warm-up to a quiet stream, per 1,000 fixes stored: the cost of an
        # update with everything it publishes to the viewers
        "server_cpu_s_run": None if run_cpu is None else round(run_cpu, 2),
        "server_cpu_ms_per_1k_fixes": None
        if run_cpu is None or not fixes
        else round(run_cpu / fixes * 1e6, 1),
        "bus_messages": on_bus.get("messages"),
        "bus_alert_changes": len(bus_alerts) if args.bus else None,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vigil_sim.loadgen", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--device-token", required=True)
    p.add_argument("--operator-token", required=True)
    p.add_argument("--pairs", type=int, required=True)
    p.add_argument("--devices", type=int, required=True)
    p.add_argument("--throughput", type=int, default=0, help="fixes sent at full speed")
    p.add_argument("--latency", type=int, default=0, help="fixes sent paced at --rate")
    p.add_argument("--rate", type=float, default=5000.0, help="fixes/s in the latency phase")
    p.add_argument("--viewers", type=int, default=1, help="operators watching the whole stream")
    p.add_argument(
        "--rate-share",
        type=float,
        help="pace the latency phase at this share of the throughput phase's measured rate (not --rate)",
    )
    p.add_argument("--memory", action="store_true", help="end with one fix for every registered device")
    p.add_argument("--sync", action="store_true", help="wait for the parent at each phase's start and end")
    p.add_argument("--bus", help="also time alert changes on this NATS server's cluster bus")
    p.add_argument("--bus-subject", default="vigil.changes", help="the bus subject (<cluster>.changes)")
    p.add_argument("--server-pid", type=int)
    p.add_argument("--label", default="")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="write the result as JSON here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result = asyncio.run(drive(args))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
