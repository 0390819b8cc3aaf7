"""`vigil bench --workload dispatch`: alert -> push latency of the automatic push to dispatch.

Three processes on one machine, as in `vigil bench --http`: the server (`python -m vigil serve`,
SQLite), a dispatch receiver (uvicorn on loopback, a process of its own) and this process, which
drives the server over its device interface. The server's one dispatch target is the receiver, set
by the environment (`VIGIL_DISPATCH_URL`, `VIGIL_DISPATCH_SECRET`, a fresh `whsec_` secret).

The receiver notes `time.time()` the moment a push's body has arrived, then checks its Standard
Webhooks signature with the reference library (`Webhook(secret).verify`) and answers 200 (401 if
the signature is wrong). It keeps (receipt, webhook-id, CloudEvent id, subject, type) of each push.

Workload:

* background: the HTTP bench's registry (`bench.plan`, fixed seed), B pairs with orders (violation
  100 m, warning 1,000 m) and extra devices up to `devices`; a warm-up fix per party (which opens
  warnings for the pairs placed within 1,000 m, and their pushes), then random moves of 0-50 m paced
  at `rate` fixes/s over 4 keep-alive connections in batches of 100 (`loadgen.Sender`), for the whole
  measured phase. Its alerts are pushed too: they are part of the load and of the "all pushes" figure.
* driven: N more pairs under the same kind of order, whose victim stands still while the subject
  starts 3,000 m away and then, one fix at a time (a POST of its own), comes to 600 m (a warning opens:
  push `opened`), to 50 m (it becomes a violation: push `escalated`) and goes back to 3,000 m (push
  `cleared`). Driven fixes go out every `interval` seconds, open loop, all pairs' first step, then
  all second steps, then all third: 3N pushes whose cause is known exactly.

Timing: the server records, with every push, the instant the change was judged (`deliveries.
created_at`: the writer's clock when the batch holding the fix was taken up, before judging and the
commit; microseconds, unlike the CloudEvent `time`). After the run the SQLite file is read and each
push received is matched to its delivery row by its id (webhook-id = CloudEvent id = event id).

* judged -> push (the headline): receipt minus the judged instant. The commit happens between the
  two, so this includes judging and committing the batch: an upper bound on commit -> push.
* answered -> push (driven pushes only): receipt minus the moment the driven fix's POST was answered.
  The server answers a device only after the commit, so this is a lower bound on commit -> push (it
  can be negative: the push is handed to the deliverer before the answer is).
* fix received -> push: receipt minus the fix's `received_at` (the server's clock when the request
  came in): everything the server does, queueing for the writer included.
Every clock is the machine's wall clock (`time.time()` / `datetime.now(UTC)`), shared by the three
processes.

Escalation after an unacknowledged violation is pushed off (`VIGIL_DISPATCH_ACK_TIMEOUT_S`) so that
no second push per violation lands inside the run: the receiver does not report back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from vigil.dispatch.signing import new_secret
from vigil.domain import geo
from vigil.store import tables as t
from vigil.store.database import open_engine
from vigil_sim import bench
from vigil_sim.httpbench import Server, _free_port, prepare
from vigil_sim.loadgen import NATIVE_PATH, PhaseResult, Sender

TARGET_PUSH_P99_MS = 50.0  # the issue: alert -> push within 50 ms p99 when the target is up
PAIRS = 200  # driven pairs: 3 pushes each
DEVICES = 10_000  # registered devices, driven pairs included
BACKGROUND_SHARE = 10  # background pairs = devices // 10
RATE = 1_500.0  # background fixes/s in the measured phase
INTERVAL_S = 0.05  # between two driven fixes (20 driven fixes/s)
FAR_M, WARN_M, VIOLATE_M = 3_000.0, 600.0, 50.0
# The driven subject's steps and the push each one causes.
STEPS: tuple[tuple[str, float], ...] = (("opened", WARN_M), ("escalated", VIOLATE_M), ("cleared", FAR_M))
ACK_TIMEOUT_S = 86_400.0
RECEIVER_PATH = "/push"
SETTLE_S = 1.0  # no new push for this long: the deliverer has caught up
WAIT_S = 30.0  # at most this long for pushes still on their way
SEED = 11
BURST = 300  # subjects that come within the violation distance in one POST (one writer batch)
PROBE_S = 0.01  # during the burst, a bystander device posts a fix this often (its answers timed)
PROBE_FOR_S = 2.0


# --- the receiver (a process of its own) ------------------------------------------------------------


class ReceiverApp:
    """A raw ASGI app: POST /push records and verifies a push; GET /records returns what it holds."""

    def __init__(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self.hook = Webhook(secret)
        self.pushes: list[tuple[float, str, str, str, str]] = []
        self.bad: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        arrived = time.time()
        if scope["method"] == "POST" and scope["path"] == RECEIVER_PATH:
            status, answer = self._push(arrived, body, scope["headers"])
        elif scope["method"] == "GET" and scope["path"] == "/records":
            status, answer = 200, json.dumps({"pushes": self.pushes, "bad": self.bad}).encode()
        else:
            status, answer = 404, b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def _push(self, arrived: float, body: bytes, raw: Iterable[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        from standardwebhooks.webhooks import WebhookVerificationError

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
        try:
            event = self.hook.verify(body, headers)
        except (WebhookVerificationError, ValueError) as exc:
            self.bad.append(f"{headers.get('webhook-id', '?')}: {exc}")
            return 401, b'{"error": "bad signature"}'
        self.pushes.append(
            (
                arrived,
                headers["webhook-id"],
                str(event.get("id", "")),
                str(event.get("subject", "")),
                str(event.get("type", "")),
            )
        )
        return 200, b'{"ok": true}'


def _serve_receiver(port: int, secret: str) -> None:
    import uvicorn

    config = uvicorn.Config(
        ReceiverApp(secret),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()


class Receiver:
    """The receiver process: started, polled for its records, stopped."""

    def __init__(self, secret: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve_receiver, args=(self.port, secret), name="vigil-bench-receiver", daemon=True
        )
        self.process.start()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.process.is_alive():
                raise RuntimeError(f"the receiver exited ({self.process.exitcode})")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/records", timeout=2.0, trust_env=False).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the receiver did not answer within {timeout_s:.0f} s")

    async def records(self, client: httpx.AsyncClient) -> dict[str, Any]:
        answer = await client.get(f"{self.url}/records", timeout=30.0)
        answer.raise_for_status()
        records: dict[str, Any] = answer.json()
        return records

    async def settle(self, client: httpx.AsyncClient, *, want: Callable[[int], bool], limit_s: float) -> int:
        """Wait until `want(pushes so far)` holds and no push came for SETTLE_S, or `limit_s` passes."""
        deadline = time.monotonic() + limit_s
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len((await self.records(client))["pushes"])
            if count != last:
                last, since = count, time.monotonic()
            elif want(count) and time.monotonic() - since >= SETTLE_S:
                break
            await asyncio.sleep(0.2)
        return last

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()


# --- the driven pairs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pair:
    index: int  # the pair's number in the registry (`bench.plan`): s-NNNNNN, ds-/dp-NNNNNN
    victim: tuple[float, float]
    bearing: float  # from the victim to where the subject comes from

    @property
    def subject_id(self) -> str:
        return f"s-{self.index:06d}"

    @property
    def subject_device(self) -> str:
        return f"ds-{self.index:06d}"

    @property
    def victim_device(self) -> str:
        return f"dp-{self.index:06d}"

    def subject_at(self, distance_m: float) -> tuple[float, float]:
        return geo.destination(self.victim[0], self.victim[1], self.bearing, distance_m)


@dataclass(slots=True)
class Sent:
    """One driven fix: its POST and what the server said."""

    pair: int  # index into the driven pairs
    step: int  # index into STEPS
    device: str
    at: datetime  # the fix's time
    sent: float  # time.time() just before the POST
    answered: float | None = None  # time.time() when the answer came
    status: int | None = None
    stored: int = 0


def driven_pairs(first: int, count: int, seed: int = SEED) -> list[Pair]:
    rng = random.Random(seed)
    return [
        Pair(
            first + k,
            (rng.uniform(*bench.LAT_RANGE), rng.uniform(*bench.LON_RANGE)),
            rng.uniform(0.0, 360.0),
        )
        for k in range(count)
    ]


def _message(device: str, at: datetime, where: tuple[float, float]) -> dict[str, Any]:
    return {
        "device": device,
        "at": at.isoformat(),
        "fix": {"lat": where[0], "lon": where[1], "accuracy_m": bench.ACCURACY_M},
    }


async def place(client: httpx.AsyncClient, pairs: Sequence[Pair]) -> int:
    """Each driven victim where she stays, and her subject 3,000 m away: no alert yet."""
    at = datetime.now(UTC)
    messages = [
        m
        for p in pairs
        for m in (
            _message(p.victim_device, at, p.victim),
            _message(p.subject_device, at, p.subject_at(FAR_M)),
        )
    ]
    stored = 0
    for i in range(0, len(messages), 100):
        answer = await client.post(NATIVE_PATH, content=json.dumps(messages[i : i + 100]))
        answer.raise_for_status()
        stored += int(answer.json().get("stored", 0))
    return stored


async def drive(client: httpx.AsyncClient, pairs: Sequence[Pair], interval_s: float) -> list[Sent]:
    """Every pair's first step, then every second step, then every third; one fix per POST, one
    every `interval_s`, open loop (a slow answer does not hold back the next fix)."""
    sends: list[Sent] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(record: Sent, body: str) -> None:
        try:
            answer = await client.post(NATIVE_PATH, content=body)
        except httpx.HTTPError:
            return
        record.answered = time.time()
        record.status = answer.status_code
        if answer.status_code == 200:
            record.stored = int(answer.json().get("stored", 0))

    start = time.monotonic()
    n = 0
    for step, (_, distance) in enumerate(STEPS):
        for k, pair in enumerate(pairs):
            pause = start + n * interval_s - time.monotonic()
            n += 1
            if pause > 0:
                await asyncio.sleep(pause)
            at = datetime.now(UTC)
            body = json.dumps([_message(pair.subject_device, at, pair.subject_at(distance))])
            record = Sent(k, step, pair.subject_device, at, time.time())
            sends.append(record)
            tasks.append(asyncio.create_task(one(record, body)))
    await asyncio.gather(*tasks)
    return sends


async def burst(
    client: httpx.AsyncClient, pairs: Sequence[Pair], bystander: Pair
) -> tuple[Sent, list[tuple[float, float]]]:
    """Every burst subject comes to 50 m of his victim in one POST, so one writer batch opens a
    violation for each (and stages their pushes); meanwhile a bystander (a driven victim, standing
    still: no alert) posts a fix every PROBE_S, open loop, and each answer is timed: what a device
    waits while the burst is in the writer. Returns the burst POST and (sent, answered) per probe."""
    at = datetime.now(UTC)
    body = json.dumps([_message(p.subject_device, at, p.subject_at(VIOLATE_M)) for p in pairs])
    record = Sent(-1, 1, "burst", at, time.time())
    probes: list[tuple[float, float]] = []

    async def probe(when: datetime) -> None:
        sent = time.time()
        text = json.dumps([_message(bystander.victim_device, when, bystander.victim)])
        with contextlib.suppress(httpx.HTTPError):
            (await client.post(NATIVE_PATH, content=text)).raise_for_status()
            probes.append((sent, time.time()))

    async def the_burst() -> None:
        answer = await client.post(NATIVE_PATH, content=body)
        record.answered = time.time()
        record.status = answer.status_code
        if answer.status_code == 200:
            record.stored = int(answer.json().get("stored", 0))

    tasks = [asyncio.create_task(the_burst())]
    start = time.monotonic()
    for n in range(int(PROBE_FOR_S / PROBE_S)):
        pause = start + n * PROBE_S - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(probe(datetime.now(UTC))))
    await asyncio.gather(*tasks)
    return record, probes


# --- matching and figures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the server's database says about one push."""

    event_id: str
    alert_id: str
    subject_id: str | None
    push_type: str
    judged: float  # deliveries.created_at, as a Unix time
    delivered: float | None  # when the server had the target's 2xx
    attempts: int
    state: str


def read_deliveries(db_url: str) -> list[Delivery]:
    db = open_engine(db_url)
    try:
        with db.connect() as conn:
            rows = conn.execute(
                select(
                    t.deliveries.c.event_id,
                    t.deliveries.c.alert_id,
                    t.deliveries.c.created_at,
                    t.deliveries.c.delivered_at,
                    t.deliveries.c.attempts,
                    t.deliveries.c.state,
                    t.dispatch_events.c.push_type,
                    t.alerts.c.subject_id,
                )
                .join(t.dispatch_events, t.dispatch_events.c.id == t.deliveries.c.event_id)
                .join(t.alerts, t.alerts.c.id == t.deliveries.c.alert_id)
                .order_by(t.deliveries.c.id)
            ).all()
        return [
            Delivery(
                r.event_id,
                r.alert_id,
                r.subject_id,
                r.push_type,
                r.created_at.timestamp(),
                None if r.delivered_at is None else r.delivered_at.timestamp(),
                r.attempts,
                r.state,
            )
            for r in rows
        ]
    finally:
        db.dispose()


def read_received_at(db_url: str, devices: Iterable[str]) -> dict[tuple[str, datetime], float]:
    """(device, fix time) -> when the server received the fix, for the driven subjects."""
    wanted = sorted(set(devices))
    db = open_engine(db_url)
    try:
        with db.connect() as conn:
            rows = conn.execute(
                select(t.fixes.c.device_id, t.fixes.c.time, t.fixes.c.received_at).where(
                    t.fixes.c.device_id.in_(wanted)
                )
            ).all()
        return {(r.device_id, r.time): r.received_at.timestamp() for r in rows}
    finally:
        db.dispose()


def stats(seconds: Sequence[float]) -> dict[str, Any]:
    """count, p50/p95/p99/max (and min) in ms."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 3)

    return {
        "count": len(seconds),
        "p50_ms": ms(bench.percentile(seconds, 50)),
        "p95_ms": ms(bench.percentile(seconds, 95)),
        "p99_ms": ms(bench.percentile(seconds, 99)),
        "max_ms": ms(max(seconds)) if seconds else None,
        "min_ms": ms(min(seconds)) if seconds else None,
    }


def measure(
    receipts: Sequence[Sequence[Any]],
    deliveries: Sequence[Delivery],
    sends: Sequence[Sent],
    pairs: Sequence[Pair],
    received_at: dict[tuple[str, datetime], float],
    load_started: float,
    burst_subjects: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Match every push received to its delivery row (by id), and the driven ones to their fix."""
    first: dict[str, float] = {}
    for arrived, webhook_id, *_ in receipts:
        first[webhook_id] = min(arrived, first.get(webhook_id, arrived))
    by_event = {d.event_id: d for d in deliveries}
    subjects = {p.subject_id: k for k, p in enumerate(pairs)}
    step_of = {name: i for i, (name, _) in enumerate(STEPS)}
    fix_of = {(s.pair, s.step): s for s in sends}

    judged_all: list[float] = []
    warmup: list[float] = []
    in_burst: list[float] = []
    server_side: list[float] = []
    judged: list[float] = []
    answered: list[float] = []
    received: list[float] = []
    from_post: list[float] = []
    queued: list[float] = []
    commit: list[float] = []
    per_type: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    unmatched_driven = 0
    for event_id, arrived in first.items():
        d = by_event.get(event_id)
        if d is None:
            continue
        latency = arrived - d.judged
        if d.subject_id in burst_subjects:
            in_burst.append(latency)
            continue
        if d.judged < load_started:
            warmup.append(latency)
            continue
        judged_all.append(latency)
        if d.delivered is not None:
            server_side.append(d.delivered - d.judged)
        k = subjects.get(d.subject_id or "")
        if k is None:
            continue
        step = step_of.get(d.push_type)
        fix = fix_of.get((k, step)) if step is not None else None
        if fix is None or fix.answered is None:
            unmatched_driven += 1
            continue
        judged.append(latency)
        per_type[d.push_type].append(latency)
        answered.append(arrived - fix.answered)
        from_post.append(arrived - fix.sent)
        got = received_at.get((fix.device, fix.at))
        if got is not None:
            received.append(arrived - got)
            queued.append(d.judged - got)
        commit.append(fix.answered - d.judged)
    return {
        "driven": {
            "judged_to_push": stats(judged),
            "answered_to_push": stats(answered),
            "fix_received_to_push": stats(received),
            "post_sent_to_push": stats(from_post),
            "received_to_judged": stats(queued),
            "judged_to_answered": stats(commit),
            "by_push_type": {name: stats(values) for name, values in per_type.items()},
            "unmatched": unmatched_driven,
        },
        "all_pushes_judged_to_push": stats(judged_all),
        "all_pushes_judged_to_delivered_server_clock": stats(server_side),
        "warmup_burst_judged_to_push": stats(warmup),
        "burst_judged_to_push": stats(in_burst),
    }


# --- the run ------------------------------------------------------------------------------------------


def _summary(phase: PhaseResult) -> dict[str, Any]:
    s = phase.summary()
    return {
        k: s[k]
        for k in (
            "fixes",
            "stored",
            "errors",
            "failed_batches",
            "seconds",
            "fixes_per_s",
            "paced_at_fixes_per_s",
            "post_p50_ms",
            "post_p99_ms",
            "server_cpu_share",
            "loadgen_cpu_share",
        )
    }


async def _exercise(
    server: Server,
    receiver: Receiver,
    device_token: str,
    background: bench.Workload,
    pairs: Sequence[Pair],
    bursting: Sequence[Pair],
    *,
    rate: float,
    interval_s: float,
    quiet: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    sender = Sender(server.url, device_token, server.process.pid, bar=not quiet)
    client = httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {device_token}", "Content-Type": "application/json"},
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        timeout=60.0,
        trust_env=False,
    )
    local = httpx.AsyncClient(trust_env=False)
    try:
        warm = await sender.phase("dispatch", "warm-up", background.everyone(background.party_devices()))
        placed = await place(client, [*pairs, *bursting])
        burst = await receiver.settle(local, want=lambda _: True, limit_s=60.0)
        say(f"warm-up: {burst:,} pushes for the background pairs' alerts")
        before = burst
        burst_post: Sent | None = None
        probes: list[tuple[float, float]] = []
        if bursting:
            burst_post, probes = await globals()["burst"](client, bursting, pairs[0])
            before = await receiver.settle(local, want=lambda n: n >= burst + len(bursting), limit_s=WAIT_S)
            say(f"burst: {len(bursting):,} violations in one POST, {before - burst:,} pushes")
        say("now the measured phase")
        load_started = time.time()
        seconds = len(STEPS) * len(pairs) * interval_s + 2.0  # background load outlasts the driven fixes
        load_task = asyncio.create_task(
            sender.phase("dispatch", "load", background.moves(max(1, int(rate * seconds))), rate=rate)
        )
        sends = await drive(client, pairs, interval_s)
        load = await load_task
        expected = before + len(STEPS) * len(pairs)  # at least: the driven pushes
        await receiver.settle(local, want=lambda n: n >= expected, limit_s=WAIT_S)
        records = await receiver.records(local)
    finally:
        await sender.aclose()
        await client.aclose()
        await local.aclose()
    return {
        "warm": warm,
        "placed": placed,
        "load": load,
        "load_started": load_started,
        "sends": sends,
        "records": records,
        "burst": burst,
        "burst_post": burst_post,
        "probes": probes,
    }


def run(
    pairs: int = PAIRS,
    devices: int = DEVICES,
    *,
    rate: float = RATE,
    interval_s: float = INTERVAL_S,
    bursting: int = BURST,
    quiet: bool = False,
    workdir: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One run: prepare, receive, serve, drive, match; a JSON-ready dict."""
    tell = say or (lambda _: None)
    background_pairs = max(1, devices // BACKGROUND_SHARE)
    registered = max(devices, 2 * (background_pairs + pairs + bursting))
    load_before = bench._load()
    secret = new_secret()
    with tempfile.TemporaryDirectory(prefix="vigil-dispatchbench-", dir=workdir) as name:
        tmp = Path(name)
        tell(
            f"registering {background_pairs:,} background pairs, {pairs:,} driven pairs, {registered:,} devices"
        )
        db_url, tokens, registered_s = prepare(tmp, background_pairs + pairs + bursting, registered)
        receiver = Receiver(secret)
        server: Server | None = None
        try:
            receiver.wait_ready()
            server = Server(
                db_url,
                tmp,
                env={
                    "VIGIL_DISPATCH_URL": f"{receiver.url}{RECEIVER_PATH}",
                    "VIGIL_DISPATCH_SECRET": secret,
                    "VIGIL_DISPATCH_ACK_TIMEOUT_S": str(ACK_TIMEOUT_S),
                    # the third step's clear is pushed when the subject is far again, not after the
                    # proximity hold: this measures the push, not the hold
                    "VIGIL_TIER_HOLD_S": "0",
                    # its driven subjects jump 550 m and 2,950 m between steps a few seconds apart,
                    # which the movement rule would rightly put aside as impossible
                    "VIGIL_MOVE_MAX_MPS": "100000",
                },
            )
            startup_s = server.wait_ready()
            background = bench.plan(background_pairs, 2 * background_pairs)
            driven = driven_pairs(background_pairs, pairs)
            in_burst = driven_pairs(background_pairs + pairs, bursting, SEED + 1)
            out = asyncio.run(
                _exercise(
                    server,
                    receiver,
                    tokens["device"],
                    background,
                    driven,
                    in_burst,
                    rate=rate,
                    interval_s=interval_s,
                    quiet=quiet,
                    say=tell,
                )
            )
        except BaseException:
            if server is not None:
                tell(f"server log:\n{server.log()}")
            raise
        finally:
            if server is not None:
                server.stop()
            receiver.stop()
        deliveries = read_deliveries(db_url)
        sends: list[Sent] = out["sends"]
        received_at = read_received_at(db_url, (p.subject_device for p in driven))
    receipts = out["records"]["pushes"]
    burst_subjects = frozenset(p.subject_id for p in in_burst)
    latency = measure(receipts, deliveries, sends, driven, received_at, out["load_started"], burst_subjects)
    latency["burst"] = _burst_figures(out["burst_post"], out["probes"], deliveries, burst_subjects)
    ids = {r[1] for r in receipts}
    load: PhaseResult = out["load"]
    headline = latency["driven"]["judged_to_push"]
    p99 = headline["p99_ms"]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "driven_pairs": pairs,
            "background_pairs": background_pairs,
            "registered_devices": registered,
            "background_rate_fixes_per_s": rate,
            "background_batch": 100,
            "connections": 4,
            "driven_interval_s": interval_s,
            "burst": bursting,
            "steps": [{"push": name, "subject_at_m": m} for name, m in STEPS],
            "order": {"violation_m": bench.VIOLATION_M, "warning_m": bench.WARNING_M},
            "ack_timeout_s": ACK_TIMEOUT_S,
            "database": "SQLite file, WAL, synchronous=FULL",
            "seed": bench.SEED,
        },
        "machine": bench.machine(Path(workdir) if workdir else Path(tempfile.gettempdir())),
        "load_average": {"before": load_before, "after": bench._load()},
        "registration_s": round(registered_s, 2),
        "server_startup_s": round(startup_s, 2),
        "phases": {"warm-up": _summary(out["warm"]), "load": _summary(load)},
        "pushes": {
            "received": len(receipts),
            "unique": len(ids),
            "retried": len(receipts) - len(ids),
            "bad_signatures": len(out["records"]["bad"]),
            "warm_up_burst": out["burst"],
            "deliveries_in_db": len(deliveries),
            "undelivered": sum(1 for d in deliveries if d.state != "delivered"),
            "not_received": sum(1 for d in deliveries if d.event_id not in ids),
            "driven_expected": len(STEPS) * pairs,
            "driven_received": headline["count"],
        },
        "driven_fixes": {
            "sent": len(sends),
            "stored": sum(s.stored for s in sends),
            "failed": sum(1 for s in sends if s.status != 200),
            "placed": out["placed"],
        },
        "latency": latency,
        "figures": {
            "count": headline["count"],
            "p50_ms": headline["p50_ms"],
            "p95_ms": headline["p95_ms"],
            "p99_ms": p99,
            "max_ms": headline["max_ms"],
            "lower_bound_p99_ms": latency["driven"]["answered_to_push"]["p99_ms"],
            "all_pushes_p99_ms": latency["all_pushes_judged_to_push"]["p99_ms"],
            "target_p99_ms": TARGET_PUSH_P99_MS,
            "verdict": None if p99 is None else "PASS" if p99 <= TARGET_PUSH_P99_MS else "MISS",
            "background_fixes_per_s": load.summary()["fixes_per_s"],
            "server_cpu_share": load.summary()["server_cpu_share"],
        },
    }


# --- printing --------------------------------------------------------------------------------------


def _row(label: str, s: dict[str, Any]) -> str:
    def n(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.1f}"

    return (
        f"{label:<42} {s['count']:>6,} {n(s['p50_ms']):>8} {n(s['p95_ms']):>8} {n(s['p99_ms']):>8} "
        f"{n(s['max_ms']):>8}"
    )


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    p = result["parameters"]
    f = result["figures"]
    lat = result["latency"]
    d = lat["driven"]
    pushes = result["pushes"]
    lines = [
        f"vigil bench --workload dispatch, {result['date']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, disk {m['disk']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}",
        f"         load average {result['load_average']['before']} before, {result['load_average']['after']} after",
        f"workload: {p['driven_pairs']:,} driven pairs (3 pushes each: opened, escalated, cleared), one fix "
        f"every {p['driven_interval_s'] * 1000:.0f} ms; background {p['background_pairs']:,} pairs, "
        f"{p['registered_devices']:,} devices, {f['background_fixes_per_s'] or 0:,.0f} fixes/s "
        f"(paced at {p['background_rate_fixes_per_s']:,.0f}); server CPU {f['server_cpu_share']}",
        f"pushes: {pushes['received']:,} received ({pushes['retried']} retried, {pushes['bad_signatures']} bad "
        f"signatures), {pushes['warm_up_burst']:,} of them the warm-up burst; "
        f"{pushes['undelivered']} undelivered, {pushes['not_received']} not received",
        "",
        f"{'latency (ms)':<42} {'count':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}",
        _row("judged -> push, driven (headline)", d["judged_to_push"]),
        *(_row(f"  {name}", s) for name, s in d["by_push_type"].items()),
        _row("answered -> push, driven (lower bound)", d["answered_to_push"]),
        _row("fix received -> push, driven", d["fix_received_to_push"]),
        _row("device POST sent -> push, driven", d["post_sent_to_push"]),
        _row("  fix received -> judged (queue)", d["received_to_judged"]),
        _row("  judged -> answered (commit, reply)", d["judged_to_answered"]),
        _row("judged -> push, every push", lat["all_pushes_judged_to_push"]),
        _row("judged -> 2xx, every push, server", lat["all_pushes_judged_to_delivered_server_clock"]),
        _row("judged -> push, warm-up burst", lat["warmup_burst_judged_to_push"]),
        *_burst_rows(p["burst"], lat),
        "",
        f"{'figure':<42} {'measured':>12} {'target':>12}  verdict",
        f"{'alert -> push p99 (judged -> receipt)':<42} {_ms(f['p99_ms']):>12} "
        f"{'<= ' + _ms(f['target_p99_ms']):>12}  {f['verdict']}",
    ]
    return "\n".join(lines)


def _burst_figures(
    post: Sent | None,
    probes: Sequence[tuple[float, float]],
    deliveries: Sequence[Delivery],
    subjects: frozenset[str],
) -> dict[str, Any]:
    """The burst POST's batch (judged -> answered: judging, staging the pushes and the commit, plus
    the reply), and the bystander's answers (sent -> answered) while the burst was in the writer."""
    judged = [d.judged for d in deliveries if d.subject_id in subjects]
    batch = None
    if post is not None and post.answered is not None and judged:
        batch = round((post.answered - min(judged)) * 1000.0, 3)
    during = [answered - sent for sent, answered in probes]
    busy = [
        answered - sent
        for sent, answered in probes
        if post is not None and post.answered is not None and sent <= post.answered
    ]
    return {
        "post_stored": None if post is None else post.stored,
        "post_sent_to_answered_ms": None
        if post is None or post.answered is None
        else round((post.answered - post.sent) * 1000.0, 3),
        "batch_judged_to_answered_ms": batch,
        "bystander_answers": stats(during),
        "bystander_answers_until_burst_answered": stats(busy),
    }


def _burst_rows(size: int, lat: dict[str, Any]) -> list[str]:
    if not size:
        return []
    b = lat["burst"]
    return [
        _row(f"judged -> push, burst of {size} (one POST)", lat["burst_judged_to_push"]),
        f"{'  burst POST: judged -> answered (batch)':<42} {_ms(b['batch_judged_to_answered_ms']):>24}",
        f"{'  burst POST: sent -> answered':<42} {_ms(b['post_sent_to_answered_ms']):>24}",
        _row("  bystander POST answered, during burst", b["bystander_answers_until_burst_answered"]),
        _row("  bystander POST answered, 2 s window", b["bystander_answers"]),
    ]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms"


def main(
    pairs: int = PAIRS,
    devices: int = DEVICES,
    *,
    rate: float = RATE,
    bursting: int = BURST,
    out: str | None = None,
) -> int:
    result = run(
        pairs,
        devices,
        rate=rate,
        bursting=bursting,
        say=lambda text: print(text, file=sys.stderr, flush=True),
    )
    print(report(result), flush=True)
    if out:
        bench.save(result, Path(out))
    return 0
