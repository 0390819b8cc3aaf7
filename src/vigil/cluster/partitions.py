"""Which partition a person's reports go to, and which worker owns a partition. Pure: handed the
registry and the live workers, it answers the same in every process.

Everything a rule needs together lands in one partition: a subject, the protected persons his
orders name, the other subjects their orders name, and so on (a connected group over the orders
not yet ended). Zones belong to their subject or order, devices to their wearer, so they follow.
A group's partition is a hash of its smallest member, so every process that reads the same
registry places it the same way; an order that links two groups moves them together (the joined
group hashes from its new smallest member), and an order that ends may split them again. Reports
already on the log for the old partition are forwarded by whoever reads them there
(cluster/worker.py), so nothing is lost, and the store's idempotency keeps nothing counted twice.

Ownership is rendezvous hashing with bounded loads over the live workers: each partition in turn
goes to the worker with the highest hash of (partition, worker) that has not yet taken its share
(P / W, rounded down; P mod W of them one more). Plain rendezvous hashing moves only what a
joining or leaving worker gains or loses, but shares unevenly: 64 partitions over two workers came
out 45/55 by work in the bench. Bounded, the shares differ by one partition at most, for about a
fifth more partitions moved when a worker joins (and a worker whose partitions change rebuilds
its engine from the store anyway).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vigil.domain.model import Device, Order, PersonKind, PersonRef, protected_ref, subject_ref

DEFAULT_PARTITIONS = 64


def _hash(text: str) -> int:
    # blake2b, not hash(): Python's string hash changes with every process's seed.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _name(person: PersonRef) -> str:
    return f"{person.kind.value}:{person.id}"


def partition_of_name(name: str, partitions: int) -> int:
    return _hash(name) % partitions


class _Groups:
    """Union-find over people."""

    def __init__(self) -> None:
        self.parent: dict[PersonRef, PersonRef] = {}

    def find(self, p: PersonRef) -> PersonRef:
        parent = self.parent
        root = p
        while parent.get(root, root) != root:
            root = parent[root]
        while p != root:  # path compression: later look-ups are one step
            parent[p], p = root, parent.get(p, p)
        return root

    def join(self, a: PersonRef, b: PersonRef) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        # the smaller name is the root: a group's root is its smallest member
        if _name(rb) < _name(ra):
            ra, rb = rb, ra
        self.parent[rb] = ra


@dataclass(frozen=True, slots=True)
class PartitionMap:
    """Where each known person's reports go."""

    partitions: int
    people: Mapping[PersonRef, int]
    devices: Mapping[str, PersonRef]  # device id -> its wearer, for devices bound to someone

    def of_person(self, person: PersonRef) -> int:
        found = self.people.get(person)
        return found if found is not None else partition_of_name(_name(person), self.partitions)

    def of_device(self, device_id: str) -> int | None:
        """None: the device is bound to nobody (or unknown): its reports are refused, never placed."""
        person = self.devices.get(device_id)
        return None if person is None else self.of_person(person)

    def members(self, partitions: Iterable[int]) -> frozenset[PersonRef]:
        wanted = set(partitions)
        return frozenset(p for p, n in self.people.items() if n in wanted)


def build(
    devices: Iterable[Device], orders: Iterable[Order], partitions: int = DEFAULT_PARTITIONS
) -> PartitionMap:
    """The map for a registry: its devices and its orders (ended ones are passed over)."""
    if partitions < 1:
        raise ValueError("at least one partition")
    groups = _Groups()
    people: set[PersonRef] = set()
    for order in orders:
        if order.ended_at is not None:
            continue
        s, p = subject_ref(order.subject_id), protected_ref(order.protected_person_id)
        people.update((s, p))
        groups.join(s, p)
    bound: dict[str, PersonRef] = {}
    for device in devices:
        if device.person_id is None or device.person_kind is None:
            continue
        person = PersonRef(PersonKind(device.person_kind), device.person_id)
        bound[device.id] = person
        people.add(person)
    placed = {person: partition_of_name(_name(groups.find(person)), partitions) for person in people}
    return PartitionMap(partitions, placed, bound)


def assignment(workers: Iterable[str], partitions: int) -> dict[int, str]:
    """Every partition's owner among the live workers (none when no worker is alive). Each process
    that lists the same workers computes the same."""
    return dict(_assignment(tuple(sorted(set(workers))), partitions))


@functools.lru_cache(maxsize=16)  # a worker asks every second, nearly always about the same workers
def _assignment(live: tuple[str, ...], partitions: int) -> tuple[tuple[int, str], ...]:
    if not live:
        return ()
    # Each worker holds `base` partitions, and `extra` of them one more: the shares differ by one.
    base, extra = divmod(partitions, len(live))
    held = dict.fromkeys(live, 0)
    owners: dict[int, str] = {}
    for p in range(partitions):
        ranked = sorted(live, key=lambda w: (_hash(f"{p}/{w}"), w), reverse=True)
        # there is always room: fewer than `partitions` are placed, and the shares add up to it
        w = next(w for w in ranked if held[w] < base or (held[w] == base and extra > 0))
        if held[w] == base:
            extra -= 1
        owners[p] = w
        held[w] += 1
    return tuple(owners.items())


def owned(worker: str, workers: Iterable[str], partitions: int) -> frozenset[int]:
    live = set(workers) | {worker}
    return frozenset(p for p, w in assignment(live, partitions).items() if w == worker)
