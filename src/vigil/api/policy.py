"""Who may do what: one table, read by every router and stream. Finer scope (caseload, jurisdiction,
incident) narrows these per record; it never widens them."""

from __future__ import annotations

from enum import StrEnum

from vigil.domain.model import Role


class Action(StrEnum):
    REGISTRY_READ = "registry.read"
    REGISTRY_WRITE = "registry.write"
    POSITIONS_READ = "positions.read"
    ALERTS_READ = "alerts.read"
    ALERTS_MOVE = "alerts.move"
    STREAM = "stream"
    DEVICE_POST = "device.post"
    USERS_MANAGE = "users.manage"
    SELF = "self"  # a protected person's own status, position and SOS (the victim app)
    AUDIT_READ = "audit.read"
    TARGETS_READ = "targets.read"
    TARGETS_MANAGE = "targets.manage"
    # --- retention and evidence ---
    EVIDENCE_READ = "evidence.read"  # a breach report for a court (JSON/PDF with a content hash)
    LEGAL_HOLD = "legal_hold"  # place, list and release legal holds that keep history from the purge


_WATCHERS = {Role.OPERATOR, Role.PROBATION_OFFICER, Role.POLICE_DISPATCHER}

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.REGISTRY_READ: frozenset(_WATCHERS | {Role.ADMIN}),
    Action.REGISTRY_WRITE: frozenset({Role.ADMIN, Role.OPERATOR, Role.PROBATION_OFFICER}),
    # admin manages the system, not people: no live positions unless also an operator
    Action.POSITIONS_READ: frozenset(_WATCHERS),
    Action.ALERTS_READ: frozenset(_WATCHERS),
    # Field officers act on their own incident through its link (/v1/incidents), not on any alert.
    Action.ALERTS_MOVE: frozenset(_WATCHERS),
    Action.STREAM: frozenset(_WATCHERS),
    Action.DEVICE_POST: frozenset({Role.DEVICE}),
    Action.USERS_MANAGE: frozenset({Role.ADMIN}),
    # Dispatch targets hold secrets and decide where alerts go: admins set them, operators see them.
    Action.SELF: frozenset({Role.PROTECTED_PERSON}),
    Action.AUDIT_READ: frozenset({Role.AUDITOR}),
    Action.TARGETS_READ: frozenset({Role.ADMIN, Role.OPERATOR}),
    Action.TARGETS_MANAGE: frozenset({Role.ADMIN}),
    # --- retention and evidence ---
    # A breach report holds both parties' tracks: those who follow and supervise cases, and auditors;
    # not admins (they run the system, not cases), dispatchers (they see incidents) or field officers.
    Action.EVIDENCE_READ: frozenset({Role.OPERATOR, Role.PROBATION_OFFICER, Role.AUDITOR}),
    # Holds are records management: operators place them on a request, auditors oversee them, admins
    # run retention. A hold shows whose history is kept and why, not the history itself.
    Action.LEGAL_HOLD: frozenset({Role.OPERATOR, Role.ADMIN, Role.AUDITOR}),
}


def allows(role: Role, action: Action) -> bool:
    return role in ALLOWED[action]
