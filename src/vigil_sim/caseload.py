"""The simulated caseload: who is monitored, who is protected, where they live, and their orders.

`make_caseload(subjects, seed)` builds a deterministic caseload on the real map of Korea (the
packaged 2012 municipality outlines). Subjects are placed with a bias toward populous places (one
Seoul district holds far more people than a rural county), each home drawn uniformly inside its
municipality by rejection sampling. Work places, errand places and victims' homes are drawn at a
distance from home and kept on land.

Everything the registry needs comes out of `Caseload.registry_bodies()` as REST calls in
dependency order, so a driver can load a live server with the same records a replay file carries.
"""

from __future__ import annotations

import gc
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vigil.domain import geo
from vigil.domain.model import DeviceKind, LegalBasis, PersonKind
from vigil.jurisdiction import Atlas, Municipality, municipalities
from vigil_sim.draws import unit_hash

TIMEZONE = "Asia/Seoul"

CURFEW_START = "22:00"
CURFEW_END = "06:00"
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Mixes chosen to look like the Korean caseload: most monitors are worn for sex offences and
# parole; stalking provisional measures (since 2024) are the growing share that carries a victim.
LEGAL_BASES: tuple[tuple[LegalBasis, float], ...] = (
    (LegalBasis.SEX_OFFENCE_EM_ORDER, 0.40),
    (LegalBasis.PAROLE, 0.20),
    (LegalBasis.BAIL, 0.10),
    (LegalBasis.STALKING_PROVISIONAL_MEASURE, 0.30),
)
# Police emergency orders use 100 m; courts sometimes set wider lines.
VIOLATION_DISTANCES: tuple[tuple[float, float], ...] = ((100.0, 0.80), (200.0, 0.12), (500.0, 0.08))
WARNING_DISTANCES: tuple[tuple[float, float], ...] = ((1000.0, 0.85), (2000.0, 0.15))

_SURNAMES = ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han", "Oh")
_SYLLABLES = ("min", "ji", "seo", "hyun", "woo", "jun", "young", "soo", "eun", "hye", "jae", "sung")


class Mode(StrEnum):
    """How a person covers trips too long to walk."""

    DRIVE = "drive"
    TRANSIT = "transit"


# --- the map ------------------------------------------------------------------------------------

# Typical residents per municipality, in units of ~100,000: a Seoul district ~400k, a Gyeonggi or
# Incheon city ~270k, a Busan district ~220k, other metropolitan districts ~200k, a provincial city ~120k.
_REGION_WEIGHT = {
    "11": 4.0,  # Seoul
    "21": 2.2,  # Busan
    "22": 2.0,  # Daegu
    "23": 2.8,  # Incheon
    "24": 2.0,  # Gwangju
    "25": 2.0,  # Daejeon
    "26": 2.0,  # Ulsan
    "29": 2.0,  # Sejong
    "31": 2.7,  # Gyeonggi
}

AVOID_M = 800.0  # a subject's work and errand places keep this far from his victims' homes
SHARED_WITHIN_M = 40_000.0  # a victim shared by two subjects lives within this of both


def atlas() -> Atlas:
    """The packaged municipalities (the product's jurisdiction index), loaded once per process."""
    return municipalities()


def weight(m: Municipality) -> float:
    """Relative chance a monitored person lives in `m`: a population proxy by kind of place (people
    per municipality, roughly), since the map carries no population."""
    if m.name_eng.endswith("-gun"):
        return 0.4  # rural county
    return _REGION_WEIGHT.get(m.code[:2], 1.2)


class Placer:
    """Draws places on the map: a municipality by population, a point inside it, a point on land
    near another. It asks the atlas's grid (`Atlas.grid_at`) rather than `municipality_at`, whose
    rare corrections would shift the draws and so change the caseload a seed gives."""

    def __init__(self, places: Atlas) -> None:
        self.atlas = places
        total = 0.0
        self._cum_weights: list[float] = []
        for m in places.municipalities:
            total += weight(m)
            self._cum_weights.append(total)

    def pick(self, rng: random.Random) -> Municipality:
        """A municipality, weighted by its population proxy."""
        return rng.choices(self.atlas.municipalities, cum_weights=self._cum_weights)[0]

    def point_in(self, rng: random.Random, m: Municipality) -> tuple[float, float]:
        """A uniform point inside the municipality (rejection sampling in its bounding box)."""
        min_lon, min_lat, max_lon, max_lat = m.bbox
        for _ in range(10_000):
            lat = rng.uniform(min_lat, max_lat)
            lon = rng.uniform(min_lon, max_lon)
            if self.atlas.grid_at(lat, lon) is m:
                return lat, lon
        raise ValueError(f"could not place a point in {m.code} {m.name_eng}")  # pragma: no cover

    def point_near(
        self,
        rng: random.Random,
        lat: float,
        lon: float,
        min_m: float,
        max_m: float,
        avoid: tuple[Place, ...] = (),
    ) -> tuple[float, float]:
        """A point on land `min_m`..`max_m` from (lat, lon), at least AVOID_M beyond every `avoid`
        place (a subject's errands must not sit on his victim's doorstep)."""
        best: tuple[float, float] | None = None
        for _ in range(60):
            d = math.exp(rng.uniform(math.log(min_m), math.log(max_m)))  # log-uniform: near is common
            p = geo.destination(lat, lon, rng.uniform(0.0, 360.0), d)
            if any(geo.distance_m(a.lat, a.lon, *p) < AVOID_M for a in avoid):
                continue
            if self.atlas.grid_at(*p) is not None:
                return p
            best = best or p
        # A coast or an island with no land in reach: accept a point over water rather than loop.
        return best or geo.destination(lat, lon, rng.uniform(0.0, 360.0), max_m)


# --- the people ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lon: float
    label: str
    indoors: bool = True


@dataclass(frozen=True, slots=True)
class Habits:
    """What a person's days look like; the movement model reads these."""

    mode: Mode
    walk_mps: float
    drive_mps: float
    works: bool
    work_start_s: int  # seconds after local midnight
    work_hours_s: int
    home_by_s: int  # latest return home (curfew subjects keep a margin before 22:00)
    evening_out: float  # chance of an evening outing on a given day


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    kind: DeviceKind
    interval_s: int = 60  # how often it reports when not in pursuit
    # A device the person may leave at home (a subject's phone): the share of days it stays there.
    left_home_share: float = 0.0

    @property
    def body_worn(self) -> bool:
        """Worn on the body (a monitor or a watch), so it goes where its wearer goes."""
        return self.kind is not DeviceKind.PHONE

    @property
    def protocol(self) -> str:
        """Phones run a Traccar/OsmAnd client; monitors and watches speak Vigil's native JSON."""
        return "osmand" if self.kind is DeviceKind.PHONE else "native"


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    kind: PersonKind
    name: str
    municipality: str  # code
    home: Place
    work: Place | None
    errands: tuple[Place, ...]
    habits: Habits
    device: DeviceInfo
    extra_devices: tuple[DeviceInfo, ...] = ()  # a second unit the person carries (or not)

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return (self.device, *self.extra_devices)


@dataclass(frozen=True, slots=True)
class CurfewZone:
    """A subject's inclusion zone at home, active every night."""

    id: str
    lat: float
    lon: float
    radius_m: float
    start: str = CURFEW_START
    end: str = CURFEW_END
    days: tuple[str, ...] = ALL_DAYS


@dataclass(frozen=True, slots=True)
class Subject:
    person: Person
    legal_basis: LegalBasis
    case_reference: str
    curfew: CurfewZone | None

    @property
    def id(self) -> str:
        return self.person.id


@dataclass(frozen=True, slots=True)
class ExclusionZone:
    """An order's fixed zone. Its id is the one the registry gives it: the order id + ".z1"."""

    id: str
    label: str
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class CaseOrder:
    id: str
    subject_id: str
    protected_person_id: str
    violation_distance_m: float
    warning_distance_m: float
    legal_basis: LegalBasis
    zones: tuple[ExclusionZone, ...]


@dataclass(slots=True)
class Caseload:
    seed: int
    subjects: tuple[Subject, ...]
    protected_persons: tuple[Person, ...]
    orders: tuple[CaseOrder, ...]
    people: dict[str, Person] = field(init=False)
    subject_by_id: dict[str, Subject] = field(init=False)
    orders_by_subject: dict[str, tuple[CaseOrder, ...]] = field(init=False)
    orders_by_person: dict[str, tuple[CaseOrder, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.people = {p.id: p for p in (*(s.person for s in self.subjects), *self.protected_persons)}
        self.subject_by_id = {s.id: s for s in self.subjects}
        by_subject: dict[str, list[CaseOrder]] = {}
        by_person: dict[str, list[CaseOrder]] = {}
        for o in self.orders:
            by_subject.setdefault(o.subject_id, []).append(o)
            by_person.setdefault(o.protected_person_id, []).append(o)
        self.orders_by_subject = {k: tuple(v) for k, v in by_subject.items()}
        self.orders_by_person = {k: tuple(v) for k, v in by_person.items()}

    def partners(self, person_id: str) -> tuple[str, ...]:
        """The other party of every order the person is in."""
        if person_id in self.subject_by_id:
            return tuple(o.protected_person_id for o in self.orders_by_subject.get(person_id, ()))
        return tuple(o.subject_id for o in self.orders_by_person.get(person_id, ()))

    def registry_bodies(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(method, path, JSON body) for the registry REST API, in dependency order: people, then
        their devices, then orders (with their exclusion zones), then subjects' curfew zones."""
        for s in self.subjects:
            body = {
                "name": s.person.name,
                "legal_basis": s.legal_basis.value,
                "case_reference": s.case_reference,
            }
            yield "PUT", f"/v1/subjects/{s.id}", body
        for p in self.protected_persons:
            yield "PUT", f"/v1/protected-persons/{p.id}", {"name": p.name}
        for p in self.people.values():
            for d in p.devices:
                yield "PUT", f"/v1/devices/{d.id}", {"kind": d.kind.value, "person_id": p.id}
        for o in self.orders:
            yield "PUT", f"/v1/orders/{o.id}", order_body(o)
        for s in self.subjects:
            if s.curfew is not None:
                yield "PUT", f"/v1/subjects/{s.id}/zones/{s.curfew.id}", curfew_body(s.curfew)


def order_body(o: CaseOrder) -> dict[str, Any]:
    return {
        "subject_id": o.subject_id,
        "protected_person_id": o.protected_person_id,
        "violation_distance_m": o.violation_distance_m,
        "warning_distance_m": o.warning_distance_m,
        "legal_basis": o.legal_basis.value,
        "reference": o.id,
        "zones": [
            {
                "kind": "exclusion",
                "label": z.label,
                "circle": {"lat": z.lat, "lon": z.lon, "radius_m": z.radius_m},
            }
            for z in o.zones
        ],
    }


def curfew_body(z: CurfewZone) -> dict[str, Any]:
    return {
        "kind": "inclusion",
        "label": "curfew",
        "circle": {"lat": z.lat, "lon": z.lon, "radius_m": z.radius_m},
        "schedule": [{"days": list(z.days), "start": z.start, "end": z.end}],
        "timezone": TIMEZONE,
    }


# --- generation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseloadSettings:
    curfew_fraction: float = 0.7  # subjects with a night curfew at home
    second_victim_fraction: float = 0.10  # subjects with two protected persons
    shared_victim_fraction: float = 0.05  # victims protected from two subjects
    near_victim_fraction: float = 0.15  # victims living 1-3 km from their offender
    watch_fraction: float = 0.4  # victims given a smartwatch; the rest use their phone
    employed_fraction: float = 0.65
    # Drawn by hash, not from the caseload's generator, so that changing them leaves everything
    # else a seed gives as it was.
    slow_device_fraction: float = 0.10  # monitors and watches set to report every 300 s, not 60 s
    slow_interval_s: int = 300
    second_device_fraction: float = 0.10  # subjects who also carry a phone
    phone_left_home_share: float = 0.3  # days such a phone stays at home


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while building many long-lived, acyclic objects: otherwise
    it rescans the growing heap again and again (half the build time for 10,000 subjects)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def make_caseload(subjects: int = 200, seed: int = 0, settings: CaseloadSettings | None = None) -> Caseload:
    """A deterministic caseload of `subjects` subjects (1..100,000) with their victims and orders."""
    if not 1 <= subjects <= 100_000:
        raise ValueError("subjects must be between 1 and 100,000")
    with gc_paused():
        return _Builder(random.Random(f"caseload/{seed}"), settings or CaseloadSettings(), seed).build(
            subjects
        )


def _weighted(rng: random.Random, options: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


class _Builder:
    def __init__(self, rng: random.Random, settings: CaseloadSettings, seed: int) -> None:
        self.rng = rng
        self.settings = settings
        self.seed = seed
        self.atlas = atlas()
        self.placer = Placer(self.atlas)
        self.victims: list[Person] = []
        self.shareable: list[int] = []  # victims (by index) protected from one subject so far
        self.shares_due = 0
        self.subjects: list[Subject] = []
        self.orders: list[CaseOrder] = []

    def build(self, count: int) -> Caseload:
        s = self.settings
        # Per order, reuse an existing victim with the probability that makes `shared` of all victims
        # shared: reuses r = shared * V and V = orders - r, so r / orders = shared / (1 + shared).
        p_share = s.shared_victim_fraction / (1.0 + s.shared_victim_fraction)
        for i in range(1, count + 1):
            self._subject(i, p_share)
        return Caseload(self.seed, tuple(self.subjects), tuple(self.victims), tuple(self.orders))

    def _name(self) -> str:
        r = self.rng
        return f"{r.choice(_SURNAMES)} {r.choice(_SYLLABLES).capitalize()}-{r.choice(_SYLLABLES)}"

    def _habits(self, *, curfew: bool) -> Habits:
        r = self.rng
        return Habits(
            mode=Mode.DRIVE if r.random() < 0.4 else Mode.TRANSIT,
            walk_mps=r.uniform(1.1, 1.5),
            drive_mps=r.uniform(10.0, 17.0),
            works=r.random() < self.settings.employed_fraction,
            work_start_s=int(r.uniform(7.0, 10.0) * 3600),
            work_hours_s=int(r.uniform(8.0, 9.5) * 3600),
            home_by_s=int((21.5 if curfew else 23.25) * 3600),
            evening_out=0.0 if curfew else r.uniform(0.05, 0.3),
        )

    def _places(
        self, home: tuple[float, float], avoid: tuple[Place, ...]
    ) -> tuple[Place | None, tuple[Place, ...]]:
        r, a = self.rng, self.placer
        work = Place(*a.point_near(r, *home, 1_000.0, 15_000.0, avoid), label="work")
        errands = tuple(
            Place(
                *a.point_near(r, *home, 300.0, 5_000.0, avoid),
                label=f"errand{k + 1}",
                indoors=r.random() < 0.7,
            )
            for k in range(r.randint(2, 4))
        )
        return work, errands

    def _subject(self, i: int, p_share: float) -> None:
        r, s = self.rng, self.settings
        sid = f"S-{i:06d}"
        municipality = self.placer.pick(r)
        home = self.placer.point_in(r, municipality)
        basis = _weighted(r, LEGAL_BASES)
        curfew = None
        if r.random() < s.curfew_fraction:
            curfew = CurfewZone(f"{sid}.curfew", home[0], home[1], float(r.randint(150, 250)))
        victims: list[Person] = []
        for _ in range(2 if r.random() < s.second_victim_fraction else 1):
            victims.append(self._victim_for(home, p_share, victims))
        avoid = tuple(v.home for v in victims)
        habits = self._habits(curfew=curfew is not None)
        work, errands = self._places(home, avoid)
        person = Person(
            id=sid,
            kind=PersonKind.SUBJECT,
            name=self._name(),
            municipality=municipality.code,
            home=Place(*home, label="home"),
            work=work if habits.works else None,
            errands=errands,
            habits=habits,
            device=self._device(f"AM-{i:06d}", DeviceKind.ANKLE_MONITOR),
            extra_devices=self._second_device(i),
        )
        self.subjects.append(Subject(person, basis, f"CASE-{self.seed}-{i:06d}", curfew))
        for v in victims:
            self._order(sid, basis, v)

    def _device(self, device_id: str, kind: DeviceKind) -> DeviceInfo:
        """Some monitors and watches are set to report every 5 minutes (battery saving, an older
        model); phones report when their app gets a fix and keep the usual minute."""
        s = self.settings
        slow = (
            kind is not DeviceKind.PHONE and unit_hash(self.seed, device_id, "slow") < s.slow_device_fraction
        )
        return DeviceInfo(device_id, kind, s.slow_interval_s if slow else 60)

    def _second_device(self, i: int) -> tuple[DeviceInfo, ...]:
        """A phone the subject carries on top of his monitor, left at home on some days."""
        s = self.settings
        if unit_hash(self.seed, f"S-{i:06d}", "second") >= s.second_device_fraction:
            return ()
        return (DeviceInfo(f"PH-{i:06d}", DeviceKind.PHONE, left_home_share=s.phone_left_home_share),)

    def _victim_for(self, home: tuple[float, float], p_share: float, taken: list[Person]) -> Person:
        r = self.rng
        if r.random() < p_share:
            self.shares_due += 1
        if self.shareable and self.shares_due > 0:
            # Someone already protected from another subject, living within reach of this one (a
            # victim of two offenders is their common acquaintance, not a stranger across the
            # country). When nobody suitable turns up the share stays due for the next order.
            for _ in range(30):
                k = r.randrange(len(self.shareable))
                candidate = self.victims[self.shareable[k]]
                far = (
                    geo.distance_m(home[0], home[1], candidate.home.lat, candidate.home.lon) > SHARED_WITHIN_M
                )
                if candidate not in taken and not far:
                    self.shareable[k] = self.shareable[-1]
                    self.shareable.pop()
                    self.shares_due -= 1
                    return candidate
        near = r.random() < self.settings.near_victim_fraction
        lo, hi = (1_000.0, 3_000.0) if near else (4_000.0, 40_000.0)
        vhome = self.placer.point_near(r, *home, lo, hi)
        municipality = self.atlas.grid_at(*vhome)
        n = len(self.victims) + 1
        watch = r.random() < self.settings.watch_fraction
        habits = self._habits(curfew=False)
        work, errands = self._places(vhome, ())
        victim = Person(
            id=f"V-{n:06d}",
            kind=PersonKind.PROTECTED_PERSON,
            name=self._name(),
            municipality=municipality.code if municipality else "",
            home=Place(*vhome, label="home"),
            work=work if habits.works else None,
            errands=errands,
            habits=habits,
            device=self._device(
                f"W-{n:06d}" if watch else f"P-{n:06d}", DeviceKind.SMARTWATCH if watch else DeviceKind.PHONE
            ),
        )
        self.shareable.append(len(self.victims))
        self.victims.append(victim)
        return victim

    def _order(self, subject_id: str, basis: LegalBasis, victim: Person) -> None:
        r = self.rng
        oid = f"O-{len(self.orders) + 1:06d}"
        violation = float(_weighted(r, VIOLATION_DISTANCES))
        warning = max(float(_weighted(r, WARNING_DISTANCES)), 2 * violation)
        zone = ExclusionZone(
            f"{oid}.z1", "home", victim.home.lat, victim.home.lon, float(r.randint(150, 300))
        )
        self.orders.append(CaseOrder(oid, subject_id, victim.id, violation, warning, basis, (zone,)))
