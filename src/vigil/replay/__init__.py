"""`vigil replay FILE.json`: a scenario run through the real ingest -> engine -> alert path.

The file names the people, their devices, the orders and zones, and what the devices sent and when
it arrived (docs/replay.md: a contract, files written by others are fed to it). `scenario` checks
and types it, with the REST edge's own definitions of a valid order, zone and schedule; `play` runs
it on a virtual clock, so that time-driven alerts (silence, curfew boundaries, orders starting or
ending) fire at their own virtual time, and prints each alert change as one JSON line.

    {"timezone": "Asia/Seoul",
     "subjects": [{"id": "S1", "devices": ["AM-1"]}],
     "protected_persons": [{"id": "P1", "devices": ["W-1"]}],
     "orders": [{"id": "O1", "subject": "S1", "protected_person": "P1",
                 "violation_distance_m": 100, "warning_distance_m": 1000,
                 "zones"?: [{"label"?: "home", "circle": {...}} | {"polygon": [[lon, lat], ...]}],
                 "legal_basis"?: "other", "valid_from"?: time, "valid_until"?: time}],
     "zones"?: [{"id": "Z1", "subject": "S1", "kind"?: "exclusion" | "inclusion",
                 "circle" | "polygon": ..., "label"?: "", "schedule"?: [{"days", "start", "end"}]}],
     "messages": [{"at": time, "received_at"?: time, "device": "AM-1", "fix"?: {...}, "event"?: "..."}],
     "until": time}

Errors in the file stop the replay before it starts, each named by its JSON path (exit 2). A
message the adapter or the processor refuses is reported on stderr as a JSON line and the replay
carries on, as the live system would.
"""

from vigil.replay.play import (
    EXIT_BAD_FILE,
    EXIT_OK,
    EXIT_UNDELIVERED,
    Dispatch,
    Outcome,
    alert_line,
    main,
    run,
    simulate,
)
from vigil.replay.scenario import Scenario, ScenarioError, load, parse

__all__ = [
    "EXIT_BAD_FILE",
    "EXIT_OK",
    "EXIT_UNDELIVERED",
    "Dispatch",
    "Outcome",
    "Scenario",
    "ScenarioError",
    "alert_line",
    "load",
    "main",
    "parse",
    "run",
    "simulate",
]
