"""`vigil simulate`: a simulated caseload, driven live against a server or run offline and judged.

Live (`--url`): the caseload is registered on the server over its REST API, then its devices report
in real time (the simulation's clock is the wall clock) until Ctrl-C or `--hours` have passed, with a
one-line summary every few seconds.

Offline (no `--url`): `--hours` of virtual time as fast as the simulator goes, from a fixed Monday
00:00 in Seoul, so the same arguments always give the same run. `--scenario-out FILE` writes it as
a `vigil replay` scenario; `--quality` replays it through the real engine (virtual clock, temporary
database) and scores the alerts against the simulation's ground truth, beside the issue's targets
(`vigil_sim.quality`). `--noise clean|default|noisy` picks the device noise profile; `--seeds A-B`,
several `--incident-rate`s and several `--noise` profiles (comma-separated) make one run per
combination, in parallel worker processes (`--workers`, at most the machine's cores), with the same
results as one after the other; the figures are printed per run and in total, with every miss and
false violation alert traced to its cause.

`--force KIND@MINUTES[:SUBJECT]` scripts an incident MINUTES into the run (default subject: the one
whose order's two parties live closest together), on top of the random ones (`--incident-rate` per
subject-day).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from vigil import replay
from vigil.domain import geo
from vigil_sim import quality
from vigil_sim.caseload import Caseload, CaseloadSettings, make_caseload
from vigil_sim.devices import NOISE_NAMES, NOISE_PROFILES
from vigil_sim.driver import Driver, RegistrationError, run_live
from vigil_sim.incidents import DEFAULT_RATE, IncidentKind
from vigil_sim.simulator import TZ, Simulation
from vigil_sim.trace import trace
from vigil_sim.truth import load as operator_load
from vigil_sim.truth import score

DEFAULT_SUBJECTS = 200
# A quality run's devices report for an hour before the measured day, incident-free and unscored:
# the engine then starts the day knowing where everyone was, as a control centre that has been
# running does (without it, every monitor indoors at midnight began a location_loss spell afresh).
QUALITY_WARM_UP_S = 3600.0
QUALITY_SUBJECTS = 50  # --quality without --subjects: 50 x 24 h replays in well under a minute
SUMMARY_EVERY_S = 5.0
MAX_RUNS = 1_000

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


def parse_seeds(text: str) -> tuple[int, ...]:
    """ "A-B" (inclusive), "A", or a comma-separated list of either: "1-6", "1,3,7-9"."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            a = int(low)
            b = int(high) if dash else a
        except ValueError:
            raise UsageError(f"--seeds {text!r}: expected A-B or a list such as 1,3,7-9") from None
        if a < 0 or b < a:
            raise UsageError(f"--seeds {text!r}: a range A-B needs 0 <= A <= B")
        if b - a + len(seeds) >= MAX_RUNS:
            raise UsageError(f"--seeds {text!r}: at most {MAX_RUNS} seeds")
        seeds.extend(range(a, b + 1))
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: a seed is named twice")
    return tuple(seeds)


def parse_rates(text: str) -> tuple[float, ...]:
    """One incident rate or several, comma-separated: "0.05,0.5"."""
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--incident-rate {text!r}: expected numbers such as 0.05 or 0.05,0.5") from None
    for r in rates:
        if not (math.isfinite(r) and 0 <= r <= 1):
            raise UsageError("--incident-rate must be between 0 and 1 (incidents per subject-day)")
    return rates


def parse_noise(text: str) -> tuple[str, ...]:
    """One noise profile or several, comma-separated: "default,noisy"."""
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in NOISE_PROFILES:
            raise UsageError(f"--noise {name!r}: one of {', '.join(NOISE_NAMES)}")
    return names


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One offline run: what it simulates and how."""

    seed: int
    incident_rate: float
    noise: str


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
    noise: tuple[str, ...] = ("default",)
    seeds: tuple[int, ...] | None = None  # several runs; None: just `seed`
    incident_rates: tuple[float, ...] | None = None  # several runs; None: just `incident_rate`
    workers: int | None = None  # None: as many as runs, at most the machine's cores
    plain_world: bool = False  # no slow devices, no second phones: the world before issue 13

    @property
    def subject_count(self) -> int:
        if self.subjects is not None:
            return self.subjects
        return QUALITY_SUBJECTS if self.quality else DEFAULT_SUBJECTS

    def caseload_settings(self) -> CaseloadSettings:
        if self.plain_world:
            return CaseloadSettings(slow_device_fraction=0.0, second_device_fraction=0.0)
        return CaseloadSettings()

    def runs(self) -> list[RunSpec]:
        """Every combination, noise first, then rate, then seed (the order of the table)."""
        seeds = self.seeds if self.seeds is not None else (self.seed,)
        rates = self.incident_rates if self.incident_rates is not None else (self.incident_rate,)
        return [RunSpec(seed, rate, noise) for noise in self.noise for rate in rates for seed in seeds]

    def worker_count(self) -> int:
        wanted = self.workers if self.workers is not None else (os.cpu_count() or 1)
        return max(1, min(wanted, os.cpu_count() or 1, len(self.runs())))

    def check(self) -> None:
        if not 1 <= self.subject_count <= 100_000:
            raise UsageError("--subjects must be between 1 and 100,000")
        if not (math.isfinite(self.hours) and self.hours > 0):
            raise UsageError("--hours must be above 0")
        for rate in self.incident_rates or (self.incident_rate,):
            if not (math.isfinite(rate) and 0 <= rate <= 1):
                raise UsageError("--incident-rate must be between 0 and 1 (incidents per subject-day)")
        for name in self.noise:
            if name not in NOISE_PROFILES:
                raise UsageError(f"--noise {name!r}: one of {', '.join(NOISE_NAMES)}")
        if not self.noise:
            raise UsageError("--noise names no profile")
        if self.workers is not None and self.workers < 1:
            raise UsageError("--workers must be 1 or more")
        several = len(self.runs()) > 1
        if len(self.runs()) > MAX_RUNS:
            raise UsageError(f"at most {MAX_RUNS} runs in one command")
        if several and not self.quality:
            raise UsageError("several seeds, incident rates or noise profiles go with --quality")
        if several and self.scenario_out:
            raise UsageError("--scenario-out writes one run: give one seed, one rate and one noise profile")
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
    spec: RunSpec


def run_offline(options: Options, progress: TextIO | None = None, spec: RunSpec | None = None) -> OfflineRun:
    """Simulate `options.hours` of virtual time and return the run as a replay document."""
    spec = spec or options.runs()[0]
    began = time.perf_counter()
    load = make_caseload(options.subject_count, spec.seed, options.caseload_settings())
    sim = Simulation(
        load,
        seed=spec.seed,
        incident_rate=spec.incident_rate,
        tuning=NOISE_PROFILES[spec.noise],
        warm_up_s=QUALITY_WARM_UP_S if options.quality else 0.0,
    )
    forced = force_all(sim, options.force, sim.start)
    until = sim.start + timedelta(hours=options.hours)
    if progress is not None:
        devices = sum(len(p.devices) for p in load.people.values())
        print(
            f"simulating {options.hours:g} h for {len(load.subjects)} subjects ({devices} devices) "
            f"from {sim.start.isoformat()}, seed {spec.seed}, rate {spec.incident_rate:g}, noise {spec.noise}",
            file=progress,
            flush=True,
        )
    doc = sim.replay_document(sim.run(until), until)  # streamed: the reports are never all in memory
    return OfflineRun(sim, doc, time.perf_counter() - began, forced, spec)


def judge(run: OfflineRun, options: Options, progress: TextIO | None = None) -> dict[str, Any]:
    """Replay the run through the real engine, score its alerts against the truth, trace every miss
    and false alert, and count the operators' load: the run's figures."""
    messages = run.doc["messages"]
    if progress is not None:
        print(f"replaying {len(messages):,} messages through the engine", file=progress, flush=True)
    began = time.perf_counter()
    outcome = replay.simulate(replay.parse(run.doc))
    replay_s = time.perf_counter() - began
    truth = run.sim.truth
    q = score(truth, outcome.alerts)
    missed, false, slow = trace(
        run.sim, truth, messages, q, outcome.alerts, slow_s=quality.TARGET_DELAY_P95_S
    )
    load = run.sim.caseload
    curfews = {s.curfew.id for s in load.subjects if s.curfew is not None}
    spec = run.spec
    described = {
        "noise": spec.noise,
        "world": "plain" if options.plain_world else "issue 13",
        "seed": spec.seed,
        "incident_rate": spec.incident_rate,
        "subjects": len(load.subjects),
        "hours": options.hours,
        "start": truth.start.isoformat(),
        "until": truth.until.isoformat(),
        "messages": len(messages),
        "alert_changes": len(outcome.alerts),
        "refused_messages": len(outcome.refusals),
        "simulate_s": round(run.simulate_s, 2),
        "replay_s": round(replay_s, 2),
        "incidents": dict(sorted(Counter(i.kind for i in truth.incidents).items())),
        "forced": run.forced,
    }
    return quality.figures(
        run=described,
        truth=truth,
        quality=q,
        load=operator_load(truth, outcome.alerts),
        missed=missed,
        false=false,
        slow=slow,
        curfews=curfews,
    )


def quality_run(options: Options, spec: RunSpec) -> dict[str, Any]:
    """One whole run, simulated and judged: what a worker process does."""
    return judge(run_offline(options, spec=spec), options)


def quality_runs(options: Options, progress: TextIO | None = None) -> list[dict[str, Any]]:
    """Every run's figures, in the order of `options.runs()`, from worker processes when there are
    several (each run depends only on its own arguments, so the results are those of a serial loop)."""
    specs = options.runs()
    workers = options.worker_count()
    if workers == 1:
        return [quality_run(options, spec) for spec in specs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(quality_run, options, spec) for spec in specs]
        results = []
        for k, future in enumerate(futures, 1):
            results.append(future.result())
            if progress is not None:
                r = results[-1]
                print(
                    f"run {k}/{len(specs)} done: noise {r['noise']}, rate {r['incident_rate']:g}, seed {r['seed']} "
                    f"({r['simulate_s'] + r['replay_s']:.0f} s)",
                    file=progress,
                    flush=True,
                )
        return results


def totals(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The runs added up per noise profile (each against its own false-alert target), then all."""
    out: list[tuple[str, dict[str, Any]]] = []
    profiles = list(dict.fromkeys(r["noise"] for r in runs))
    for name in profiles:
        mine = [r for r in runs if r["noise"] == name]
        out.append((f"total {name} ({len(mine)} runs)", quality.total(mine, noise=name)))
    if len(profiles) > 1:
        out.append((f"total ({len(runs)} runs)", quality.total(runs, noise="all")))
    return out


def _save(path_text: str, document: Any, err: TextIO) -> None:
    path = Path(path_text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"saved {path}", file=err)


def _offline(options: Options, out: TextIO, err: TextIO) -> int:
    specs = options.runs()
    if options.quality and len(specs) > 1:
        began = time.perf_counter()
        print(
            f"{len(specs)} runs of {options.subject_count} subjects x {options.hours:g} h "
            f"on {options.worker_count()} worker(s)",
            file=err,
            flush=True,
        )
        runs = quality_runs(options, progress=err)
        summed = totals(runs)
        wall = time.perf_counter() - began
        print(quality.summary_table(runs, summed), file=out, flush=True)
        print(f"{len(specs)} runs in {wall:.0f} s on {options.worker_count()} worker(s)", file=err)
        if options.json_out:
            document = {
                "runs": runs,
                "totals": [{"label": label, **f} for label, f in summed],
                "wall_s": round(wall, 1),
                "workers": options.worker_count(),
            }
            _save(options.json_out, document, err)
        return EXIT_OK
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
    figures = judge(run, options, progress=err)
    print(quality.run_table(figures), file=out, flush=True)
    lines = quality.trace_lines([figures])
    print("\n".join(lines), file=out, flush=True)
    if options.json_out:
        _save(options.json_out, figures, err)
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
    load = make_caseload(options.subject_count, options.seed, options.caseload_settings())
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
        sim = Simulation(
            load,
            seed=options.seed,
            start=datetime.now(TZ),
            incident_rate=options.incident_rate,
            tuning=NOISE_PROFILES[options.noise[0]],
        )
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
