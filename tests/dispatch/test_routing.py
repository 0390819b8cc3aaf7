"""The pure routing of pushes: what is worth a push, who is told, and at which escalation level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.dispatch.dossier import Agency, PushType, Task
from vigil.dispatch.routing import (
    INTERNAL,
    MOVED_M,
    NEEDS_ACK,
    PROBATION_ONLY,
    VICTIM_AT_RISK,
    Target,
    Whereabouts,
    choose,
    moved,
    needs_ack,
    offender_whereabouts,
    plan,
    push_type,
    recipients,
    tier,
    victim_whereabouts,
)
from vigil.domain.alerts import (
    Alert,
    AlertChange,
    AlertKey,
    AlertKind,
    AlertState,
    Change,
    Facts,
    Position,
)
from vigil.jurisdiction import Area

T0 = datetime(2026, 3, 14, 7, 0, tzinfo=UTC)
LAT, LON = 37.57, 126.98
M_PER_DEG_LAT = 111_195.0
TIERS = (100.0, 1000.0)

JONGNO = Area("11110", "종로구", "Jongno-gu")
GANGNAM = Area("11680", "강남구", "Gangnam-gu")
SUWON = Area("31011", "수원시장안구", "Suwon-si Jangan-gu")
BUSAN = Area("26110", "중구", "Jung-gu", outside=True, distance_m=800.0)


def pos(north_m: float = 0.0, age_s: float = 5.0) -> Position:
    return Position(LAT + north_m / M_PER_DEG_LAT, LON, 5.0, T0 - timedelta(seconds=age_s), age_s)


def facts(subject_m: float | None = 50.0, protected_m: float | None = 0.0, **extra: object) -> Facts:
    distance = None if subject_m is None or protected_m is None else abs(subject_m - protected_m)
    values: dict[str, object] = {
        "subject_position": None if subject_m is None else pos(subject_m),
        "protected_position": None if protected_m is None else pos(protected_m),
        "distance_m": distance,
    }
    values.update(extra)
    return Facts(**values)  # type: ignore[arg-type]


def change(
    what: Change,
    kind: AlertKind = AlertKind.PROXIMITY_VIOLATION,
    now: Facts | None = None,
    state: AlertState = AlertState.OPEN,
) -> AlertChange:
    alert = Alert(
        id="A1",
        key=AlertKey("proximity", "S1", "P1"),
        kind=kind,
        state=state,
        active=True,
        opened_at=T0,
        updated_at=T0,
        facts=facts() if now is None else now,
        subject_id="S1",
        protected_person_id="P1",
        order_id="O1",
    )
    return AlertChange(alert, what, T0)


def target(tid: str, agency: Agency = Agency.POLICE, *codes: str, **extra: object) -> Target:
    return Target(
        id=tid,
        name=tid,
        url=f"https://{tid}.example/push",
        secret="whsec_" + "A" * 44,
        agency=agency,
        codes=frozenset(codes),
        **extra,  # type: ignore[arg-type]
    )


def at(area: Area | None, basis: str = "live_position") -> Whereabouts:
    return Whereabouts(pos(), area, basis)


# --- push_type ----------------------------------------------------------------------------------------

LAST = facts()


@pytest.mark.parametrize(
    ("what", "last", "expected"),
    [
        (Change.OPENED, None, PushType.OPENED),
        (Change.OPENED, LAST, PushType.OPENED),
        (Change.ESCALATED, LAST, PushType.ESCALATED),
        (Change.ESCALATED, None, PushType.OPENED),  # the receiver never heard of it: news, as opened
        (Change.CLEARED, LAST, PushType.CLEARED),
        (Change.CLEARED, None, None),  # an end of something never pushed is no news
        (Change.RESOLVED, LAST, PushType.CLOSED),
        (Change.RESOLVED, None, None),
        (Change.FALSE_ALARM, LAST, PushType.CLOSED),
        (Change.FALSE_ALARM, None, None),
        (Change.UPDATED, None, None),  # an update of an alert never pushed
    ],
)
def test_push_type_per_change(what: Change, last: Facts | None, expected: PushType | None) -> None:
    assert push_type(change(what), last, TIERS) == expected


@pytest.mark.parametrize(
    "what",
    [
        Change.ACKNOWLEDGED,
        Change.DISPATCHED,
        Change.ON_SCENE,
        Change.CALLBACK,
        Change.UNACKNOWLEDGED,
    ],
)
@pytest.mark.parametrize("last", [None, LAST])
def test_lifecycle_steps_and_timeline_notes_are_not_pushed(what: Change, last: Facts | None) -> None:
    assert push_type(change(what), last, TIERS) is None


def test_an_update_is_pushed_only_when_it_moved() -> None:
    assert push_type(change(Change.UPDATED, now=facts(60.0)), LAST, TIERS) is None  # 10 m: noise
    assert push_type(change(Change.UPDATED, now=facts(-60.0)), LAST, TIERS) is PushType.UPDATED
    # the same small move, but across the warning distance: the tier changed
    assert push_type(change(Change.UPDATED, now=facts(99.0)), facts(101.0), TIERS) is PushType.UPDATED
    assert push_type(change(Change.UPDATED, now=facts(99.0)), facts(101.0), None) is None


@pytest.mark.parametrize("kind", sorted(INTERNAL))
@pytest.mark.parametrize("what", list(Change))
@pytest.mark.parametrize("last", [None, LAST])
def test_internal_kinds_are_never_pushed(kind: AlertKind, what: Change, last: Facts | None) -> None:
    assert push_type(change(what, kind, facts(-500.0)), last, TIERS) is None


# --- moved and tier -------------------------------------------------------------------------------------


@pytest.mark.parametrize("party", ["subject", "protected"])
def test_moved_at_100_m_of_either_party(party: str) -> None:
    def with_move(metres: float) -> Facts:
        # distance kept in the same tier: only the move itself can count
        if party == "subject":
            return facts(50.0 + metres, 0.0, distance_m=50.0)
        return facts(50.0, metres, distance_m=50.0)

    last = with_move(0.0)
    assert not moved(last, with_move(MOVED_M - 1), TIERS)
    assert not moved(last, with_move(-(MOVED_M - 1)), TIERS)
    assert moved(last, with_move(MOVED_M + 1), TIERS)
    assert moved(last, with_move(-(MOVED_M + 1)), TIERS)
    assert not moved(last, last, TIERS)


def test_a_position_appearing_or_vanishing_is_a_move() -> None:
    assert moved(facts(50.0, None, distance_m=50.0), facts(50.0, 0.0), TIERS)
    assert moved(facts(50.0, 0.0), facts(50.0, None, distance_m=50.0), TIERS)
    assert moved(facts(None, 0.0, distance_m=50.0), facts(50.0, 0.0), TIERS)


def test_a_change_of_the_stale_parties_is_a_move_but_not_their_order() -> None:
    fresh = facts()
    assert moved(fresh, facts(stale=("protected_person",)), TIERS)
    assert moved(facts(stale=("protected_person",)), fresh, TIERS)
    assert moved(facts(stale=("subject",)), facts(stale=("protected_person",)), TIERS)
    both = facts(stale=("subject", "protected_person"))
    assert not moved(both, facts(stale=("protected_person", "subject")), TIERS)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (50.0, 90.0, False),  # both inside the violation distance
        (90.0, 110.0, True),  # violation -> warning
        (500.0, 900.0, False),
        (900.0, 1100.0, True),  # warning -> beyond
        (1100.0, 5000.0, False),
        (None, 50.0, True),  # unknown -> known
        (50.0, None, True),
        (None, None, False),
    ],
)
def test_a_tier_change_is_a_move(before: float | None, after: float | None, expected: bool) -> None:
    last = facts(distance_m=before)
    now = facts(distance_m=after)
    assert moved(last, now, TIERS) is expected
    assert moved(last, now, None) is False  # no order: no tiers


@pytest.mark.parametrize(
    ("distance", "expected"),
    [(0.0, 0), (100.0, 0), (100.1, 1), (1000.0, 1), (1000.1, 2), (1e9, 2), (None, 3)],
)
def test_tier(distance: float | None, expected: int) -> None:
    assert tier(distance, TIERS) == expected


@pytest.mark.parametrize("push", list(PushType))
@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("state", list(AlertState))
def test_needs_ack(push: PushType, kind: AlertKind, state: AlertState) -> None:
    expected = (
        push in (PushType.OPENED, PushType.ESCALATED) and kind in NEEDS_ACK and state is AlertState.OPEN
    )
    assert needs_ack(push, kind, state) is expected


def test_needs_ack_examples() -> None:
    assert needs_ack(PushType.OPENED, AlertKind.PROXIMITY_VIOLATION, AlertState.OPEN)
    assert needs_ack(PushType.ESCALATED, AlertKind.PROXIMITY_VIOLATION, AlertState.OPEN)
    assert not needs_ack(PushType.OPENED, AlertKind.PROXIMITY_VIOLATION, AlertState.ACKNOWLEDGED)
    assert not needs_ack(PushType.UPDATED, AlertKind.SOS, AlertState.OPEN)
    assert not needs_ack(PushType.OPENED, AlertKind.BATTERY_LOW, AlertState.OPEN)
    assert not needs_ack(PushType.OPENED, AlertKind.PROXIMITY_WARNING, AlertState.OPEN)


# --- whereabouts ----------------------------------------------------------------------------------------


def test_victim_live_position_while_fresh() -> None:
    live = pos(age_s=30.0)
    home = (pos(2000.0), GANGNAM)
    assert victim_whereabouts(live, JONGNO, 60.0, home) == Whereabouts(live, JONGNO, "live_position")
    at_limit = pos(age_s=60.0)
    assert victim_whereabouts(at_limit, JONGNO, 60.0, home).basis == "live_position"


def test_victim_home_when_her_phone_went_quiet() -> None:
    old = pos(age_s=61.0)
    home_position = pos(2000.0)
    found = victim_whereabouts(old, JONGNO, 60.0, (home_position, GANGNAM))
    assert found == Whereabouts(home_position, GANGNAM, "home_zone")
    assert victim_whereabouts(None, None, 60.0, (home_position, None)).basis == "home_zone"


def test_victim_last_known_position_without_a_home_then_unknown() -> None:
    old = pos(age_s=600.0)
    assert victim_whereabouts(old, JONGNO, 60.0, None) == Whereabouts(old, JONGNO, "last_known_position")
    assert victim_whereabouts(None, JONGNO, 60.0, None) == Whereabouts(None, None, "unknown")


def test_offender_whereabouts() -> None:
    live, old = pos(age_s=10.0), pos(age_s=600.0)
    assert offender_whereabouts(live, SUWON, 60.0) == Whereabouts(live, SUWON, "live_position")
    assert offender_whereabouts(old, SUWON, 60.0) == Whereabouts(old, SUWON, "last_known_position")
    assert offender_whereabouts(None, SUWON, 60.0) == Whereabouts(None, None, "unknown")


# --- the plan -------------------------------------------------------------------------------------------

SEOUL_POLICE = target("seoul-police", Agency.POLICE, "11")
GYEONGGI_POLICE = target("gyeonggi-police", Agency.POLICE, "31")
SEOUL_PROBATION = target("seoul-probation", Agency.PROBATION, "11")
GYEONGGI_PROBATION = target("gyeonggi-probation", Agency.PROBATION, "31")
ALL = [SEOUL_POLICE, GYEONGGI_POLICE, SEOUL_PROBATION, GYEONGGI_PROBATION]


def by_agency(tasks: tuple[Task, ...]) -> dict[Agency, Task]:
    assert len({task.agency for task in tasks}) == len(tasks)
    return {task.agency: task for task in tasks}


def test_probation_to_the_offender_and_police_to_the_victim() -> None:
    tasks = plan(AlertKind.PROXIMITY_VIOLATION, at(JONGNO), at(JONGNO), ALL)
    legs = by_agency(tasks)
    assert legs[Agency.PROBATION].targets == ("seoul-probation",)
    assert legs[Agency.PROBATION].area == JONGNO
    assert legs[Agency.POLICE].targets == ("seoul-police",)
    assert legs[Agency.POLICE].goal == "Police to the protected person's position"
    assert [task.agency for task in tasks] == [Agency.PROBATION, Agency.POLICE]
    assert recipients(tasks) == ("seoul-probation", "seoul-police")


def test_police_of_both_areas_when_they_stand_in_different_municipalities() -> None:
    legs = by_agency(plan(AlertKind.PROXIMITY_VIOLATION, at(SUWON), at(JONGNO), ALL))
    assert legs[Agency.POLICE].targets == ("seoul-police", "gyeonggi-police")  # hers first
    assert legs[Agency.POLICE].area == JONGNO
    assert legs[Agency.PROBATION].targets == ("gyeonggi-probation",)  # probation only where he is


def test_two_districts_of_one_city_are_two_areas_but_one_target_is_told_once() -> None:
    tasks = plan(AlertKind.PROXIMITY_VIOLATION, at(GANGNAM), at(JONGNO), ALL)
    assert by_agency(tasks)[Agency.POLICE].targets == ("seoul-police",)
    gangnam_only = target("gangnam-police", Agency.POLICE, "11680")
    tasks = plan(AlertKind.PROXIMITY_VIOLATION, at(GANGNAM), at(JONGNO), [*ALL, gangnam_only])
    assert by_agency(tasks)[Agency.POLICE].targets == ("seoul-police", "gangnam-police")


def test_same_area_code_is_not_a_second_area() -> None:
    again = Area(JONGNO.code, JONGNO.name, JONGNO.name_en, outside=True, distance_m=10.0)
    tasks = plan(AlertKind.PROXIMITY_VIOLATION, at(again), at(JONGNO), ALL)
    assert by_agency(tasks)[Agency.POLICE].targets == ("seoul-police",)


def test_an_offender_in_no_known_area_adds_no_police_area() -> None:
    nationwide = target("national-police", Agency.POLICE)
    tasks = plan(AlertKind.PROXIMITY_VIOLATION, at(None), at(JONGNO), [*ALL, nationwide])
    legs = by_agency(tasks)
    assert legs[Agency.POLICE].targets == ("national-police", "seoul-police")
    assert legs[Agency.PROBATION].targets == ()  # only targets with codes: none serves "nowhere"


@pytest.mark.parametrize(
    ("codes", "area", "serves"),
    [
        ((), None, True),  # no codes: everywhere, even an unknown area
        ((), JONGNO, True),
        (("11",), Area("11010", "", ""), True),
        (("110",), Area("11010", "", ""), True),
        (("11010",), Area("11010", "", ""), True),
        (("111",), Area("11010", "", ""), False),
        (("110101",), Area("11010", "", ""), False),  # a longer code is not a prefix
        (("31",), JONGNO, False),
        (("31", "11"), JONGNO, True),
        (("11",), None, False),
        (("26",), BUSAN, True),  # an area outside the outlines is still that area
    ],
)
def test_code_prefixes(codes: tuple[str, ...], area: Area | None, serves: bool) -> None:
    found = target("t", Agency.POLICE, *codes)
    assert found.serves(area) is serves
    assert choose([found], AlertKind.SOS, Agency.POLICE, [area]) == (("t",) if serves else ())


def test_priority_levels() -> None:
    targets = [
        target("b-first", Agency.POLICE, "11", priority=1),
        target("a-first", Agency.POLICE, "11", priority=1),
        target("second", Agency.POLICE, "11", priority=3),
        target("third", Agency.POLICE, "11", priority=7),
        target("gyeonggi", Agency.POLICE, "31", priority=1),
    ]

    def level(n: int) -> tuple[str, ...]:
        return choose(targets, AlertKind.PROXIMITY_VIOLATION, Agency.POLICE, [JONGNO], n)

    assert level(0) == ("a-first", "b-first")  # the lowest number, ids in order
    assert level(1) == ("second",)
    assert level(2) == ("third",)
    assert level(3) == ("third",)  # past the last: the last again
    assert level(50) == ("third",)


def test_priority_levels_are_counted_per_area() -> None:
    targets = [
        target("seoul-1", Agency.POLICE, "11", priority=1),
        target("seoul-2", Agency.POLICE, "11", priority=2),
        target("suwon-5", Agency.POLICE, "31", priority=5),
    ]
    areas = [JONGNO, SUWON]
    assert choose(targets, AlertKind.SOS, Agency.POLICE, areas, 0) == ("seoul-1", "suwon-5")
    assert choose(targets, AlertKind.SOS, Agency.POLICE, areas, 1) == ("seoul-2", "suwon-5")


def test_a_target_of_any_agency_takes_both_legs() -> None:
    single = target("env-default", Agency.ANY)
    tasks = plan(AlertKind.PROXIMITY_VIOLATION, at(SUWON), at(JONGNO), [single])
    assert [task.targets for task in tasks] == [("env-default",), ("env-default",)]
    assert recipients(tasks) == ("env-default",)


def test_the_other_agency_is_never_chosen() -> None:
    assert choose([SEOUL_PROBATION], AlertKind.SOS, Agency.POLICE, [JONGNO]) == ()
    assert choose([SEOUL_POLICE], AlertKind.SOS, Agency.PROBATION, [JONGNO]) == ()


def test_kinds_filter_and_disabled_targets() -> None:
    tamper_only = target("tamper-desk", Agency.PROBATION, "11", kinds=frozenset({AlertKind.TAMPER}))
    off = target("off", Agency.PROBATION, "11", enabled=False)
    fallback = target("fallback", Agency.PROBATION, "11", priority=2)
    targets = [tamper_only, off, fallback]
    # the tamper desk is not asked about proximity, and a disabled target is never asked: the
    # next priority in use becomes the first
    assert choose(targets, AlertKind.PROXIMITY_VIOLATION, Agency.PROBATION, [JONGNO]) == ("fallback",)
    assert choose(targets, AlertKind.TAMPER, Agency.PROBATION, [JONGNO]) == ("tamper-desk",)
    assert choose(targets, AlertKind.TAMPER, Agency.PROBATION, [JONGNO], 1) == ("fallback",)
    assert not off.takes(AlertKind.TAMPER)
    assert target("empty", kinds=frozenset()).takes(AlertKind.SOS) is False


def test_police_go_to_her_home_when_her_phone_is_quiet() -> None:
    victim = victim_whereabouts(pos(age_s=900.0), JONGNO, 60.0, (pos(3000.0), GANGNAM))
    legs = by_agency(plan(AlertKind.PROXIMITY_VIOLATION, at(GANGNAM), victim, ALL))
    police = legs[Agency.POLICE]
    assert police.basis == "home_zone"
    assert police.goal == "Police to her home"
    assert police.area == GANGNAM
    assert police.targets == ("seoul-police",)


@pytest.mark.parametrize("basis", ["live_position", "last_known_position"])
def test_police_goal_for_her_position(basis: str) -> None:
    legs = by_agency(plan(AlertKind.SOS, None, at(JONGNO, basis), ALL))
    assert list(legs) == [Agency.POLICE]
    assert legs[Agency.POLICE].goal == "Police to the protected person's position"
    assert legs[Agency.POLICE].basis == basis


def test_victim_unknown_still_gets_police_for_her_own_alerts() -> None:
    unknown = victim_whereabouts(None, None, 60.0, None)
    nationwide = target("national-police", Agency.POLICE)
    legs = by_agency(plan(AlertKind.PROXIMITY_VIOLATION, at(SUWON), unknown, [*ALL, nationwide]))
    assert legs[Agency.POLICE].basis == "unknown"
    assert legs[Agency.POLICE].position is None
    # her area is unknown: the nationwide target, and the police where he is
    assert legs[Agency.POLICE].targets == ("national-police", "gyeonggi-police")


@pytest.mark.parametrize("kind", sorted(VICTIM_AT_RISK))
def test_victim_at_risk_kinds_send_police_only_when_she_can_be_found(kind: AlertKind) -> None:
    unknown = victim_whereabouts(None, None, 60.0, None)
    tasks = plan(kind, at(JONGNO), unknown, ALL)
    assert [task.agency for task in tasks] == [Agency.PROBATION]
    tasks = plan(kind, at(JONGNO), at(JONGNO), ALL)
    assert [task.agency for task in tasks] == [Agency.PROBATION, Agency.POLICE]
    home = victim_whereabouts(None, None, 60.0, (pos(), GANGNAM))
    assert by_agency(plan(kind, at(JONGNO), home, ALL))[Agency.POLICE].basis == "home_zone"


def test_battery_is_probations_alone() -> None:
    # the outbox hands no victim for a flat battery
    tasks = plan(AlertKind.BATTERY_LOW, at(JONGNO), None, ALL)
    assert [(task.agency, task.targets) for task in tasks] == [(Agency.PROBATION, ("seoul-probation",))]


def test_nobody_involved_no_plan() -> None:
    assert plan(AlertKind.SOS, None, None, ALL) == ()


def test_no_target_serves_the_area() -> None:
    legs = by_agency(plan(AlertKind.SOS, at(BUSAN), at(BUSAN), ALL))
    assert legs[Agency.POLICE].targets == () and legs[Agency.PROBATION].targets == ()
    assert recipients(tuple(legs.values())) == ()


# --- property: whoever is chosen may be chosen ------------------------------------------------------------

CODES = ["11", "110", "1111", "11110", "11680", "31", "31011", "26"]
AREAS = [JONGNO, GANGNAM, SUWON, BUSAN, Area("11010", "", ""), None]

targets_strategy = st.lists(
    st.builds(
        Target,
        id=st.sampled_from([f"t{i}" for i in range(12)]),
        name=st.just("t"),
        url=st.just("https://t.example"),
        secret=st.just("whsec_" + "A" * 44),
        agency=st.sampled_from(list(Agency)),
        codes=st.frozensets(st.sampled_from(CODES), max_size=3),
        kinds=st.none() | st.frozensets(st.sampled_from(list(AlertKind)), max_size=4),
        priority=st.integers(1, 5),
        enabled=st.booleans(),
    ),
    max_size=10,
    unique_by=lambda t: t.id,
)
whereabouts = st.none() | st.builds(
    Whereabouts,
    position=st.none() | st.just(pos()),
    area=st.sampled_from(AREAS),
    basis=st.sampled_from(["live_position", "home_zone", "last_known_position", "unknown"]),
)


@settings(max_examples=300, deadline=None)
@given(
    targets=targets_strategy,
    kind=st.sampled_from([k for k in AlertKind if k not in INTERNAL]),
    offender=whereabouts,
    victim=whereabouts,
    level=st.integers(0, 6),
)
def test_every_chosen_target_may_take_the_task(
    targets: list[Target],
    kind: AlertKind,
    offender: Whereabouts | None,
    victim: Whereabouts | None,
    level: int,
) -> None:
    tasks = plan(kind, offender, victim, targets, level)
    known = {t.id: t for t in targets}
    for task in tasks:
        if kind in PROBATION_ONLY:  # his officer is told even when nothing is known of where he is
            assert task.agency is Agency.PROBATION and len(tasks) == 1
            areas = [offender.area if offender is not None else None]
            # probation's own targets only: never police, nor a catch-all of "any" agency
            assert all(
                known[tid].agency is Agency.PROBATION and known[tid].takes(kind) for tid in task.targets
            )
            assert len(task.targets) == len(set(task.targets))
            # where his area has no probation office, one that serves everywhere is told
            if not task.targets:
                assert not any(
                    t.agency is Agency.PROBATION and t.takes(kind) and (t.serves(task.area) or not t.codes)
                    for t in targets
                )
            continue
        if task.agency is Agency.PROBATION:
            assert offender is not None
            areas = [offender.area]
        else:
            assert victim is not None
            areas = [victim.area] + ([offender.area] if offender is not None else [])
        assert len(task.targets) == len(set(task.targets))
        for tid in task.targets:
            chosen = known[tid]
            assert chosen.enabled
            assert chosen.takes(kind)
            assert chosen.agency in (task.agency, Agency.ANY)
            assert any(chosen.serves(area) for area in areas)
        # nobody eligible in the task's own area is left without anyone: someone there is told
        eligible = [
            t
            for t in targets
            if t.agency in (task.agency, Agency.ANY) and t.takes(kind) and t.serves(task.area)
        ]
        if eligible:
            assert any(known[tid].serves(task.area) for tid in task.targets)
    every = recipients(tasks)
    assert len(every) == len(set(every))
    assert set(every) == {tid for task in tasks for tid in task.targets}


@settings(max_examples=200, deadline=None)
@given(targets=targets_strategy, area=st.sampled_from(AREAS), level=st.integers(0, 6))
def test_choose_takes_one_priority_per_area(targets: list[Target], area: Area | None, level: int) -> None:
    chosen = choose(targets, AlertKind.PROXIMITY_VIOLATION, Agency.POLICE, [area], level)
    priorities = {t.priority for t in targets if t.id in chosen}
    assert len(priorities) <= 1
    eligible = sorted(
        {
            t.priority
            for t in targets
            if t.agency in (Agency.POLICE, Agency.ANY)
            and t.takes(AlertKind.PROXIMITY_VIOLATION)
            and t.serves(area)
        }
    )
    if eligible:
        assert priorities == {eligible[min(level, len(eligible) - 1)]}
    else:
        assert chosen == ()
