"""`vigil bench --http`: the server and the load generator as separate processes, over HTTP.

For each size: a fresh SQLite file in a temporary directory, the bench registry inserted in bulk
(`bench.register`), a gateway device token and an operator token; then `python -m vigil serve` in a
process of its own, and `python -m vigil_sim.loadgen` in another (which starts a third, its
WebSocket client). See `loadgen` for the phases and how each figure is timed.

Two runs:

* sizes (`--devices 1000,10000,100000`): pairs = min(devices // 2, 10,000); warm-up, throughput at
  full speed, latency paced at 5,000 fixes/s (half the 10,000 fixes/s target), memory (one fix per
  registered device);
* workload w1 (`--workload w1 --pairs 1000,10000 --updates 200000`): P pairs, 2P devices, a warm-up,
  then U updates at full speed over 4 connections in batches of 100.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token
from vigil.store.database import migrate, open_engine
from vigil_sim import bench

MAX_PAIRS = 10_000
LATENCY_RATE = bench.TARGET_FIXES_PER_S * bench.LATENCY_LOAD  # 5,000 fixes/s
STARTUP_S = 180.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def prepare(tmp: Path, pairs: int, devices: int) -> tuple[str, dict[str, str], float]:
    """A migrated SQLite file with the bench registry and two tokens: (url, tokens, seconds)."""
    url = f"sqlite:///{tmp / 'bench.db'}"
    db = open_engine(url)
    try:
        began = time.perf_counter()
        migrate(db)
        work = bench.plan(pairs, devices)
        now = datetime.now(UTC)
        bench.register(db, work, now)
        with db.begin() as conn:
            create_user(conn, user_id="bench-operator", name="bench operator", role=Role.OPERATOR, now=now)
            tokens = {
                "operator": issue_token(conn, role=Role.OPERATOR, now=now, user_id="bench-operator"),
                "device": issue_token(conn, role=Role.DEVICE, now=now),
            }
        return url, tokens, time.perf_counter() - began
    finally:
        db.dispose()


class Server:
    """`python -m vigil serve` (or another role: `edge`) as a child process, its output in a log file."""

    def __init__(
        self,
        db_url: str,
        tmp: Path,
        env: Mapping[str, str] | None = None,
        *,
        role: str = "serve",
        cwd: Path | None = None,
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{role}.log"
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": db_url,
            "VIGIL_LOG_LEVEL": "WARNING",
            # the bench's one viewer sees every position; it must not be dropped for falling behind
            "VIGIL_STREAM_QUEUE": "1000000",
            **(env or {}),  # a benchmark's own settings (e.g. the dispatch target)
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigil", role, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = STARTUP_S) -> float:
        began = time.perf_counter()
        deadline = began + timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    return time.perf_counter() - began
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /health within {timeout_s:.0f} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def run_one(
    label: str,
    pairs: int,
    devices: int,
    *,
    throughput: int,
    latency: int,
    memory: bool,
    quiet: bool = False,
    workdir: str | Path | None = None,
    viewers: int = 1,
) -> dict[str, Any]:
    """One size, or one w1 run: prepare, serve, load, collect."""
    with tempfile.TemporaryDirectory(prefix="vigil-httpbench-", dir=workdir) as name:
        tmp = Path(name)
        db_url, tokens, registered_s = prepare(tmp, pairs, devices)
        server = Server(db_url, tmp)
        try:
            startup_s = server.wait_ready()
            pid = server.process.pid
            out = tmp / "loadgen.json"
            command = [
                sys.executable,
                "-m",
                "vigil_sim.loadgen",
                "--url",
                server.url,
                "--device-token",
                tokens["device"],
                "--operator-token",
                tokens["operator"],
                "--pairs",
                str(pairs),
                "--devices",
                str(devices),
                "--throughput",
                str(throughput),
                "--latency",
                str(latency),
                "--rate",
                str(LATENCY_RATE),
                "--server-pid",
                str(pid),
                "--label",
                label,
                "--viewers",
                str(viewers),
                "--out",
                str(out),
            ]
            if memory:
                command.append("--memory")
            if quiet:
                command.append("--quiet")
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                raise RuntimeError(
                    f"the load generator failed ({done.returncode});\nserver log:\n{server.log()}"
                )
            result: dict[str, Any] = json.loads(out.read_text())
        finally:
            server.stop()
    result.update(
        label=label,
        pairs=pairs,
        devices=devices,
        registration_s=round(registered_s, 2),
        server_startup_s=round(startup_s, 2),
    )
    return result


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    ph = run["phases"]
    tp = ph.get("throughput", {})
    lt = ph.get("latency", {})
    cpu = [p["server_cpu_s"] for p in ph.values() if p.get("server_cpu_s") is not None]
    seconds = sum(p["seconds"] for p in ph.values())
    return {
        "fixes_per_s": tp.get("fixes_per_s"),
        "server_cpu_share_throughput": tp.get("server_cpu_share"),
        "loadgen_cpu_share_throughput": tp.get("loadgen_cpu_share"),
        "listener_cpu_share_throughput": tp.get("listener_cpu_share"),
        "latency_phase_fixes_per_s": lt.get("fixes_per_s"),
        "server_cpu_share_latency": lt.get("server_cpu_share"),
        "post_p50_ms": lt.get("post_p50_ms"),
        "post_p95_ms": lt.get("post_p95_ms"),
        "post_p99_ms": lt.get("post_p99_ms"),
        "delivery_p50_ms": lt.get("delivery_p50_ms"),
        "delivery_p99_ms": lt.get("delivery_p99_ms"),
        "server_cpu_s": round(sum(cpu), 2) if cpu else None,
        "server_cpu_share": round(sum(cpu) / seconds, 2) if cpu and seconds else None,
        "server_peak_rss_mb": run["server_memory"].get("peak_rss_mb"),
        "server_cpu_ms_per_1k_fixes": run.get("server_cpu_ms_per_1k_fixes"),
        "alert_messages": run["alert_messages"],
        "alerts_opened": run["alerts_opened"],
        "errors": sum(p["errors"] + p["failed_batches"] for p in ph.values()),
    }


def _w1_figures(run: dict[str, Any]) -> dict[str, Any]:
    up = run["phases"]["throughput"]
    ph = run["phases"]
    return {
        "updates_per_s": up["fixes_per_s"],
        "update_alert_p50_ms": up["delivery_p50_ms"],
        "update_alert_p99_ms": up["delivery_p99_ms"],
        "post_p50_ms": up["post_p50_ms"],
        "post_p99_ms": up["post_p99_ms"],
        "alert_messages": up["alert_messages"],
        "alerts_opened": up["alerts_opened"],
        "alerts_opened_all": run["alerts_opened"],
        "server_cpu_s": up["server_cpu_s"],
        "server_cpu_share": up["server_cpu_share"],
        "loadgen_cpu_share": up["loadgen_cpu_share"],
        "listener_cpu_share": up["listener_cpu_share"],
        "server_peak_rss_mb": run["server_memory"].get("peak_rss_mb"),
        "server_cpu_ms_per_1k_fixes": run.get("server_cpu_ms_per_1k_fixes"),
        "errors": sum(p["errors"] + p["failed_batches"] for p in ph.values()),
    }


def run(
    devices: Sequence[int] = (1_000, 10_000, 100_000),
    *,
    fixes: int = 100_000,
    latency_fixes: int = 50_000,
    w1_pairs: Sequence[int] = (),
    updates: int = 200_000,
    quiet: bool = False,
    workdir: str | Path | None = None,
    say: Callable[[str], None] | None = None,
    viewers: int = 1,
) -> dict[str, Any]:
    """Every size, then every w1 pair count; a JSON-ready dict."""
    tell = say or (lambda _: None)
    load_before = bench._load()
    sizes = []
    for n in devices:
        pairs = max(1, min(n // 2, MAX_PAIRS))
        tell(f"size {n:,} devices ({pairs:,} pairs)")
        one = run_one(
            f"{n:,} devices",
            pairs,
            n,
            throughput=fixes,
            latency=latency_fixes,
            memory=True,
            quiet=quiet,
            workdir=workdir,
            viewers=viewers,
        )
        one["figures"] = _figures(one)
        sizes.append(one)
    w1 = []
    for p in w1_pairs:
        tell(f"w1: {p:,} pairs, {updates:,} updates")
        one = run_one(
            f"w1 {p:,} pairs",
            p,
            2 * p,
            throughput=updates,
            latency=0,
            memory=False,
            quiet=quiet,
            workdir=workdir,
            viewers=viewers,
        )
        one["figures"] = _w1_figures(one)
        w1.append(one)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "connections": 4,
            "batch": 100,
            "throughput_fixes": fixes,
            "latency_fixes": latency_fixes,
            "latency_rate_fixes_per_s": LATENCY_RATE,
            "w1_updates": updates,
            "viewers": viewers,
            "seed": bench.SEED,
            "database": "SQLite file, WAL, synchronous=FULL",
        },
        "machine": bench.machine(Path(workdir) if workdir else Path(tempfile.gettempdir())),
        "load_average": {"before": load_before, "after": bench._load()},
        "sizes": sizes,
        "w1": w1,
    }


# --- printing and the chart -----------------------------------------------------------------------


def _n(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _sum(figures: dict[str, Any]) -> float | None:
    parts = [figures.get("loadgen_cpu_share_throughput"), figures.get("listener_cpu_share_throughput")]
    return None if any(p is None for p in parts) else round(sum(p for p in parts if p is not None), 2)


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    p = result["parameters"]
    lines = [
        f"vigil bench --http, {result['date']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, disk {m['disk']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}",
        f"         load average {result['load_average']['before']} before, {result['load_average']['after']} after",
        f"server and load generator in separate processes; {p['connections']} connections, batches of "
        f"{p['batch']}; latency phase paced at {p['latency_rate_fixes_per_s']:,.0f} fixes/s; "
        f"{p.get('viewers', 1)} operator(s) watching the whole stream",
    ]
    if result["sizes"]:
        lines += [
            "",
            f"{'devices':>8} {'pairs':>7} {'fixes/s':>8} {'POST p50':>9} {'p95':>7} {'p99':>7} "
            f"{'WS p99':>8} {'srv cpu':>7} {'gen cpu':>7} {'ms/1k':>6} {'peak MiB':>9} {'alerts':>7} {'errors':>6}",
        ]
        for s in result["sizes"]:
            f = s["figures"]
            lines.append(
                f"{s['devices']:>8,} {s['pairs']:>7,} {_n(f['fixes_per_s'], 0):>8} {_n(f['post_p50_ms']):>9} "
                f"{_n(f['post_p95_ms']):>7} {_n(f['post_p99_ms']):>7} {_n(f['delivery_p99_ms']):>8} "
                f"{_n(f['server_cpu_share_throughput'], 2):>7} {_n(_sum(f), 2):>7} "
                f"{_n(f.get('server_cpu_ms_per_1k_fixes'), 0):>6} {_n(f['server_peak_rss_mb']):>9} "
                f"{f['alert_messages']:>7,} {f['errors']:>6,}"
            )
        lines.append(
            "fixes/s: throughput phase, full speed. POST p50/p95/p99 (receipt -> alert, ms): round trip of "
            "every batch in the latency phase; WS p99: receipt -> alert message on the WebSocket, latency "
            "phase. srv/gen cpu: CPU seconds per wall second of the server / of the load generator and "
            "its WebSocket client, in the throughput phase (2 = both cores). ms/1k: the server's CPU ms "
            "per 1,000 fixes over the whole run, until every viewer's stream has gone quiet."
        )
    if result["w1"]:
        lines += [
            "",
            f"workload w1 ({p['w1_updates']:,} updates, full speed)",
            f"{'pairs':>7} {'updates/s':>10} {'upd->alert p50':>15} {'p99':>8} {'alerts opened':>14} "
            f"{'alert msgs':>11} {'cpu s':>7} {'cpu':>5} {'ms/1k':>6} {'peak MiB':>9}",
        ]
        for w in result["w1"]:
            f = w["figures"]
            lines.append(
                f"{w['pairs']:>7,} {_n(f['updates_per_s'], 0):>10} {_n(f['update_alert_p50_ms']):>15} "
                f"{_n(f['update_alert_p99_ms']):>8} {f['alerts_opened']:>14,} {f['alert_messages']:>11,} "
                f"{_n(f['server_cpu_s']):>7} {_n(f['server_cpu_share'], 2):>5} "
                f"{_n(f.get('server_cpu_ms_per_1k_fixes'), 0):>6} {_n(f['server_peak_rss_mb']):>9}"
            )
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    """fixes/s and p99 latencies per size (and w1 updates/s), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["sizes"]
    w1 = result["w1"]
    panels = max(1, bool(sizes) + bool(w1))
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.6), squeeze=False)
    free = iter(axes[0])
    if sizes:
        ax = next(free)
        labels = [f"{s['devices']:,}" for s in sizes]
        rate = [s["figures"]["fixes_per_s"] or 0 for s in sizes]
        ax.bar(labels, rate, color="#4c78a8", label="fixes/s (full speed)")
        ax.axhline(bench.TARGET_FIXES_PER_S, color="#4c78a8", linestyle="--", linewidth=1)
        ax.set_xlabel("registered devices")
        ax.set_ylabel("fixes/s sustained")
        twin = ax.twinx()
        post = [s["figures"]["post_p99_ms"] or 0 for s in sizes]
        ws = [s["figures"]["delivery_p99_ms"] or 0 for s in sizes]
        twin.plot(labels, post, "o-", color="#e45756", label="p99 receipt -> alert (POST), ms")
        twin.plot(labels, ws, "s-", color="#f58518", label="p99 receipt -> WebSocket, ms")
        twin.axhline(bench.TARGET_ALERT_P99_MS, color="#e45756", linestyle="--", linewidth=1)
        twin.set_ylabel("ms (latency phase, 5,000 fixes/s)")
        twin.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(
            handles[0] + more[0],
            handles[1] + more[1],
            fontsize=7,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
            ncol=2,
        )
        ax.set_title("vigil bench --http: per size")
    if w1:
        ax2 = next(free)
        labels = [f"{w['pairs']:,} pairs" for w in w1]
        ax2.bar(labels, [w["figures"]["updates_per_s"] or 0 for w in w1], color="#54a24b", label="updates/s")
        ax2.set_ylabel("updates/s")
        twin2 = ax2.twinx()
        twin2.plot(
            labels,
            [w["figures"]["update_alert_p99_ms"] or 0 for w in w1],
            "o-",
            color="#e45756",
            label="p99 ms",
        )
        twin2.set_ylabel("p99 update -> alert (WebSocket), ms")
        twin2.set_ylim(bottom=0)
        ax2.set_xlabel("updates at full speed, 4 connections, batches of 100")
        ax2.set_title(f"workload w1 ({result['parameters']['w1_updates']:,} updates)")
    fig.suptitle(
        f"{result['machine']['cpu']}, {result['machine']['cores']} cores, {result['date'][:10]}", fontsize=8
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(
    devices: Sequence[int] = (1_000, 10_000, 100_000),
    *,
    fixes: int = 100_000,
    latency_fixes: int = 50_000,
    w1_pairs: Sequence[int] = (),
    updates: int = 200_000,
    out: str | None = None,
    chart_path: str | None = None,
    viewers: int = 1,
) -> int:
    if chart_path and importlib.util.find_spec("matplotlib") is None:
        # say so before a run of several minutes, not after it
        print("--chart needs matplotlib: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    result = run(
        devices,
        fixes=fixes,
        latency_fixes=latency_fixes,
        w1_pairs=w1_pairs,
        updates=updates,
        say=lambda text: print(text, file=sys.stderr, flush=True),
        viewers=viewers,
    )
    print(report(result), flush=True)
    if out:
        bench.save(result, Path(out))
    if chart_path:
        chart(result, Path(chart_path))
        print(f"saved {chart_path}", flush=True)
    return 0
