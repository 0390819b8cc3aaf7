"""Which alert changes are pushed, to whom, and with what response plan. Pure: handed the targets, the
positions and their areas, it decides; the outbox stores what it decided.

A push goes to every target responsible for an area a party stands in: police where the victim is
(or her home, when her phone has gone quiet) and where he is, probation where he is. Within one
agency and area the lowest priority number is told first; the next one is told on escalation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vigil.dispatch.dossier import Agency, PushType, Task
from vigil.domain import geo
from vigil.domain.alerts import AlertChange, AlertKind, AlertState, Change, Facts, Position
from vigil.jurisdiction import Area

FORMATS = frozenset({"cap", "eido"})

# A dispatcher's picture changes when a party has moved this far since the last push; smaller moves
# are GPS noise or a short step and would only flood the dispatch system.
MOVED_M = 100.0

# Kinds that must be acknowledged by the dispatch system: if not, the next target is told.
NEEDS_ACK = frozenset(
    {AlertKind.PROXIMITY_VIOLATION, AlertKind.ZONE_VIOLATION, AlertKind.TAMPER, AlertKind.SOS}
)

# Kinds that concern only the control centre, never pushed: its own delivery alarms, and doubts about
# a person's reported positions (an account perhaps in someone else's hands is for operators to
# check with her, not an emergency for 112: nothing says she is in danger, and the claimed places
# are the ones not believed).
INTERNAL = frozenset({AlertKind.DISPATCH_FAILURE, AlertKind.POSITION_DOUBT})

# Police are sent to the victim for these even when she is not a party to the alert itself: a cut
# strap or a dead monitor on a man under a protection order puts her at risk, as does a monitor whose
# identifier someone else speaks with (what it says of him can no longer be believed).
VICTIM_AT_RISK = frozenset(
    {AlertKind.TAMPER, AlertKind.POWER_OFF, AlertKind.SIGNAL_LOSS, AlertKind.DEVICE_CONFLICT}
)

# Kinds for probation alone: a police case naming a man probation supervises is casework for his
# officer, not a call for a patrol car; a target of "any" agency (a 112 centre's catch-all) is not told.
PROBATION_ONLY = frozenset({AlertKind.CASE_MATCH})

MAX_ESCALATION = 3


@dataclass(frozen=True, slots=True)
class Target:
    """A dispatch system Vigil pushes to (a 112 centre, a probation office's case system)."""

    id: str
    name: str
    url: str
    secret: str  # whsec_...
    agency: Agency
    # Municipality code prefixes served ("11" is all of Seoul, "11020" one district); empty: everywhere.
    codes: frozenset[str] = frozenset()
    formats: frozenset[str] = FORMATS
    kinds: frozenset[AlertKind] | None = None  # None: every kind
    priority: int = 1  # 1 is told first
    enabled: bool = True

    def serves(self, area: Area | None) -> bool:
        if not self.codes:
            return True
        return area is not None and any(area.code.startswith(code) for code in self.codes)

    def takes(self, kind: AlertKind) -> bool:
        return self.enabled and (self.kinds is None or kind in self.kinds)


# --- what is worth a push ---------------------------------------------------------------------------


def push_type(change: AlertChange, last: Facts | None, tiers: tuple[float, float] | None) -> PushType | None:
    """What to push for this change, given the facts of the last push about the alert (None if there
    was none); None when the change is not worth a push. `tiers` are the order's violation and
    warning distances, when the alert concerns an order."""
    if change.alert.kind in INTERNAL:
        return None
    kind = _KIND.get(change.change)
    if kind is None:
        if change.change is not Change.UPDATED or last is None:
            return None
        if not moved(last, change.alert.facts, tiers):
            return None
        kind = PushType.UPDATED
    if last is None:
        # The receiver has never heard of this alert: an end needs no news, anything else is news.
        return None if kind in (PushType.CLEARED, PushType.CLOSED) else PushType.OPENED
    return kind


_KIND = {
    Change.OPENED: PushType.OPENED,
    Change.ESCALATED: PushType.ESCALATED,
    Change.CLEARED: PushType.CLEARED,
    Change.RESOLVED: PushType.CLOSED,
    Change.FALSE_ALARM: PushType.CLOSED,
}


def moved(last: Facts, new: Facts, tiers: tuple[float, float] | None) -> bool:
    """A material change for a dispatcher: a party moved >= 100 m, the distance tier changed, or a
    party's position went stale or fresh again."""
    if set(last.stale) != set(new.stale):
        return True
    for old, now in (
        (last.subject_position, new.subject_position),
        (last.protected_position, new.protected_position),
    ):
        if (old is None) != (now is None):
            return True
        if (
            old is not None
            and now is not None
            and geo.distance_m(old.lat, old.lon, now.lat, now.lon) >= MOVED_M
        ):
            return True
    return tiers is not None and tier(last.distance_m, tiers) != tier(new.distance_m, tiers)


def tier(distance_m: float | None, tiers: tuple[float, float]) -> int:
    """0 inside the violation distance, 1 inside the warning distance, 2 beyond, 3 unknown."""
    if distance_m is None:
        return 3
    violation, warning = tiers
    return 0 if distance_m <= violation else 1 if distance_m <= warning else 2


def needs_ack(change_kind: PushType, kind: AlertKind, state: AlertState) -> bool:
    return (
        change_kind in (PushType.OPENED, PushType.ESCALATED)
        and kind in NEEDS_ACK
        and state is AlertState.OPEN
    )


# --- the joint response ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Whereabouts:
    """Where a party is, as the plan sees it."""

    position: Position | None
    area: Area | None
    basis: str  # live_position | home_zone | last_known_position | unknown


def victim_whereabouts(
    position: Position | None,
    area: Area | None,
    stale_after_s: float,
    home: tuple[Position, Area | None] | None,
) -> Whereabouts:
    """Police go to her live position; when her phone has not reported for a while, to her home."""
    if position is not None and position.age_s <= stale_after_s:
        return Whereabouts(position, area, "live_position")
    if home is not None:
        return Whereabouts(home[0], home[1], "home_zone")
    if position is not None:
        return Whereabouts(position, area, "last_known_position")
    return Whereabouts(None, None, "unknown")


def offender_whereabouts(position: Position | None, area: Area | None, stale_after_s: float) -> Whereabouts:
    if position is None:
        return Whereabouts(None, None, "unknown")
    basis = "live_position" if position.age_s <= stale_after_s else "last_known_position"
    return Whereabouts(position, area, basis)


def plan(
    kind: AlertKind,
    offender: Whereabouts | None,
    victim: Whereabouts | None,
    targets: Sequence[Target],
    level: int = 0,
) -> tuple[Task, ...]:
    """The response plan: probation to the offender, police to the victim (and police where he is,
    when that is another area). `level` 0 picks each area's first targets; 1, 2, ... the next ones."""
    tasks: list[Task] = []
    if kind in PROBATION_ONLY:
        own = [t for t in targets if t.agency is Agency.PROBATION]
        him = offender or Whereabouts(None, None, "unknown")
        goal = "Probation: the supervising officer to act on the police case"
        picked = choose(own, kind, Agency.PROBATION, [him.area], level)
        if not picked and him.area is not None:  # no office for where he is: the catch-all ones
            picked = choose([t for t in own if not t.codes], kind, Agency.PROBATION, [None], level)
        return (Task(Agency.PROBATION, goal, him.position, him.basis, him.area, picked),)
    if offender is not None:
        tasks.append(
            Task(
                agency=Agency.PROBATION,
                goal="Probation officers to the offender's live position",
                position=offender.position,
                basis=offender.basis,
                area=offender.area,
                targets=choose(targets, kind, Agency.PROBATION, [offender.area], level),
            )
        )
    if victim is not None and (kind not in VICTIM_AT_RISK or victim.position is not None):
        areas = [victim.area]
        if offender is not None and offender.area is not None and not _same(offender.area, victim.area):
            areas.append(offender.area)  # both areas are told when they differ
        where = "her home" if victim.basis == "home_zone" else "the protected person's position"
        tasks.append(
            Task(
                agency=Agency.POLICE,
                goal=f"Police to {where}",
                position=victim.position,
                basis=victim.basis,
                area=victim.area,
                targets=choose(targets, kind, Agency.POLICE, areas, level),
            )
        )
    return tuple(tasks)


def choose(
    targets: Sequence[Target], kind: AlertKind, agency: Agency, areas: Iterable[Area | None], level: int = 0
) -> tuple[str, ...]:
    """For each area, the targets of that agency (or of any agency) at the `level`-th priority in use
    there; past the last priority, the last one again (escalation re-sends to whoever is left)."""
    chosen: list[str] = []
    for area in areas:
        here = [t for t in targets if t.agency in (agency, Agency.ANY) and t.takes(kind) and t.serves(area)]
        priorities = sorted({t.priority for t in here})
        if not priorities:
            continue
        wanted = priorities[min(level, len(priorities) - 1)]
        chosen += [
            t.id for t in sorted(here, key=lambda t: t.id) if t.priority == wanted and t.id not in chosen
        ]
    return tuple(chosen)


def recipients(tasks: Sequence[Task]) -> tuple[str, ...]:
    """Every target of the plan, once, in plan order."""
    return tuple(dict.fromkeys(t for task in tasks for t in task.targets))


def _same(a: Area | None, b: Area | None) -> bool:
    return a is not None and b is not None and a.code == b.code
