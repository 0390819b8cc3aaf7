"""Incidents: the alerts of one danger, grouped, so the control centre queues and dispatch follows
one thing per danger instead of one per alert.

An alert that opens joins an open incident of the same danger, else starts a new one:

- an alert about a subject (his approach, his zone, his tamper, his silence) joins the open incident
  of that subject; failing that, an alert that also names her (the approach, her zone) joins the
  incident her own alerts started (her SOS before he was seen), which from then on is his too;
- an alert about her alone (her SOS, her phone's silence) joins the open incident of a subject her
  orders keep from her (the man the police sent to her must look out for), else her own incident.

- an alert about him alone (his tamper, his silence) with no incident of his own joins the incident
  her own alerts started (her SOS) if his orders keep him from her: her SOS then his strap cut is
  one danger, as his strap cut then her SOS is.

An incident can be joined while one of its alerts holds, and for `window_s` after the last one
cleared: the same man back at her door an hour later is the same danger; the next evening is not.
A low battery holds nothing open: it lasts for hours as a matter of course, and a morning's low
battery made the evening's approach "the same danger".
An incident closed by people (every alert resolved or a false alarm) is never joined again: what
comes after is a new danger for the police, with a new number.

The control centre's own alarms (a push not getting through) belong to no incident.

Pure: ids and times are given, nothing is read or written here. The book keeps the open incidents
only; a closed one is reported once (`changed`) and forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from vigil.domain.alerts import (
    RANK,
    SEVERITY,
    TERMINAL,
    Alert,
    AlertChange,
    AlertKind,
    Change,
    Severity,
)

# Kinds that are not a danger in progress, so no incident: the control centre's own trouble, and a
# police case matched to a subject (casework for his officer: its own line in the queue, never
# folded into an approach that happens to be open).
UNGROUPED = frozenset({AlertKind.DISPATCH_FAILURE, AlertKind.CASE_MATCH})
# Kinds that belong to an incident but do not keep it open for joining while they last.
LINGERING = frozenset({AlertKind.BATTERY_LOW})

_WEIGHT = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


def weight(kind: AlertKind) -> tuple[int, int]:
    """How grave a kind is: its severity, then its rank within a family (a violation over a warning)."""
    return _WEIGHT[SEVERITY[kind]], RANK.get(kind, 0)


@dataclass(frozen=True, slots=True)
class Incident:
    """One danger as it stands. `alerts` are its alerts not yet closed by people; `active` those whose
    condition holds now."""

    id: str
    subject_id: str | None
    protected_person_id: str | None
    kind: AlertKind  # the gravest kind any of its alerts reached
    opened_at: datetime
    # When an alert in it last opened or escalated at the incident's gravity or above: the queue is
    # ordered by this, so a violation after an hour of warnings comes to the top. A lesser alert
    # joining (a low battery in a violation) is news in the incident, not a new escalation.
    escalated_at: datetime
    updated_at: datetime
    # The last moment one of its alerts was active: the window for joining counts from here.
    active_at: datetime
    alerts: frozenset[str] = frozenset()
    active: frozenset[str] = frozenset()
    open: bool = True
    closed_at: datetime | None = None
    # The active alerts that keep it open for joining (all but the LINGERING kinds).
    holding: frozenset[str] = frozenset()

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    def joinable(self, now: datetime, window_s: float) -> bool:
        return self.open and (bool(self.holding) or (now - self.active_at).total_seconds() < window_s)


class IncidentBook:
    """The open incidents, and which of them changed since the store last took them."""

    def __init__(self, new_id: Callable[[], str], window_s: float) -> None:
        self._new_id = new_id
        self.window_s = window_s
        self._open: dict[str, Incident] = {}
        self._changed: dict[str, Incident] = {}
        # Open incidents by the people they name, so placing an alert looks at a few, not all: a
        # caseload whose alerts nobody closes keeps thousands open.
        self._of_subject: dict[str, set[str]] = {}
        self._of_protected: dict[str, set[str]] = {}

    def __iter__(self) -> Iterator[Incident]:
        return iter(self._open.values())

    def __len__(self) -> int:
        return len(self._open)

    def get(self, incident_id: str) -> Incident | None:
        return self._open.get(incident_id)

    def restore(self, incident: Incident, alerts: Iterable[Alert]) -> None:
        """Take back an open incident from storage at start-up, with its open alerts (what is held in
        memory about them is rebuilt from those). One with no open alert left is not taken back."""
        mine = [a for a in alerts if a.incident_id == incident.id and a.state not in TERMINAL]
        if not mine:
            return
        self._index(
            replace(
                incident,
                alerts=frozenset(a.id for a in mine),
                active=frozenset(a.id for a in mine if a.active),
                holding=frozenset(a.id for a in mine if a.active and a.kind not in LINGERING),
                open=True,
                closed_at=None,
            )
        )

    def place(
        self,
        alert: Alert,
        now: datetime,
        kept_from: Callable[[str], Iterable[str]],
        kept_away: Callable[[str], Iterable[str]] = lambda subject: (),
    ) -> str | None:
        """The incident a newly opened alert belongs to: an open one of the same danger, or a new one
        (its id from the id maker). None for alerts that belong to no incident. The alert itself is
        counted in by `follow`. `kept_from(her)`: the men her orders keep from her; `kept_away(him)`:
        the people his orders keep him from."""
        if alert.kind in UNGROUPED or (alert.subject_id is None and alert.protected_person_id is None):
            return None
        found = self._candidate(alert, now, kept_from, kept_away)
        if found is not None:
            if found.subject_id is None and alert.subject_id is not None:
                found = replace(found, subject_id=alert.subject_id)  # her incident is now his too
            if found.protected_person_id is None and alert.protected_person_id is not None:
                found = replace(found, protected_person_id=alert.protected_person_id)
            self._put(found)
            return found.id
        # Her alone: the incident names no subject until his alert joins it.
        incident = Incident(
            id=self._new_id(),
            subject_id=alert.subject_id,
            protected_person_id=alert.protected_person_id,
            kind=alert.kind,
            opened_at=now,
            escalated_at=now,
            updated_at=now,
            active_at=now,
        )
        self._put(incident)
        return incident.id

    def follow(self, change: AlertChange) -> None:
        """Count an alert change into its incident: its gravity, its escalation time, whether it is
        active, and its closing once every alert is closed by people."""
        alert = change.alert
        incident = self._open.get(alert.incident_id or "")
        if incident is None:
            return  # no incident (the control centre's own alarm, or an alert from before incidents)
        now = change.at
        kind, escalated_at = incident.kind, incident.escalated_at
        if change.change in (Change.OPENED, Change.ESCALATED):
            # as grave as the incident (by severity: a tamper in a violation is news for the queue)
            if _WEIGHT[alert.severity] >= _WEIGHT[incident.severity]:
                escalated_at = now
            if weight(alert.kind) > weight(incident.kind):
                kind = alert.kind
        members, active, holding = set(incident.alerts), set(incident.active), set(incident.holding)
        active_at = incident.active_at
        was_active = alert.id in active
        holds = alert.kind not in LINGERING
        if alert.state in TERMINAL:
            members.discard(alert.id)
            active.discard(alert.id)
            holding.discard(alert.id)
        else:
            members.add(alert.id)
            if alert.active:
                active.add(alert.id)
                if holds:
                    holding.add(alert.id)
            else:
                active.discard(alert.id)
                holding.discard(alert.id)
        if holds and (alert.active or was_active):
            active_at = max(active_at, now)  # active until now, or cleared now
        updated = replace(
            incident,
            kind=kind,
            escalated_at=escalated_at,
            updated_at=max(incident.updated_at, now),
            active_at=active_at,
            alerts=frozenset(members),
            active=frozenset(active),
            holding=frozenset(holding),
        )
        if not members:
            updated = replace(updated, open=False, closed_at=now)
        self._put(updated)

    def changed(self) -> list[Incident]:
        """The incidents changed since the last call (closed ones included, once), oldest id first."""
        taken = sorted(self._changed.values(), key=lambda i: (i.opened_at, i.id))
        self._changed = {}
        return taken

    def _put(self, incident: Incident) -> None:
        self._index(incident)
        self._changed[incident.id] = incident

    def _index(self, incident: Incident) -> None:
        old = self._open.pop(incident.id, None)
        if old is not None:
            self._of_subject.get(old.subject_id or "", set()).discard(old.id)
            self._of_protected.get(old.protected_person_id or "", set()).discard(old.id)
        if incident.open:
            self._open[incident.id] = incident
            if incident.subject_id is not None:
                self._of_subject.setdefault(incident.subject_id, set()).add(incident.id)
            if incident.protected_person_id is not None:
                self._of_protected.setdefault(incident.protected_person_id, set()).add(incident.id)

    def _named(self, index: dict[str, set[str]], person: str) -> list[Incident]:
        return [self._open[i] for i in index.get(person, ())]

    def _candidate(
        self,
        alert: Alert,
        now: datetime,
        kept_from: Callable[[str], Iterable[str]],
        kept_away: Callable[[str], Iterable[str]],
    ) -> Incident | None:
        """The open incident of the same danger that can still be joined: if several qualify, the
        gravest (her SOS joins the violation at her door, not a warning another man opened since),
        then the latest escalated."""
        her = alert.protected_person_id
        found: list[Incident] = []
        if alert.subject_id is not None:
            found = self._named(self._of_subject, alert.subject_id)
        elif her is not None:
            found = [i for s in sorted(set(kept_from(her))) for i in self._named(self._of_subject, s)]
        found = [i for i in found if i.joinable(now, self.window_s)]
        if not found:
            # her own incident (started by her alone): his alert joins it, and so does her next one;
            # an alert of his alone joins that of a woman his orders keep him from
            women = [her] if her is not None else sorted(set(kept_away(alert.subject_id or "")))
            found = [
                i
                for woman in women
                for i in self._named(self._of_protected, woman)
                if i.subject_id is None and i.joinable(now, self.window_s)
            ]
        return max(found, key=lambda i: (weight(i.kind), i.escalated_at, i.id), default=None)
