"""`vigil simulate`: a simulated caseload, driven live against a server or run offline and judged.

Live (`--url`): the caseload is registered on the server over its REST API, then its devices report
in real time (the simulation's clock is the wall clock) until Ctrl-C or `--hours` have passed, with a
one-line summary every few seconds.

Offline (no `--url`): `--hours` of virtual time as fast as the simulator goes, from a fixed Monday
00:00 in Seoul, so the same arguments always give the same run. `--scenario-out FILE` writes it as
a `vigil replay` scenario; `--quality` replays it through the real engine (virtual clock, temporary
database) and scores the alerts against the simulation's ground truth, beside the targets:

* no true violation missed;
* at most 1 false violation alert per 100 subject-days under the default noise;
* median delay from the true crossing to the alert at most one reporting interval (60 s).

`--force KIND@MINUTES[:SUBJECT]` scripts an incident MINUTES into the run (default subject: the one
whose order's two parties live closest together), on top of the random ones (`--incident-rate` per
subject-day).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from vigil.domain import geo
from vigil.sim import replay
from vigil.sim.caseload import Caseload, make_caseload
from vigil.sim.driver import Driver, RegistrationError, run_live
from vigil.sim.incidents import DEFAULT_RATE, IncidentKind
from vigil.sim.simulator import TZ, Simulation
from vigil.sim.truth import PROXIMITY, ZONE, Quality, Truth, score

DEFAULT_SUBJECTS = 200
QUALITY_SUBJECTS = 50  # --quality without --subjects: 50 x 24 h replays in well under a minute
SUMMARY_EVERY_S = 5.0

# The targets.
TARGET_MISSED = 0
TARGET_FALSE_PER_100 = 1.0
TARGET_DELAY_S = 60.0  # one reporting interval

EVENT_ROWS = (
    ("tamper", "tamper"),
    ("sos", "sos"),
    ("battery_low", "battery low"),
    ("power_off", "battery dead (power off)"),
    ("signal_loss", "silence (signal loss)"),
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Forced:
    kind: IncidentKind
    minutes: float
    subject_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> Forced:
        """KIND@MINUTES[:SUBJECT], e.g. namyangju@10 or tamper@5:S-000003."""
        kind, sep, rest = text.partition("@")
        minutes, _, subject = rest.partition(":")
        try:
            parsed = IncidentKind(kind.strip())
            at = float(minutes) if sep else 0.0
        except ValueError:
            kinds = ", ".join(k.value for k in IncidentKind)
            raise UsageError(
                f"--force {text!r}: expected KIND@MINUTES[:SUBJECT], KIND one of {kinds}"
            ) from None
        if not math.isfinite(at) or at < 0:
            raise UsageError(f"--force {text!r}: MINUTES must be 0 or more")
        return cls(parsed, at, subject.strip() or None)


@dataclass(frozen=True, slots=True)
class Options:
    subjects: int | None = None  # None: 200, or 50 for --quality
    hours: float = 24.0
    seed: int = 1
    incident_rate: float = DEFAULT_RATE
    scenario_out: str | None = None
    quality: bool = False
    json_out: str | None = None
    url: str | None = None
    device_token: str | None = None
    registry_token: str | None = None
    force: tuple[Forced, ...] = ()
    concurrency: int = 16

    @property
    def subject_count(self) -> int:
        if self.subjects is not None:
            return self.subjects
        return QUALITY_SUBJECTS if self.quality else DEFAULT_SUBJECTS

    def check(self) -> None:
        if not 1 <= self.subject_count <= 100_000:
            raise UsageError("--subjects must be between 1 and 100,000")
        if not (math.isfinite(self.hours) and self.hours > 0):
            raise UsageError("--hours must be above 0")
        if not (math.isfinite(self.incident_rate) and 0 <= self.incident_rate <= 1):
            raise UsageError("--incident-rate must be between 0 and 1 (incidents per subject-day)")
        if self.url is None:
            if self.device_token or self.registry_token:
                raise UsageError("--device-token and --registry-token go with --url")
            return
        if not (self.device_token and self.registry_token):
            raise UsageError("--url needs --device-token (a gateway token) and --registry-token")
        if self.scenario_out or self.quality or self.json_out:
            raise UsageError("--scenario-out, --quality and --json are for offline runs (without --url)")


def _subject_for(load: Caseload, forced: Forced) -> str:
    if forced.subject_id is not None:
        if forced.subject_id not in load.subject_by_id:
            raise UsageError(f"--force: no subject {forced.subject_id!r} in this caseload")
        return forced.subject_id
    if not load.orders:
        return load.subjects[0].id

    def apart(order_index: int) -> float:
        o = load.orders[order_index]
        s, v = load.people[o.subject_id].home, load.people[o.protected_person_id].home
        return geo.distance_m(s.lat, s.lon, v.lat, v.lon)

    return load.orders[min(range(len(load.orders)), key=apart)].subject_id


def force_all(sim: Simulation, forced: Sequence[Forced], start: datetime) -> list[str]:
    """Script the forced incidents; returns a description of each."""
    done = []
    for f in forced:
        subject = _subject_for(sim.caseload, f)
        at = start + timedelta(minutes=f.minutes)
        incident = sim.force(f.kind, subject, at)
        who = subject + (f" -> {incident.protected_person_id}" if incident.protected_person_id else "")
        done.append(f"{f.kind.value} at {at.astimezone(TZ):%H:%M:%S} ({who})")
    return done


# --- offline -------------------------------------------------------------------------------------------


def write_scenario(doc: Mapping[str, Any], path: str | Path) -> None:
    """The document as JSON with one registry record or message per line (diffable, greppable)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    keys = list(doc)
    with target.open("w", encoding="utf-8") as f:
        f.write("{\n")
        for i, key in enumerate(keys):
            value = doc[key]
            f.write(f"  {json.dumps(key)}: ")
            if isinstance(value, list) and value:
                f.write("[\n")
                f.write(",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value))
                f.write("\n  ]")
            else:
                f.write(json.dumps(value, ensure_ascii=False))
            f.write(",\n" if i < len(keys) - 1 else "\n")
        f.write("}\n")


@dataclass(slots=True)
class OfflineRun:
    sim: Simulation
    doc: dict[str, Any]
    simulate_s: float
    forced: list[str]


def run_offline(options: Options, progress: TextIO | None = None) -> OfflineRun:
    """Simulate `options.hours` of virtual time and return the run as a replay document."""
    began = time.perf_counter()
    load = make_caseload(options.subject_count, options.seed)
    sim = Simulation(load, seed=options.seed, incident_rate=options.incident_rate)
    forced = force_all(sim, options.force, sim.start)
    until = sim.start + timedelta(hours=options.hours)
    if progress is not None:
        print(
            f"simulating {options.hours:g} h for {len(load.subjects)} subjects "
            f"({len(load.people)} devices) from {sim.start.isoformat()}",
            file=progress,
            flush=True,
        )
    doc = sim.replay_document(sim.run(until), until)  # streamed: the reports are never all in memory
    return OfflineRun(sim, doc, time.perf_counter() - began, forced)


@dataclass(slots=True)
class QualityReport:
    quality: Quality
    truth: Truth
    figures: dict[str, Any]
    table: str


def _pct(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100.0 * part / whole:.0f} %"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} s"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def _false_breakdown(q: Quality, load: Caseload) -> dict[str, int]:
    curfews = {s.curfew.id for s in load.subjects if s.curfew is not None}
    found: Counter[str] = Counter()
    for line in q.false_alert_lines:
        if line["kind"] == PROXIMITY:
            found["proximity"] += 1
        elif line.get("zone") in curfews:
            found["curfew"] += 1
        else:
            found["exclusion"] += 1
        if line.get("confidence") == "coarse":
            found["coarse"] += 1
        if line.get("change") == "updated":
            found["reactivated"] += 1
    return dict(found)


def judge(run: OfflineRun, options: Options, progress: TextIO | None = None) -> QualityReport:
    """Replay the run through the real engine and score its alerts against the truth."""
    messages = len(run.doc["messages"])
    if progress is not None:
        print(f"replaying {messages:,} messages through the engine", file=progress, flush=True)
    began = time.perf_counter()
    outcome = replay.simulate(replay.parse(run.doc))
    replay_s = time.perf_counter() - began
    truth = run.sim.truth
    q = score(truth, outcome.alerts)
    load = run.sim.caseload

    by_kind: dict[str, dict[str, int]] = {}
    missed = set(q.missed_violations)
    for v in truth.violations:
        row = by_kind.setdefault(v.kind, {"true": 0, "detected": 0})
        row["true"] += 1
        row["detected"] += v not in missed
    ok_missed = q.missed <= TARGET_MISSED
    ok_false = q.false_per_100_subject_days <= TARGET_FALSE_PER_100
    ok_delay = None if q.delay_median_s is None else q.delay_median_s <= TARGET_DELAY_S
    incidents = Counter(i.kind for i in truth.incidents)
    figures: dict[str, Any] = {
        "subjects": len(load.subjects),
        "hours": options.hours,
        "seed": options.seed,
        "incident_rate": options.incident_rate,
        "start": truth.start.isoformat(),
        "until": truth.until.isoformat(),
        "subject_days": round(q.subject_days, 3),
        "messages": messages,
        "alert_changes": len(outcome.alerts),
        "refused_messages": len(outcome.refusals),
        "simulate_s": round(run.simulate_s, 2),
        "replay_s": round(replay_s, 2),
        "incidents": dict(sorted(incidents.items())),
        "forced": run.forced,
        "true_violations": q.true_violations,
        "violations_by_kind": by_kind,
        "detected": q.detected,
        "missed": q.missed,
        "false_alerts": q.false_alerts,
        "false_alerts_by_cause": _false_breakdown(q, load),
        "false_per_100_subject_days": round(q.false_per_100_subject_days, 3),
        "delay_median_s": q.delay_median_s,
        "delay_p95_s": q.delay_p95_s,
        "events": {kind: {"true": t, "detected": d} for kind, (t, d) in sorted(q.events.items())},
        "targets": {
            "missed": {"target": TARGET_MISSED, "pass": ok_missed},
            "false_per_100_subject_days": {"target": TARGET_FALSE_PER_100, "pass": ok_false},
            "delay_median_s": {"target": TARGET_DELAY_S, "pass": ok_delay},
        },
        "missed_violations": [
            {
                "kind": v.kind,
                "subject": v.subject_id,
                "protected_person": v.protected_person_id,
                "zone": v.zone_id,
                "start": v.start.isoformat(),
                "end": None if v.end is None else v.end.isoformat(),
                "depth_m": v.depth_m,
            }
            for v in q.missed_violations
        ],
        "false_alert_lines": [dict(line) for line in q.false_alert_lines],
    }
    return QualityReport(q, truth, figures, quality_table(figures))


def quality_table(f: Mapping[str, Any]) -> str:
    """The figures as a plain-text table with the targets beside them."""
    w = 46
    rows: list[str] = [
        f"Detection quality: {f['subjects']} subjects x {f['hours']:g} h = {f['subject_days']:g} subject-days, "
        f"seed {f['seed']}, incident rate {f['incident_rate']:g}/subject-day",
        f"{f['messages']:,} messages simulated in {f['simulate_s']:.1f} s, replayed in {f['replay_s']:.1f} s: "
        f"{f['alert_changes']:,} alert changes, {f['refused_messages']:,} messages refused",
    ]
    incidents = ", ".join(f"{k} {n}" for k, n in f["incidents"].items()) or "none"
    rows.append(f"incidents: {incidents}")
    rows.append("")
    rows.append(f"{'':{w}}{'result':>10}   {'target':<10} ")

    def row(label: str, value: str, target: str = "", verdict: str = "") -> None:
        rows.append(f"{label:{w}}{value:>10}   {target:<10} {verdict}".rstrip())

    targets = f["targets"]
    row("true violations", str(f["true_violations"]))
    labels = {PROXIMITY: "  proximity: detected / true", ZONE: "  zone (exclusion, curfew): detected / true"}
    for kind, label in labels.items():
        k = f["violations_by_kind"].get(kind, {"true": 0, "detected": 0})
        row(label, f"{k['detected']}/{k['true']}")
    row("detected", str(f["detected"]))
    row("missed", str(f["missed"]), f"{TARGET_MISSED}", _verdict(targets["missed"]["pass"]))
    row("false alerts", str(f["false_alerts"]))
    causes = f["false_alerts_by_cause"]
    if causes:
        row(
            "  curfew / exclusion / proximity",
            f"{causes.get('curfew', 0)}/{causes.get('exclusion', 0)}/{causes.get('proximity', 0)}",
        )
        row("  on coarse fixes (accuracy > 300 m)", str(causes.get("coarse", 0)))
    row(
        "false violation alerts / 100 subject-days",
        f"{f['false_per_100_subject_days']:.2f}",
        f"<= {TARGET_FALSE_PER_100:g}",
        _verdict(targets["false_per_100_subject_days"]["pass"]),
    )
    row(
        "delay after the true crossing, median",
        _seconds(f["delay_median_s"]),
        f"<= {TARGET_DELAY_S:.0f} s",
        _verdict(targets["delay_median_s"]["pass"]),
    )
    row("delay after the true crossing, p95", _seconds(f["delay_p95_s"]))
    rows.append("events: detected / true")
    for kind, label in EVENT_ROWS:
        e = f["events"].get(kind, {"true": 0, "detected": 0})
        row(f"  {label}", f"{e['detected']}/{e['true']}", _pct(e["detected"], e["true"]))
    return "\n".join(rows)


def _offline(options: Options, out: TextIO, err: TextIO) -> int:
    run = run_offline(options, progress=err)
    for text in run.forced:
        print(f"forced: {text}", file=err)
    messages = len(run.doc["messages"])
    if options.scenario_out:
        write_scenario(run.doc, options.scenario_out)
        print(
            f"wrote {options.scenario_out}: {messages:,} messages (vigil replay {options.scenario_out})",
            file=err,
        )
    if not options.quality:
        truth = run.sim.truth
        incidents = Counter(i.kind for i in truth.incidents)
        print(
            f"{len(run.sim.caseload.subjects)} subjects x {options.hours:g} h: {messages:,} messages in "
            f"{run.simulate_s:.1f} s; {len(truth.violations)} true violations; incidents: "
            + (", ".join(f"{k} {n}" for k, n in sorted(incidents.items())) or "none"),
            file=out,
        )
        return EXIT_OK
    report = judge(run, options, progress=err)
    print(report.table, file=out, flush=True)
    if options.json_out:
        path = Path(options.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"saved {path}", file=err)
    return EXIT_OK


# --- live ---------------------------------------------------------------------------------------------


def summary_line(sim: Simulation, driver: Driver, began: float) -> str:
    s = driver.stats
    elapsed = int(time.monotonic() - began)
    line = (
        f"{elapsed // 3600:02d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}  "
        f"sim {sim.now.astimezone(TZ):%Y-%m-%d %H:%M:%S}  fixes {s.fixes:,} ({s.fixes_per_s():.1f}/s)  "
        f"events {s.events:,}  requests {s.requests:,}  refused {s.refused:,}  failed {s.failed:,}"
    )
    if s.last_error and (s.refused or s.failed):
        line += f"  last: {s.last_error[:160]}"
    return line


@contextlib.contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def live(options: Options, out: TextIO, err: TextIO, stop: asyncio.Event | None = None) -> int:
    assert options.url and options.device_token and options.registry_token
    stop = stop or asyncio.Event()
    load = make_caseload(options.subject_count, options.seed)
    async with Driver(
        options.url,
        device_token=options.device_token,
        registry_token=options.registry_token,
        concurrency=options.concurrency,
    ) as driver:
        print(
            f"registering {len(load.subjects)} subjects, {len(load.protected_persons)} protected persons, "
            f"{len(load.orders)} orders and {len(load.people)} devices on {options.url}",
            file=out,
            flush=True,
        )
        began = time.monotonic()
        try:
            await driver.register(load)
        except RegistrationError as exc:
            print(f"registration failed: {exc}", file=err)
            return EXIT_FAILED
        print(f"registered in {time.monotonic() - began:.1f} s", file=out, flush=True)
        # The simulation starts now: the server refuses fixes from more than 5 minutes ahead.
        sim = Simulation(load, seed=options.seed, start=datetime.now(TZ), incident_rate=options.incident_rate)
        for text in force_all(sim, options.force, sim.start):
            print(f"forced: {text}", file=out)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(options.hours * 3600.0, stop.set)
        began = time.monotonic()

        async def report() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=SUMMARY_EVERY_S)
                print(summary_line(sim, driver, began), file=out, flush=True)

        print(f"driving live from {sim.start:%H:%M:%S}; Ctrl-C to stop", file=out, flush=True)
        with _stop_on_signals(loop, stop):
            try:
                await asyncio.gather(run_live(sim, driver, stop=stop), report())
            finally:
                timer.cancel()
        print("stopped", file=out, flush=True)
    return EXIT_OK


# --- the command ----------------------------------------------------------------------------------------


def main(options: Options, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        options.check()
        if options.url is not None:
            return asyncio.run(live(options, out, err))
        return _offline(options, out, err)
    except UsageError as exc:
        print(f"vigil simulate: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:  # where no signal handler could be installed (Windows)
        print("stopped", file=out)
        return EXIT_INTERRUPTED
