"""The writer's batch for a burst of violations, timed in process: `python -m vigil_sim.burstbatch
[N] [--profile]` (docs/benchmarks.md, "Rendering out of the write path").

It builds the bench registry (`bench.plan`) in a fresh SQLite file, a `Processor` with the outbox
and one dispatch target taking CAP and EIDO, places N subject-victim pairs 3,000 m apart, then runs
one `Ingest` bringing every subject to 50 m: N violations opened and their pushes staged in one
transaction. Printed: that batch's wall and CPU time, then the CPU time of rendering the staged
pushes from their drafts (what the deliverer does after the commit). No HTTP and no other process,
so the CPU figures hold on a busy machine where the end-to-end bench does not.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil import jurisdiction
from vigil.commands import Ingest
from vigil.dispatch import draft
from vigil.dispatch.outbox import Outbox, OutboxSettings
from vigil.dispatch.signing import new_secret
from vigil.dispatch.targets import sync_env_target
from vigil.domain.model import Fix
from vigil.processor import Processor
from vigil.store.database import migrate, open_engine
from vigil_sim import bench
from vigil_sim.dispatchbench import FAR_M, VIOLATE_M, driven_pairs


def _fix(device: str, at: datetime, where: tuple[float, float]) -> Fix:
    return Fix(device, at, where[0], where[1], accuracy_m=bench.ACCURACY_M)


def run(n: int, profile: bool = False) -> str:
    with tempfile.TemporaryDirectory(prefix="vigil-burstbatch-") as tmp:
        db = open_engine(f"sqlite:///{Path(tmp) / 'burst.db'}")
        try:
            migrate(db)
            now = datetime.now(UTC)
            bench.register(db, bench.plan(n, 2 * n), now)
            with db.begin() as conn:
                sync_env_target(conn, "http://127.0.0.1:9/push", new_secret(), now)
            processor = Processor(db, outbox=Outbox(OutboxSettings(), link_base=lambda: "https://v.test"))
            processor.load(now)
            pairs = driven_pairs(0, n)
            at = now + timedelta(seconds=1)
            placed = [_fix(p.victim_device, at, p.victim) for p in pairs]
            placed += [_fix(p.subject_device, at, p.subject_at(FAR_M)) for p in pairs]
            processor.run([Ingest(list(enumerate(placed)), at)], at)
            later = at + timedelta(seconds=5)
            close = [_fix(p.subject_device, later, p.subject_at(VIOLATE_M)) for p in pairs]
            jurisdiction.locate(37.5, 127.0)  # the index is loaded once per process, as in a server
            gc.freeze()  # as the runner does after loading (vigil/runner.py)
            gc.set_threshold(10_000, 50, 1_000)
            profiler = cProfile.Profile() if profile else None
            wall, cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            results, out = processor.run([Ingest(list(enumerate(close)), later)], later)
            if profiler is not None:
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            lines = [
                f"burst of {n}: {results[0].alerts} alert changes, {len(out.deliveries)} pushes staged; "
                f"batch {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU"
            ]
            cpu = time.process_time()
            for push in out.deliveries:
                if not push.body:  # staged as a draft (before drafts, the body came rendered)
                    draft.render(push.draft, push.target_id)
            lines.append(f"rendering them after the commit: {(time.process_time() - cpu) * 1000:.0f} ms CPU")
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            return "\n".join(lines)
        finally:
            db.dispose()


if __name__ == "__main__":
    args = sys.argv[1:]
    print(run(int(next((a for a in args if a.isdigit()), "300")), "--profile" in args))
