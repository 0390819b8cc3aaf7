"""`vigil bench`: drive the real ingest -> engine -> store path in-process and measure it.

Each batch goes the way a device request goes in the server: a JSON body is decoded by the native
adapter, submitted to the Runner as an Ingest, judged by the processor's engine and stored in one
SQLite transaction (a file in a temporary directory, WAL + synchronous=FULL as `open_engine`
configures it); the batch's future resolves after the commit. Only HTTP is left out.

Workload (fixed seed, so every run replays the same moves):

* `pairs` subject-victim pairs in Seoul, each with an order (violation 100 m, warning 1000 m), the two
  parties 300-3000 m apart except ~2% placed 50-150 m apart; `devices` devices in all: one per
  party, the rest bound to extra subjects without orders. The registry is inserted in bulk and the
  engine learns it through `Processor.load` when the runner starts.
* warm-up: one fix per party, so every pair is live (close pairs open their alerts here);
* throughput: `fixes` fixes, each moving a random party of a random pair 0-50 m, at full speed
  from 4 producer threads that each keep a few batches in flight;
* latency: half as many fixes again, paced at half the target load (5,000 fixes/s; half the measured
  throughput if that is lower), to time receipt
  (just before decode) -> commit (the future resolving), for all batches and for those that raised
  alerts;
* memory: one fix for every registered device, then the process's resident memory.

Fix times follow the wall clock and are strictly increasing per device (each device is fed by one
producer), so nothing is a duplicate and nothing is in the future.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import platform
import random
import resource
import sqlite3
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine, insert

from vigil.adapters.native import decode
from vigil.bootstrap import build
from vigil.commands import Ingest, IngestOutcome
from vigil.config import Settings
from vigil.domain import geo
from vigil.domain.model import DeviceKind, LegalBasis, PersonKind
from vigil.processor import Published
from vigil.rules.tuning import Tuning
from vigil.runner import Runner, utc_now
from vigil.store import tables as t
from vigil.store.database import migrate, open_engine

SEED = 7
# Fixes a device's track holds once full, at one fix a minute (rules/tuning.py: keep_s, keep_n).
HISTORY = min(Tuning().keep_n, int(Tuning().keep_s // 60))
PRODUCERS = 4
WINDOW = 8  # batches each producer keeps in flight at full speed
LATENCY_LOAD = 0.5  # the latency phase runs at this share of the target (or measured, if lower) load
LATENCY_SHARE = 2  # the latency phase sends fixes // LATENCY_SHARE fixes (~20 s at the defaults)

LAT_RANGE = (37.45, 37.65)  # Seoul
LON_RANGE = (126.85, 127.15)
VIOLATION_M = 100.0
WARNING_M = 1000.0
FAR_M = (300.0, 3000.0)
CLOSE_M = (50.0, 150.0)
CLOSE_SHARE = 0.02
# A move is at most a step within both fixes' accuracies: the bench stamps a device's fixes only
# milliseconds apart, and a longer step in a millisecond is an impossible move that the engine puts
# aside (rules/movement.py), which is not the hot path being measured.
STEP_M = 15.0
ACCURACY_M = 10.0
# Bench devices get a long silence limit so no signal_loss alert fires during a long run; the
# proximity path is what is measured.
SILENCE_S = 3600.0

TARGET_FIXES_PER_S = 10_000.0
TARGET_ALERT_P99_MS = 20.0
TARGET_PEAK_RSS_MB = 1024.0

Move = tuple[str, float, float]  # device id, lat, lon


# --- the workload -------------------------------------------------------------------------------


@dataclass(slots=True)
class Workload:
    pairs: int
    close: list[int]  # indexes of the pairs placed 50-150 m apart
    extra: int  # devices bound to extra subjects with no orders
    where: dict[str, list[float]]  # device id -> [lat, lon], moved as the bench goes
    rng: random.Random

    def owner(self, device_id: str) -> int:
        """The producer that feeds this device (one per device keeps its fix times in order)."""
        return int(device_id[3:]) % PRODUCERS

    def moves(self, count: int) -> list[list[Move]]:
        """`count` moves of a random party of a random pair, split by producer, in order."""
        streams: list[list[Move]] = [[] for _ in range(PRODUCERS)]
        rng = self.rng
        for _ in range(count):
            pair = rng.randrange(self.pairs)
            device = _party(pair, subject=rng.random() < 0.5)
            spot = self.where[device]
            spot[0], spot[1] = geo.destination(
                spot[0], spot[1], rng.uniform(0.0, 360.0), rng.uniform(0.0, STEP_M)
            )
            streams[pair % PRODUCERS].append((device, spot[0], spot[1]))
        return streams

    def everyone(self, devices: Sequence[str]) -> list[list[Move]]:
        """One fix at the current position of each of `devices`, split by producer."""
        streams: list[list[Move]] = [[] for _ in range(PRODUCERS)]
        for device in devices:
            lat, lon = self.where[device]
            streams[self.owner(device)].append((device, lat, lon))
        return streams

    def party_devices(self) -> list[str]:
        return [_party(i, subject=s) for i in range(self.pairs) for s in (True, False)]

    def extra_devices(self) -> list[str]:
        return [_extra(j) for j in range(self.extra)]


def _party(pair: int, *, subject: bool) -> str:
    return f"{'ds-' if subject else 'dp-'}{pair:06d}"


def _extra(index: int) -> str:
    return f"dx-{index:06d}"


def plan(pairs: int, devices: int, seed: int = SEED) -> Workload:
    rng = random.Random(seed)
    close = sorted(rng.sample(range(pairs), max(1, round(pairs * CLOSE_SHARE))))
    close_set = set(close)
    where: dict[str, list[float]] = {}
    for i in range(pairs):
        lat, lon = rng.uniform(*LAT_RANGE), rng.uniform(*LON_RANGE)
        apart = rng.uniform(*(CLOSE_M if i in close_set else FAR_M))
        vlat, vlon = geo.destination(lat, lon, rng.uniform(0.0, 360.0), apart)
        where[_party(i, subject=True)] = [lat, lon]
        where[_party(i, subject=False)] = [vlat, vlon]
    extra = max(0, devices - 2 * pairs)
    for j in range(extra):
        where[_extra(j)] = [rng.uniform(*LAT_RANGE), rng.uniform(*LON_RANGE)]
    return Workload(pairs=pairs, close=close, extra=extra, where=where, rng=rng)


def register(db: Engine, work: Workload, now: datetime) -> None:
    """Insert the registry in bulk, in one transaction; the engine learns it when the runner starts."""
    stamps = {"created_at": now, "updated_at": now}
    basis = LegalBasis.STALKING_PROVISIONAL_MEASURE.value
    subjects = [
        {"id": f"s-{i:06d}", "name": f"subject {i}", "legal_basis": basis, "case_reference": "", "notes": ""}
        for i in range(work.pairs)
    ] + [
        {"id": f"x-{j:06d}", "name": f"extra {j}", "legal_basis": basis, "case_reference": "", "notes": ""}
        for j in range(work.extra)
    ]
    victims = [
        {"id": f"p-{i:06d}", "name": f"protected {i}", "phone": "", "notes": ""} for i in range(work.pairs)
    ]
    devices: list[dict[str, Any]] = []
    for i in range(work.pairs):
        devices.append(
            _device(_party(i, subject=True), DeviceKind.ANKLE_MONITOR, f"s-{i:06d}", PersonKind.SUBJECT)
        )
        devices.append(
            _device(
                _party(i, subject=False), DeviceKind.SMARTWATCH, f"p-{i:06d}", PersonKind.PROTECTED_PERSON
            )
        )
    for j in range(work.extra):
        devices.append(_device(_extra(j), DeviceKind.ANKLE_MONITOR, f"x-{j:06d}", PersonKind.SUBJECT))
    orders = [
        {
            "id": f"o-{i:06d}",
            "subject_id": f"s-{i:06d}",
            "protected_person_id": f"p-{i:06d}",
            "violation_distance_m": VIOLATION_M,
            "warning_distance_m": WARNING_M,
            "victim_view_m": 600.0,
            "legal_basis": basis,
            "valid_from": None,
            "valid_until": None,
            "issuing_agency": "bench",
            "reference": "",
            "ended_at": None,
        }
        for i in range(work.pairs)
    ]
    with db.begin() as conn:
        for table, rows in (
            (t.subjects, subjects),
            (t.protected_persons, victims),
            (t.devices, devices),
            (t.orders, orders),
        ):
            if rows:
                conn.execute(insert(table), [{**row, **stamps} for row in rows])


def _device(device_id: str, kind: DeviceKind, person: str, person_kind: PersonKind) -> dict[str, Any]:
    return {
        "id": device_id,
        "kind": kind.value,
        "person_id": person,
        "person_kind": person_kind.value,
        "silence_limit_s": SILENCE_S,
    }


# --- driving the runner ---------------------------------------------------------------------------


class _Stamper:
    """Builds request bodies with wall-clock fix times, strictly increasing per device."""

    STEP = timedelta(milliseconds=1)

    def __init__(self) -> None:
        self._last: dict[str, datetime] = {}
        self._encode = msgspec.json.Encoder().encode

    def body(self, moves: Sequence[Move]) -> bytes:
        base = datetime.now(UTC)
        last = self._last
        messages = []
        for device, lat, lon in moves:
            before = last.get(device)
            at = base if before is None or before < base else before + self.STEP
            last[device] = at
            messages.append(
                {
                    "device": device,
                    "at": at.isoformat(),
                    "fix": {"lat": lat, "lon": lon, "accuracy_m": ACCURACY_M},
                }
            )
        return self._encode(messages)


@dataclass(slots=True)
class Phase:
    name: str
    sent: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: int = 0
    alerts: int = 0
    batches: int = 0
    commits: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0  # CPU time of the whole process (processor and producers) during the phase
    latencies: list[float] = field(default_factory=list)  # receipt -> commit, every batch
    alert_latencies: list[float] = field(default_factory=list)  # batches that raised alerts
    paced_at: float | None = None  # fixes/s offered, when paced

    def summary(self) -> dict[str, Any]:
        return {
            "fixes": self.sent,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "alerts": self.alerts,
            "batches": self.batches,
            "commits": self.commits,
            "seconds": round(self.seconds, 3),
            "cpu_s": round(self.cpu_s, 3),
            "cpu_ms_per_1000_fixes": round(self.cpu_s * 1e6 / self.stored, 1) if self.stored else None,
            "fixes_per_s": round(self.fixes_per_s, 1),
            "paced_at_fixes_per_s": None if self.paced_at is None else round(self.paced_at, 1),
            "p50_ms": _ms(percentile(self.latencies, 50)),
            "p95_ms": _ms(percentile(self.latencies, 95)),
            "p99_ms": _ms(percentile(self.latencies, 99)),
            "alert_batches": len(self.alert_latencies),
            "alert_p50_ms": _ms(percentile(self.alert_latencies, 50)),
            "alert_p95_ms": _ms(percentile(self.alert_latencies, 95)),
            "alert_p99_ms": _ms(percentile(self.alert_latencies, 99)),
        }

    @property
    def fixes_per_s(self) -> float:
        return self.stored / self.seconds if self.seconds > 0 else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def drive(
    runner: Runner,
    name: str,
    streams: Sequence[Sequence[Move]],
    stampers: Sequence[_Stamper],
    batch: int,
    *,
    rate: float | None = None,
) -> Phase:
    """Send every producer's moves in batches of `batch`: at full speed with WINDOW batches in flight
    per producer, or paced at `rate` fixes/s in all (open loop: a slow processor builds a backlog
    that shows in the latencies, it does not slow the sender)."""
    phase = Phase(name, paced_at=rate)
    lock = threading.Lock()
    failures: list[BaseException] = []
    ends: list[float] = []
    chunks = [[s[i : i + batch] for i in range(0, len(s), batch)] for s in streams]
    interval = None if rate is None else batch / rate  # seconds between batches, all producers
    commits_before = runner.batches
    expected = sum(len(c) for c in chunks)
    finished = threading.Event()  # set once every batch is recorded (callbacks run after waiters wake)
    if expected == 0:
        finished.set()

    def record(received: float, refused: int, future: Future[Any]) -> None:
        done = time.perf_counter()
        try:
            outcome = future.result()
        except BaseException as exc:
            failures.append(exc)
            finished.set()
            return
        assert isinstance(outcome, IngestOutcome)
        latency = done - received
        with lock:
            ends.append(done)
            phase.batches += 1
            phase.stored += outcome.stored
            phase.duplicates += outcome.duplicates
            phase.errors += refused + len(outcome.errors)
            phase.alerts += outcome.alerts
            phase.latencies.append(latency)
            if outcome.alerts > 0:
                phase.alert_latencies.append(latency)
            if phase.batches == expected:
                finished.set()

    def produce(k: int, start: float) -> None:
        try:
            _produce(k, start)
        except BaseException as exc:
            failures.append(exc)
            finished.set()

    def _produce(k: int, start: float) -> None:
        pending: deque[Future[Any]] = deque()
        stamper = stampers[k]
        offset = len(chunks)
        for i, chunk in enumerate(chunks[k]):
            if interval is not None:
                due = start + (i * offset + k) * interval
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            else:
                while len(pending) >= WINDOW:
                    pending.popleft().result()
            body = stamper.body(chunk)
            received = time.perf_counter()  # receipt: just before decode
            received_at = datetime.now(UTC)
            decoded = decode(body, received_at)
            future = runner.submit(Ingest(decoded.reports, received_at))
            future.add_done_callback(functools.partial(record, received, len(decoded.errors)))
            pending.append(future)

    phase.sent = sum(len(s) for s in streams)
    cpu_start = time.process_time()
    start = time.perf_counter()
    threads = [
        threading.Thread(target=produce, args=(k, start), name=f"bench-producer-{k}")
        for k in range(len(streams))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished.wait()
    phase.cpu_s = time.process_time() - cpu_start
    if failures:
        raise RuntimeError(f"{name}: {len(failures)} batches failed") from failures[0]
    phase.seconds = (max(ends) if ends else time.perf_counter()) - start
    phase.commits = runner.batches - commits_before
    return phase


# --- the machine and memory -----------------------------------------------------------------------


def _proc_status() -> dict[str, int]:
    """VmRSS and VmHWM from /proc/self/status, in kB (empty off Linux)."""
    out: dict[str, int] = {}
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            out[key] = int(value.split()[0])
    return out


def memory() -> dict[str, float | None]:
    status = _proc_status()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return {
        "rss_mb": _mb(status.get("VmRSS")),
        "peak_rss_mb": _mb(status.get("VmHWM")),
        "maxrss_mb": _mb(maxrss_kb),
    }


def bytes_per_fix(work: Workload, batch: int = 1000) -> float:
    """What one decoded fix costs in memory while a track holds it (plus its list slot)."""
    moves = [m for stream in work.everyone(work.party_devices()[:batch]) for m in stream]
    body = _Stamper().body(moves)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [report for _, report in decode(body, datetime.now(UTC)).reports]
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return used / len(kept) + 8 if kept else 0.0


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024.0, 1)


def machine(path: Path) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": ram_gib,
        "disk": _disk(path),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def _load() -> float | None:
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _disk(path: Path) -> str:
    """The block device holding `path` and whether the kernel calls it rotational."""
    try:
        dev = os.stat(path).st_dev
        sys_dev = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve()
        queue = sys_dev / "queue"
        if not queue.exists():  # a partition: the queue belongs to the parent disk
            queue = sys_dev.parent / "queue"
        rotational = (queue / "rotational").read_text().strip() == "1"
        return f"{queue.parent.name} ({'rotational' if rotational else 'non-rotational'} per the kernel)"
    except (OSError, ValueError):
        return "unknown"


# --- the run --------------------------------------------------------------------------------------


def run(
    pairs: int = 10_000,
    fixes: int = 200_000,
    devices: int = 100_000,
    batch: int = 100,
    *,
    workdir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every phase and return the figures as a JSON-ready dict."""
    if pairs < 1 or fixes < 1 or batch < 1:
        raise ValueError("pairs, fixes and batch must be positive")
    say = progress or (lambda _: None)
    baseline = memory()
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-", dir=workdir) as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = open_engine(url)
        try:
            migrate(db)
            work = plan(pairs, devices)
            began = time.perf_counter()
            register(db, work, datetime.now(UTC))
            published = {"alerts": 0, "positions": 0}

            def publish(out: Published) -> None:  # the server hands this to the WebSocket hub
                published["alerts"] += len(out.alerts)
                published["positions"] += len(out.positions)

            # The server's own wiring (default settings, whatever the environment says), counted
            # where the server would hand each batch to its live streams.
            services = build(
                db, Settings.of(database_url=url), utc_now, lambda: str(uuid.uuid4()), observe=publish
            )
            runner = services.runner
            runner.start()  # loads the registry into the engine
            registered_s = time.perf_counter() - began
            registered_devices = len(runner.processor.engine.devices)
            say(f"registered {registered_devices:,} devices, {pairs:,} orders in {registered_s:.1f} s")
            stampers = [_Stamper() for _ in range(PRODUCERS)]
            phases: list[Phase] = []
            try:
                phases.append(drive(runner, "warm-up", work.everyone(work.party_devices()), stampers, batch))
                say(_line(phases[-1]))
                phases.append(drive(runner, "throughput", work.moves(fixes), stampers, batch))
                say(_line(phases[-1]))
                # The latency target is set "at half that load": half the 10,000 fixes/s target, or
                # half of what this machine sustained if that is less.
                rate = max(1.0, min(phases[-1].fixes_per_s, TARGET_FIXES_PER_S) * LATENCY_LOAD)
                paced = work.moves(max(batch, fixes // LATENCY_SHARE))
                phases.append(drive(runner, "latency", paced, stampers, batch, rate=rate))
                say(_line(phases[-1]))
                everyone = work.everyone(work.party_devices() + work.extra_devices())
                phases.append(drive(runner, "memory", everyone, stampers, batch))
                say(_line(phases[-1]))
                gc.collect()
                after = memory()
                engine = runner.processor.engine
                open_alerts = len(engine.book)
                tracked = len(engine.tracks)
                retained = sum(len(track.history) for track in engine.tracks.values())
            finally:
                runner.stop()
                services.close()
        finally:
            db.dispose()
        db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir() if p.is_file())
    by_name = {p.name: p for p in phases}
    throughput, latency = by_name["throughput"], by_name["latency"]
    peak = after["peak_rss_mb"] if after["peak_rss_mb"] is not None else after["maxrss_mb"]
    per_fix = bytes_per_fix(work)
    # Each device's track keeps the fixes of its last `keep_s` (at most `keep_n`): at one fix a minute
    # HISTORY of them once it has reported that long. The bench's short run fills them only a little.
    missing = max(0, HISTORY * tracked - retained)
    projected = None if after["rss_mb"] is None else round(after["rss_mb"] + missing * per_fix / 2**20, 1)
    figures = {
        "fixes_per_s": round(throughput.fixes_per_s, 1),
        "alert_p50_ms": _ms(percentile(latency.alert_latencies, 50)),
        "alert_p95_ms": _ms(percentile(latency.alert_latencies, 95)),
        "alert_p99_ms": _ms(percentile(latency.alert_latencies, 99)),
        "all_p50_ms": _ms(percentile(latency.latencies, 50)),
        "all_p99_ms": _ms(percentile(latency.latencies, 99)),
        "peak_rss_mb": peak,
        "rss_mb": after["rss_mb"],
        "maxrss_mb": after["maxrss_mb"],
        "baseline_rss_mb": baseline["rss_mb"],
        "alerts_raised": sum(p.alerts for p in phases),
        "alerts_published": published["alerts"],
        "open_alerts": open_alerts,
        "registered_devices": registered_devices,
        "tracked_people": tracked,
        "retained_fixes": retained,
        "bytes_per_retained_fix": round(per_fix, 1),
        "projected_rss_full_history_mb": projected,
        "database_mb": round(db_bytes / 1024 / 1024, 1),
        "registration_s": round(registered_s, 2),
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "pairs": pairs,
            "close_pairs": len(work.close),
            "fixes": fixes,
            "latency_fixes": latency.sent,
            "devices": max(devices, 2 * pairs),
            "batch": batch,
            "producers": PRODUCERS,
            "window": WINDOW,
            "seed": SEED,
            "database": "SQLite file, WAL, synchronous=FULL",
        },
        "machine": machine(Path(workdir) if workdir else Path(tempfile.gettempdir())),
        "load_average": {"before": load_before, "after": _load()},
        "phases": {p.name: p.summary() for p in phases},
        "figures": figures,
        "targets": _verdicts(figures),
    }


def _verdicts(figures: dict[str, Any]) -> list[dict[str, Any]]:
    def verdict(value: float | None, ok: Callable[[float], bool]) -> str:
        if value is None:
            return "n/a"
        return "PASS" if ok(value) else "MISS"

    fps, p99, rss = figures["fixes_per_s"], figures["alert_p99_ms"], figures["peak_rss_mb"]
    return [
        {
            "figure": "fixes_per_s",
            "value": fps,
            "target": f">= {TARGET_FIXES_PER_S:,.0f}",
            "verdict": verdict(fps, lambda v: v >= TARGET_FIXES_PER_S),
        },
        {
            "figure": "alert_p99_ms",
            "value": p99,
            "target": f"<= {TARGET_ALERT_P99_MS:g}",
            "verdict": verdict(p99, lambda v: v <= TARGET_ALERT_P99_MS),
        },
        {
            "figure": "peak_rss_mb",
            "value": rss,
            "target": f"<= {TARGET_PEAK_RSS_MB:,.0f}",
            "verdict": verdict(rss, lambda v: v <= TARGET_PEAK_RSS_MB),
        },
    ]


# --- printing -------------------------------------------------------------------------------------


def _line(phase: Phase) -> str:
    return f"{phase.name}: {phase.stored:,} fixes in {phase.seconds:.1f} s ({phase.fixes_per_s:,.0f}/s)"


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def report(result: dict[str, Any]) -> str:
    m, p, f = result["machine"], result["parameters"], result["figures"]
    verdict = {v["figure"]: v for v in result["targets"]}
    load = result["load_average"]
    lines = [
        f"vigil bench, {result['date']}",
        f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['ram_gib']} GiB RAM, "
        f"disk {m['disk']}",
        f"         Python {m['python']}, SQLite {m['sqlite']} ({p['database']}); "
        f"load average {load['before']} before, {load['after']} after",
        f"workload: {p['pairs']:,} pairs ({p['close_pairs']:,} placed 50-150 m apart), "
        f"{p['devices']:,} devices, {p['fixes']:,} + {p['latency_fixes']:,} fixes, batch {p['batch']}, "
        f"{p['producers']} producers",
        "",
        f"{'phase':<11} {'fixes':>9} {'seconds':>8} {'fixes/s':>9} {'cpu ms/1k':>9} {'commits':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'alerts':>7}",
    ]
    for name, ph in result["phases"].items():
        paced = (
            "" if ph["paced_at_fixes_per_s"] is None else f"  (paced at {ph['paced_at_fixes_per_s']:,.0f}/s)"
        )
        lines.append(
            f"{name:<11} {ph['stored']:>9,} {ph['seconds']:>8.1f} {ph['fixes_per_s']:>9,.0f} "
            f"{_num(ph['cpu_ms_per_1000_fixes'], digits=0):>9} {ph['commits']:>8,} "
            f"{_num(ph['p50_ms']):>8} {_num(ph['p99_ms']):>8} {ph['alerts']:>7,}{paced}"
        )
    units = {"fixes_per_s": "", "alert_p99_ms": " ms", "peak_rss_mb": " MiB"}
    rows: list[tuple[str, str, str]] = [
        ("fixes/s sustained (throughput phase)", _num(f["fixes_per_s"], digits=0), "fixes_per_s"),
        ("receipt -> alert p99 (latency phase)", _num(f["alert_p99_ms"], " ms"), "alert_p99_ms"),
        ("receipt -> alert p50 / p95", f"{_num(f['alert_p50_ms'])} / {_num(f['alert_p95_ms'], ' ms')}", ""),
        (
            "receipt -> commit p50 / p99, all batches",
            f"{_num(f['all_p50_ms'])} / {_num(f['all_p99_ms'], ' ms')}",
            "",
        ),
        (
            f"peak RSS ({f['registered_devices']:,} devices registered)",
            _num(f["peak_rss_mb"], " MiB"),
            "peak_rss_mb",
        ),
        (
            "RSS after memory phase / at start",
            f"{_num(f['rss_mb'])} / {_num(f['baseline_rss_mb'], ' MiB')}",
            "",
        ),
        (
            f"projected RSS, every track full ({HISTORY} fixes)",
            _num(f["projected_rss_full_history_mb"], " MiB"),
            "",
        ),
        ("alerts raised (alert changes, all phases)", f"{f['alerts_raised']:,}", ""),
        ("alerts open at the end", f"{f['open_alerts']:,}", ""),
    ]
    lines += ["", f"{'figure':<44} {'measured':>18}  {'target':>13}  verdict"]
    for label, value, key in rows:
        target = verdict[key]["target"] + units[key] if key in verdict else ""
        outcome = verdict[key]["verdict"] if key in verdict else ""
        lines.append(f"{label:<44} {value:>18}  {target:>13}  {outcome}".rstrip())
    return "\n".join(lines)


def main(
    pairs: int = 10_000,
    fixes: int = 200_000,
    devices: int = 100_000,
    batch: int = 100,
    out: str | None = None,
) -> int:
    result = run(pairs, fixes, devices, batch, progress=lambda text: print(f"  {text}", flush=True))
    print(report(result), flush=True)
    if out:
        save(result, Path(out))
    return 0


def save(result: dict[str, Any], path: Path) -> None:
    """Write a benchmark result as JSON (creating its folder) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nsaved {path}", flush=True)
