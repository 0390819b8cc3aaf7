"""The quality figures of simulated runs: per run, in total, beside the issue's targets, as text.

`figures(...)` turns one replayed run (its truth, its alert lines, the traces of its misses and false
alerts) into a JSON-ready dict; `total(runs)` adds runs up (delays pooled, rates over all their
subject-days); `run_table` and `summary_table` print them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from vigil_sim.truth import PAIR_RAISES_PER_DAY, PROXIMITY, ZONE, Load, PairDay, Quality, Truth, percentile

# The targets (default noise unless said).
TARGET_MISSED = 0
TARGET_FALSE_PER_100 = {"clean": 0.5, "default": 0.5, "noisy": 2.0}
TARGET_DELAY_MEDIAN_S = 30.0
TARGET_DELAY_P95_S = 120.0
TARGET_RAISES_PER_SUBJECT_DAY = 1.0
TARGET_NOISY_PAIRS = 0

EVENT_ROWS = (
    ("tamper", "tamper"),
    ("sos", "sos"),
    ("battery_low", "battery low"),
    ("power_off", "battery dead (power off)"),
    ("signal_loss", "silence (signal loss)"),
)


def _pair(p: PairDay | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "person": p.person,
        "target": p.target,
        "day": p.day,
        "raises": p.raises,
        "justified": p.justified,
    }


def load_figures(load: Load) -> dict[str, Any]:
    days = load.subject_days or 1.0
    return {
        "raises": load.raises,
        "raises_per_subject_day": round(load.raises_per_subject_day, 3),
        "raises_by_kind": dict(load.raises_by_kind),
        "raises_per_subject_day_by_kind": {k: round(n / days, 3) for k, n in load.raises_by_kind.items()},
        "lines": load.lines,
        "lines_per_subject_day": round(load.lines_per_subject_day, 3),
        "worst_pair_day": _pair(load.worst),
        "worst_unjustified_pair_day": _pair(next((p for p in load.pair_days if not p.justified), None)),
        "noisy_pairs": [_pair(p) for p in load.noisy_pairs],
    }


def _violation(v: Any) -> dict[str, Any]:
    return {
        "kind": v.kind,
        "subject": v.subject_id,
        "protected_person": v.protected_person_id,
        "zone": v.zone_id,
        "start": v.start.isoformat(),
        "end": None if v.end is None else v.end.isoformat(),
        "depth_m": v.depth_m,
    }


def _excused(truth: Truth, v: Any) -> dict[str, Any]:
    """An excused violation with the window in which his monitor lay cut off."""
    found = _violation(v)
    cut = truth.blind_at(v.subject_id, v.start)
    if cut is not None:
        found["monitor_cut"] = {
            "device": cut.device_id,
            "from": cut.start.isoformat(),
            "until": cut.end.isoformat(),
        }
    return found


def targets(f: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its verdict (None: nothing to judge, e.g. no delay without a violation)."""
    # Runs of several profiles together have no false-alert target of their own (None: no verdict).
    false_target = TARGET_FALSE_PER_100.get(f.get("noise", "default"))
    median, p95 = f["delay_median_s"], f["delay_p95_s"]
    load = f["load"]
    return {
        "missed": {"target": TARGET_MISSED, "pass": f["missed"] <= TARGET_MISSED},
        "false_per_100_subject_days": {
            "target": false_target,
            "pass": None if false_target is None else f["false_per_100_subject_days"] <= false_target,
        },
        "delay_median_s": {
            "target": TARGET_DELAY_MEDIAN_S,
            "pass": None if median is None else median <= TARGET_DELAY_MEDIAN_S,
        },
        "delay_p95_s": {
            "target": TARGET_DELAY_P95_S,
            "pass": None if p95 is None else p95 <= TARGET_DELAY_P95_S,
        },
        "raises_per_subject_day": {
            "target": TARGET_RAISES_PER_SUBJECT_DAY,
            "pass": load["raises_per_subject_day"] <= TARGET_RAISES_PER_SUBJECT_DAY,
        },
        "noisy_pairs": {"target": TARGET_NOISY_PAIRS, "pass": len(load["noisy_pairs"]) <= TARGET_NOISY_PAIRS},
    }


def figures(
    *,
    run: Mapping[str, Any],
    truth: Truth,
    quality: Quality,
    load: Load,
    missed: Sequence[Mapping[str, Any]],
    false: Sequence[Mapping[str, Any]],
    curfews: set[str],
    slow: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One run's figures; `run` holds what describes it (seed, noise, timings, ...)."""
    q = quality
    by_kind: dict[str, dict[str, int]] = {}
    missed_set = set(q.missed_violations)
    excused = set(q.excused_violations)
    for v in truth.violations:
        if v in excused:
            continue
        row = by_kind.setdefault(v.kind, {"true": 0, "detected": 0})
        row["true"] += 1
        row["detected"] += v not in missed_set
    causes: dict[str, int] = {}
    for line in q.false_alert_lines:
        if line["kind"] == PROXIMITY:
            family = "proximity"
        elif line.get("zone") in curfews:
            family = "curfew"
        else:
            family = "exclusion"
        causes[family] = causes.get(family, 0) + 1
    f: dict[str, Any] = {
        **run,
        "subject_days": round(q.subject_days, 3),
        "true_violations": q.true_violations,
        "violations_by_kind": by_kind,
        "detected": q.detected,
        "missed": q.missed,
        "excused_by_tamper": len(q.excused_violations),
        "excused_alerts_by_tamper": len(q.excused_alert_lines),
        "false_alerts": q.false_alerts,
        "false_alerts_by_rule": causes,
        "false_alerts_by_cause": _count(false, "cause"),
        "missed_by_cause": _count(missed, "cause"),
        "false_per_100_subject_days": round(q.false_per_100_subject_days, 3),
        "delay_median_s": q.delay_median_s,
        "delay_p95_s": q.delay_p95_s,
        "delays_s": list(q.delays_s),
        "events": {kind: {"true": t, "detected": d} for kind, (t, d) in sorted(q.events.items())},
        "load": load_figures(load),
        "missed_violations": list(missed),
        "excused_violations": [_excused(truth, v) for v in q.excused_violations],
        "false_alerts_traced": list(false),
        "slow_detections": list(slow),  # detected later than the p95 target, traced like a miss
        "false_alert_lines": [dict(line) for line in q.false_alert_lines],
    }
    f["targets"] = targets(f)
    return f


def _count(items: Sequence[Mapping[str, Any]], key: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for item in items:
        found[str(item.get(key))] = found.get(str(item.get(key)), 0) + 1
    return dict(sorted(found.items()))


def total(runs: Sequence[Mapping[str, Any]], noise: str | None = None) -> dict[str, Any]:
    """Runs added up: counts summed, delays pooled, rates over all their subject-days, the worst
    pair over all of them. `noise` names the profile whose false-alert target applies."""
    days = sum(r["subjects"] * r["hours"] / 24.0 for r in runs)  # not the rounded per-run figures
    delays = [d for r in runs for d in r["delays_s"]]
    by_kind: dict[str, int] = {}
    for r in runs:
        for k, n in r["load"]["raises_by_kind"].items():
            by_kind[k] = by_kind.get(k, 0) + n
    raises = sum(by_kind.values())
    lines = sum(r["load"]["lines"] for r in runs)
    worst = max(
        (r["load"]["worst_pair_day"] for r in runs if r["load"]["worst_pair_day"]),
        key=lambda p: p["raises"],
        default=None,
    )
    false = sum(r["false_alerts"] for r in runs)
    noisy = [p for r in runs for p in r["load"]["noisy_pairs"]]
    events: dict[str, dict[str, int]] = {}
    for r in runs:
        for k, e in r["events"].items():
            row = events.setdefault(k, {"true": 0, "detected": 0})
            row["true"] += e["true"]
            row["detected"] += e["detected"]
    f: dict[str, Any] = {
        "runs": len(runs),
        "noise": noise or "/".join(sorted({r.get("noise", "default") for r in runs})),
        "subject_days": round(days, 3),
        "true_violations": sum(r["true_violations"] for r in runs),
        "detected": sum(r["detected"] for r in runs),
        "missed": sum(r["missed"] for r in runs),
        "excused_by_tamper": sum(r["excused_by_tamper"] for r in runs),
        "excused_alerts_by_tamper": sum(r["excused_alerts_by_tamper"] for r in runs),
        "false_alerts": false,
        "false_per_100_subject_days": round(100.0 * false / days, 3) if days else 0.0,
        "delay_median_s": statistics.median(delays) if delays else None,
        "delay_p95_s": percentile(delays, 0.95),
        "events": events,
        "load": {
            "raises": raises,
            "raises_per_subject_day": round(raises / days, 3) if days else 0.0,
            "raises_by_kind": dict(sorted(by_kind.items())),
            "raises_per_subject_day_by_kind": {k: round(n / days, 3) for k, n in sorted(by_kind.items())},
            "lines": lines,
            "lines_per_subject_day": round(lines / days, 3) if days else 0.0,
            "worst_pair_day": worst,
            "noisy_pairs": noisy,
        },
    }
    f["targets"] = targets(f)
    return f


# --- text ------------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} s"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def _pct(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100.0 * part / whole:.0f} %"


def _worst(p: Mapping[str, Any] | None) -> str:
    return "-" if p is None else f"{p['raises']} ({p['person']} {p['target']} {p['day']})"


def run_table(f: Mapping[str, Any]) -> str:
    """One run's figures as a plain-text table with the targets beside them."""
    w = 46
    rows: list[str] = [
        f"Detection quality: {f['subjects']} subjects x {f['hours']:g} h = {f['subject_days']:g} subject-days, "
        f"seed {f['seed']}, incident rate {f['incident_rate']:g}/subject-day, noise {f['noise']}",
        f"{f['messages']:,} messages simulated in {f['simulate_s']:.1f} s, replayed in {f['replay_s']:.1f} s: "
        f"{f['alert_changes']:,} alert changes, {f['refused_messages']:,} messages refused",
    ]
    incidents = ", ".join(f"{k} {n}" for k, n in f["incidents"].items()) or "none"
    rows.append(f"incidents: {incidents}")
    rows.append("")
    rows.append(f"{'':{w}}{'result':>10}   {'target':<10} ")

    def row(label: str, value: str, target: str = "", verdict: str = "") -> None:
        rows.append(f"{label:{w}}{value:>10}   {target:<10} {verdict}".rstrip())

    t = f["targets"]
    row("true violations", str(f["true_violations"]))
    labels = {PROXIMITY: "  proximity: detected / true", ZONE: "  zone (exclusion, curfew): detected / true"}
    for kind, label in labels.items():
        k = f["violations_by_kind"].get(kind, {"true": 0, "detected": 0})
        row(label, f"{k['detected']}/{k['true']}")
    row("  excused: began after his monitor was cut", str(f["excused_by_tamper"]))
    row("detected", str(f["detected"]))
    row("missed", str(f["missed"]), f"{TARGET_MISSED}", _verdict(t["missed"]["pass"]))
    row("false alerts", str(f["false_alerts"]))
    causes = f["false_alerts_by_rule"]
    if causes:
        row(
            "  curfew / exclusion / proximity",
            f"{causes.get('curfew', 0)}/{causes.get('exclusion', 0)}/{causes.get('proximity', 0)}",
        )
    row(
        "false violation alerts / 100 subject-days",
        f"{f['false_per_100_subject_days']:.2f}",
        f"<= {t['false_per_100_subject_days']['target'] or 0:g}",
        _verdict(t["false_per_100_subject_days"]["pass"]),
    )
    row(
        "delay after the true crossing, median",
        _seconds(f["delay_median_s"]),
        f"<= {TARGET_DELAY_MEDIAN_S:.0f} s",
        _verdict(t["delay_median_s"]["pass"]),
    )
    row(
        "delay after the true crossing, p95",
        _seconds(f["delay_p95_s"]),
        f"<= {TARGET_DELAY_P95_S:.0f} s",
        _verdict(t["delay_p95_s"]["pass"]),
    )
    load = f["load"]
    row(
        "alert raises / subject-day",
        f"{load['raises_per_subject_day']:.2f}",
        f"<= {TARGET_RAISES_PER_SUBJECT_DAY:g}",
        _verdict(t["raises_per_subject_day"]["pass"]),
    )
    for kind, n in load["raises_per_subject_day_by_kind"].items():
        row(f"  {kind}", f"{n:.2f}")
    row("alert lines / subject-day", f"{load['lines_per_subject_day']:.2f}")
    row("worst pair: raises in a day", str(load["worst_pair_day"]["raises"] if load["worst_pair_day"] else 0))
    row(
        f"pairs > {PAIR_RAISES_PER_DAY} raises a day, no true violation",
        str(len(load["noisy_pairs"])),
        "0",
        _verdict(t["noisy_pairs"]["pass"]),
    )
    rows.append("events: detected / true")
    for kind, label in EVENT_ROWS:
        e = f["events"].get(kind, {"true": 0, "detected": 0})
        row(f"  {label}", f"{e['detected']}/{e['true']}", _pct(e["detected"], e["true"]))
    return "\n".join(rows)


SUMMARY_HEADER = (
    "| run | subject-days | detected / true | missed | excused (tamper) | false | false / 100 | "
    "delay median | delay p95 | raises / subject-day | lines / subject-day | worst pair-day | "
    "noisy pairs |"
)


def summary_row(label: str, f: Mapping[str, Any], *, verdicts: bool = False) -> str:
    load = f["load"]
    t = f["targets"]

    def v(name: str, text: str) -> str:
        return f"{text} {_verdict(t[name]['pass'])}" if verdicts else text

    worst = load["worst_pair_day"]
    return (
        f"| {label} | {f['subject_days']:g} | {f['detected']}/{f['true_violations']} | "
        f"{v('missed', str(f['missed']))} | {f['excused_by_tamper']} | {f['false_alerts']} | "
        f"{v('false_per_100_subject_days', format(f['false_per_100_subject_days'], '.2f'))} | "
        f"{v('delay_median_s', _seconds(f['delay_median_s']))} | {v('delay_p95_s', _seconds(f['delay_p95_s']))} | "
        f"{v('raises_per_subject_day', format(load['raises_per_subject_day'], '.2f'))} | "
        f"{load['lines_per_subject_day']:.2f} | {worst['raises'] if worst else 0} | "
        f"{v('noisy_pairs', str(len(load['noisy_pairs'])))} |"
    )


def summary_table(runs: Sequence[Mapping[str, Any]], totals: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """A Markdown table: one row per run, then the totals with their verdicts; then raises by kind,
    and every miss and false alert traced."""
    rows = [SUMMARY_HEADER, "|" + "---|" * SUMMARY_HEADER.count(" | ") + "---|"]
    for r in runs:
        rows.append(summary_row(f"{r['noise']}, rate {r['incident_rate']:g}, seed {r['seed']}", r))
    for label, f in totals:
        rows.append(summary_row(f"**{label}**", f, verdicts=True))
    rows.append("")
    rows.append(
        f"Targets: missed {TARGET_MISSED}; false / 100 subject-days <= "
        + ", ".join(f"{n} {x:g}" for n, x in TARGET_FALSE_PER_100.items())
        + f"; delay median <= {TARGET_DELAY_MEDIAN_S:.0f} s, p95 <= {TARGET_DELAY_P95_S:.0f} s; "
        f"raises / subject-day <= {TARGET_RAISES_PER_SUBJECT_DAY:g}; no pair > {PAIR_RAISES_PER_DAY} raises a day "
        "without a true violation."
    )
    rows.append("")
    rows.append("Raises per subject-day by kind:")
    for label, f in totals:
        by_kind = f["load"]["raises_per_subject_day_by_kind"]
        rows.append(f"  {label}: " + (", ".join(f"{k} {n:.2f}" for k, n in by_kind.items()) or "none"))
    rows.append("")
    rows.extend(trace_lines(runs))
    return "\n".join(rows)


def trace_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for r in runs:
        tag = f"{r['noise']}, rate {r['incident_rate']:g}, seed {r['seed']}"
        for m in r["missed_violations"]:
            out.append(
                f"MISSED [{tag}] {m['rule']}: {m['subject']} {m['start']} ({m['duration_s']} s, "
                f"{m['depth_m']:.0f} m deep): {m['cause']}: {m['detail']}"
            )
        for x in r["false_alerts_traced"]:
            out.append(
                f"FALSE  [{tag}] {x['rule']}: {x['subject']} {x['at']} {x['change']} "
                f"({x.get('confidence')}): {x['cause']}: {x['detail']}"
            )
        for d in r.get("slow_detections", ()):
            out.append(
                f"SLOW   [{tag}] {d['rule']}: {d['subject']} {d['start']} detected after {d['delay_s']} s: "
                f"{d['cause']}: {d['detail']}"
            )
        for p in r["load"]["noisy_pairs"]:
            out.append(f"NOISY  [{tag}] {p['person']} {p['target']} on {p['day']}: {p['raises']} raises")
    return out or ["No miss, no false violation alert, no noisy pair."]
