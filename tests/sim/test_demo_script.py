"""The demo's scripted opening, run fast: the same caseload, script and devices as `vigil demo`,
written as a replay and judged by the real engine on a virtual clock. Its approach must become a
proximity violation within two minutes of the start, whatever the hour (people at work at noon,
at home at night) and the draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil import replay
from vigil_sim.caseload import make_caseload
from vigil_sim.demo import script_opening
from vigil_sim.incidents import IncidentKind
from vigil_sim.simulator import Simulation

VIOLATION_WITHIN_S = 120.0


@pytest.mark.parametrize(
    ("seed", "start"),
    [
        (1, datetime(2026, 12, 6, 14, 0, tzinfo=UTC)),  # 23:00 in Seoul: everyone at home
        (3, datetime(2026, 12, 7, 3, 0, tzinfo=UTC)),  # noon: at work, indoors
        (5, datetime(2026, 12, 7, 3, 0, tzinfo=UTC)),  # noon, her phone on a coarse cell fix indoors
    ],
)
def test_the_scripted_approach_is_a_violation_within_two_minutes(seed: int, start: datetime) -> None:
    load = make_caseload(30, seed)
    sim = Simulation(load, seed, start=start)
    script_opening(sim, load, start)
    [approach] = [i for i in sim.incidents if i.forced and i.kind is IncidentKind.NAMYANGJU]
    until = start + timedelta(minutes=3)
    outcome = replay.simulate(replay.parse(sim.replay_document(sim.advance(until), until)))
    assert outcome.refusals == []
    pair = [
        line
        for line in outcome.alerts
        if line["subject"] == approach.subject_id and line["protected_person"] == approach.protected_person_id
    ]
    violations = [line for line in pair if line["kind"] == "proximity_violation"]
    assert violations, pair
    after_s = (datetime.fromisoformat(violations[0]["at"]) - start).total_seconds()
    assert after_s <= VIOLATION_WITHIN_S, pair
