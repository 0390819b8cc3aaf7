"""A pair both of whose receivers measure a standstill (proximity `assess`, `still`): the near edge of
the accuracy discs alone never proves a violation, and one reported position inside needs a second
look; a man who stands within the line shows it on the reported positions, fix after fix."""

from __future__ import annotations

from rules_kit import HOME, World, near, order

from vigil.domain.alerts import AlertKind, Change

LINE = order(violation=100, warning=1000)


def _night(
    his: list[float], hers_speed: float = 0.0, his_speed: float = 0.0
) -> list[tuple[Change, AlertKind]]:
    """Her at home, him at the given distances (one fix a minute), 12 m GNSS fixes each."""
    w = World(LINE)
    out = []
    for i, d in enumerate(his):
        w.victim(60 * i, HOME, acc=12, speed=hers_speed)
        out += [
            (c.change, c.alert.kind) for c in w.subject(60 * i + 30, near(d, 90), acc=12, speed=his_speed)
        ]
    return out


def test_still_neighbours_beyond_the_line_on_the_near_edge_stay_a_warning() -> None:
    # 112-118 m apart under a 100 m line, 12 m fixes each: the near edge inside at every look
    lines = _night([115, 112, 118, 113, 116, 112, 114, 117])
    assert (Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION) not in lines
    assert lines[0] == (Change.OPENED, AlertKind.PROXIMITY_WARNING)


def test_one_stray_fix_inside_for_a_still_pair_needs_a_second_look() -> None:
    lines = _night([125, 125, 95, 125, 125])
    assert (Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION) not in lines


def test_a_man_standing_within_the_line_is_a_violation_on_the_second_look() -> None:
    lines = _night([300, 90, 90, 90])
    escalated = [
        i for i, line in enumerate(lines) if line == (Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION)
    ]
    assert escalated, lines


def test_a_moving_pair_keeps_the_near_edge_rule() -> None:
    """The same distances with his receiver measuring a walk: the near edge twice within 5 minutes
    escalates, as before."""
    lines = _night([115, 112, 118, 113], his_speed=1.4)
    assert (Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION) in lines


def test_a_man_who_drives_up_and_parks_within_the_line_is_a_violation_on_his_first_fix_there() -> None:
    """Parked 90 m from her door, his receiver at 0 m/s, she at home at 0 m/s: but a minute ago he
    was driving, so they are not a pair at rest; the violation comes on that first fix, as any."""
    w = World(LINE)
    w.victim(0, HOME, acc=12, speed=0.0)
    w.subject(30, near(2000, 90), acc=12, speed=12.0)
    w.victim(60, HOME, acc=12, speed=0.0)
    arrived = [(c.change, c.alert.kind) for c in w.subject(90, near(90, 90), acc=12, speed=0.0)]
    assert (Change.ESCALATED, AlertKind.PROXIMITY_VIOLATION) in arrived or (
        Change.OPENED,
        AlertKind.PROXIMITY_VIOLATION,
    ) in arrived
