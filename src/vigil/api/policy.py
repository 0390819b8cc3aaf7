"""Who may see and do what: the one place the access rules live, read by every router and the stream.

Two layers. The role table (`ALLOWED`) says which actions a role may take at all. The scope narrows
them to records: a probation officer to the subjects of their caseload, a police dispatcher to the
alerts of their jurisdictions and those alerts' parties while open, a field officer to the incidents
they are assigned to (open, and for a short grace after), a protected person to herself. Operators
see everything monitored. A scope never widens what the role allows.

People are always named with their kind (`PersonRef`): a subject is reached as a subject and a
protected person as a protected person, so an id shared by both (possible only in a database made
before ids were one namespace) never lets one stand for the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from vigil.domain.alerts import TERMINAL, Alert, parties
from vigil.domain.model import PersonKind, PersonRef, Role, protected_ref, subject_ref
from vigil.store.accounts import Principal
from vigil.store.reader import AlertFilter, Reader


class Action(StrEnum):
    REGISTRY_READ = "registry.read"
    REGISTRY_WRITE = "registry.write"
    POSITIONS_READ = "positions.read"
    ALERTS_READ = "alerts.read"
    ALERTS_MOVE = "alerts.move"
    INCIDENTS_ASSIGN = "incidents.assign"  # send a field officer's account to an incident
    INCIDENTS_CLAIM = "incidents.claim"  # say "I am working this incident", take it over, release it
    NOTES_WRITE = "notes.write"  # a note on a subject or protected person, outside any alert
    HANDOVER = "handover"  # the shift handover: open incidents, what changed, notes written
    STREAM = "stream"
    STATS = "stats"  # the control centre's live figures: counts over everything monitored
    DEVICE_POST = "device.post"
    USERS_MANAGE = "users.manage"
    SELF = "self"  # a protected person's own status, position and SOS (the victim app)
    AUDIT_READ = "audit.read"
    TARGETS_READ = "targets.read"
    TARGETS_MANAGE = "targets.manage"
    # --- retention and evidence ---
    EVIDENCE_READ = "evidence.read"  # a breach report for a court (JSON/PDF with a content hash)
    EVIDENCE_VERIFY = "evidence.verify"  # whether Vigil issued an evidence file (by its bytes or hash)
    LEGAL_HOLD = "legal_hold"  # place, list and release legal holds that keep history from the purge
    # --- taking over an account or a device: whoever holds the new code or token speaks for her ---
    ACCOUNT_REACTIVATE = "account.reactivate"  # a new activation code for an account that exists
    DEVICE_ROTATE = "device.rotate"  # a new credential for a device (its old ones stop working)
    # --- commands to a device: locate, vibrate or sound it, change how often it reports ---
    DEVICE_COMMAND = "device.command"
    # --- operating it: /metrics (counts and states, no personal data; also a scrape token) ---
    METRICS = "metrics"
    # --- police cases and the courts' decisions (issue 18, api/cases.py) ---
    CASES_WRITE = "cases.write"  # record a stalking or domestic-violence case
    CASES_READ = "cases.read"  # a case: its station's investigators, the matched subject's officer
    CASES_DECIDE = "cases.decide"  # record a court's decision on a case's measures
    CASES_REVIEW = "cases.review"  # confirm or dismiss a near match (never sent to probation alone)
    CASES_CLOSE = "cases.close"  # close a case with its outcome, or reopen it
    ABSENCES_APPROVE = "absences.approve"  # let a subject be away from a curfew or zone for a window
    CASELOAD = "caseload.read"  # a probation officer's caseload and load (api/caseload.py)
    REMINDERS = "reminders.read"  # one's own reminders of orders about to end (api/reminders.py)
    # --- maps: an address to a position and back, through the deployment's geocoder ---
    GEOCODE = "geocode"


_WATCHERS = {Role.OPERATOR, Role.PROBATION_OFFICER, Role.POLICE_DISPATCHER}

ALLOWED: dict[Action, frozenset[Role]] = {
    # Admins run the system, not cases: users, roles, targets and settings, but no one's records or
    # positions (a zone is a victim's home). An admin who must see them is given an operator account.
    Action.REGISTRY_READ: frozenset(_WATCHERS),
    Action.REGISTRY_WRITE: frozenset({Role.OPERATOR, Role.PROBATION_OFFICER}),
    Action.POSITIONS_READ: frozenset(_WATCHERS | {Role.FIELD_OFFICER}),
    Action.ALERTS_READ: frozenset(_WATCHERS | {Role.FIELD_OFFICER}),
    # Field officers report on their incident through /v1/incidents (its link), not by steps here.
    Action.ALERTS_MOVE: frozenset(_WATCHERS),
    Action.INCIDENTS_ASSIGN: frozenset({Role.OPERATOR, Role.POLICE_DISPATCHER}),
    # Those who work incidents in a control room (operators, and dispatchers in their jurisdictions);
    # probation officers follow their caseload's alerts but do not run the response to them.
    Action.INCIDENTS_CLAIM: frozenset({Role.OPERATOR, Role.POLICE_DISPATCHER}),
    # Those who follow people day to day write notes on them (read like the person's record).
    Action.NOTES_WRITE: frozenset({Role.OPERATOR, Role.PROBATION_OFFICER}),
    # The control centre's shift handover: everything monitored, like the live figures.
    Action.HANDOVER: frozenset({Role.OPERATOR}),
    Action.STREAM: frozenset(_WATCHERS | {Role.FIELD_OFFICER}),
    Action.STATS: frozenset({Role.OPERATOR}),
    Action.DEVICE_POST: frozenset({Role.DEVICE}),
    Action.USERS_MANAGE: frozenset({Role.ADMIN}),
    Action.SELF: frozenset({Role.PROTECTED_PERSON}),
    Action.AUDIT_READ: frozenset({Role.AUDITOR}),
    # Dispatch targets hold secrets and decide where alerts go: admins set them, operators see them.
    Action.TARGETS_READ: frozenset({Role.ADMIN, Role.OPERATOR}),
    Action.TARGETS_MANAGE: frozenset({Role.ADMIN}),
    # A breach report holds both parties' tracks: those who follow and supervise cases, auditors, and
    # courts and prosecutors (every export with a purpose, in the trail); not admins (they run the
    # system, not cases), dispatchers (they see incidents) or field officers.
    Action.EVIDENCE_READ: frozenset({Role.OPERATOR, Role.PROBATION_OFFICER, Role.AUDITOR, Role.COURT}),
    # Checking a file someone holds says only whether Vigil issued it, when and for whom: those who
    # read evidence, and the police investigators who take a victim's pack with her petition.
    Action.EVIDENCE_VERIFY: frozenset(
        {Role.OPERATOR, Role.PROBATION_OFFICER, Role.AUDITOR, Role.POLICE_INVESTIGATOR, Role.COURT}
    ),
    # Holds are records management: operators place them on a request, auditors oversee them, admins
    # run retention. A hold shows whose history is kept and why, not the history itself.
    Action.LEGAL_HOLD: frozenset({Role.OPERATOR, Role.ADMIN, Role.AUDITOR}),
    # A new code for an existing account lets its bearer set her password; a new device credential
    # lets its bearer post positions as that device. Operators only, with a reason, in the trail.
    Action.ACCOUNT_REACTIVATE: frozenset({Role.OPERATOR}),
    Action.DEVICE_ROTATE: frozenset({Role.OPERATOR}),
    # Those who follow a case may ask his monitor for a fix now, or make it vibrate or sound (he must
    # call probation); a probation officer for the devices of their caseload only.
    Action.DEVICE_COMMAND: frozenset({Role.OPERATOR, Role.PROBATION_OFFICER}),
    # How the system runs (queues, listeners, alert counts by kind): those who run it.
    Action.METRICS: frozenset({Role.ADMIN}),
    # Cases are recorded by the police who take the reports; each is read by its station's
    # investigators and, once it names a subject, by his probation officer; operators see all, to
    # review near matches; auditors oversee. A court's decision is recorded by either agency.
    Action.CASES_WRITE: frozenset({Role.POLICE_INVESTIGATOR}),
    Action.CASES_READ: frozenset(
        {Role.POLICE_INVESTIGATOR, Role.PROBATION_OFFICER, Role.OPERATOR, Role.AUDITOR}
    ),
    Action.CASES_DECIDE: frozenset({Role.POLICE_INVESTIGATOR, Role.PROBATION_OFFICER, Role.OPERATOR}),
    Action.CASES_REVIEW: frozenset({Role.OPERATOR}),
    # A case is the police's: its station's investigators close and reopen it, operators too (a
    # station gone quiet on a case matched long ago). Probation does not end the police's work.
    Action.CASES_CLOSE: frozenset({Role.POLICE_INVESTIGATOR, Role.OPERATOR}),
    # His officer approves an absence for the subjects of their caseload; operators, who run the
    # night, may too. Read like his record (api/absences.py), so the police see it as well.
    Action.ABSENCES_APPROVE: frozenset({Role.PROBATION_OFFICER, Role.OPERATOR}),
    # A probation officer's own caseload (subjects, cases, orders, alerts, load); operators any
    # officer's, and every officer's load, to share the work out.
    Action.CASELOAD: frozenset({Role.OPERATOR, Role.PROBATION_OFFICER}),
    # Those reminded before an order ends: the subject's probation officer and the case's police.
    # Each reads only the reminders sent to their own account.
    Action.REMINDERS: frozenset({Role.PROBATION_OFFICER, Role.POLICE_INVESTIGATOR}),
    # Those who enter zones (a victim's home, his workplace) by address: the registry's writers, and
    # the police investigators who record a court's 3-2 with its zones (api/cases.py). What they ask
    # leaves for the geocoder; it is in the trail (the query), like every call.
    Action.GEOCODE: frozenset({Role.OPERATOR, Role.PROBATION_OFFICER, Role.POLICE_INVESTIGATOR}),
}

# Actions on system settings, the trail or the caller's own device: there are no records to scope,
# so no scope is looked up for them.
RECORDLESS = frozenset(
    {Action.DEVICE_POST, Action.USERS_MANAGE, Action.AUDIT_READ, Action.TARGETS_READ, Action.TARGETS_MANAGE,
     Action.LEGAL_HOLD, Action.STATS, Action.METRICS, Action.GEOCODE, Action.EVIDENCE_VERIFY,
     Action.REMINDERS}
)  # fmt: skip

# Roles whose scope is every record their role may touch (a court: evidence only, by its role).
UNSCOPED = frozenset({Role.OPERATOR, Role.AUDITOR, Role.COURT})

GRACE = timedelta(minutes=15)  # a field officer still on the way when the incident closes can finish


def allows(role: Role, action: Action) -> bool:
    return role in ALLOWED[action]


@dataclass(frozen=True, slots=True)
class Scope:
    """The records one caller may see, for one request (or one stream connection)."""

    everything: bool = False
    caseload: frozenset[str] = frozenset()  # a probation officer's subjects (ids of subjects)
    areas: tuple[str, ...] = ()  # a dispatcher's municipality code prefixes
    incidents: frozenset[str] = frozenset()  # a field officer's assigned alerts, open or in grace
    # The alerts that make people visible (a dispatcher's open alerts, a field officer's incidents),
    # with their parties; the stream follows them as they open and close.
    followed: Mapping[str, frozenset[PersonRef]] = field(default_factory=dict)
    own: frozenset[PersonRef] = frozenset()  # people visible in their own right (caseload, herself)

    @property
    def by_alerts(self) -> bool:
        """Whether people are visible only as parties of alerts (dispatchers and field officers)."""
        return bool(self.areas) or bool(self.incidents)

    @property
    def people(self) -> frozenset[PersonRef]:
        return self.own.union(*self.followed.values())

    def ids(self, kind: PersonKind) -> frozenset[str]:
        """The ids of the people of one kind the caller may see (to narrow a query on that kind's
        column)."""
        return frozenset(p.id for p in self.people if p.kind is kind)

    def sees(self, kind: PersonKind, person_id: str | None) -> bool:
        return self.everything or (person_id is not None and PersonRef(kind, person_id) in self.people)

    def sees_alert(self, alert: Alert, codes: Iterable[str]) -> bool:
        if self.everything:
            return True
        if alert.subject_id is not None and alert.subject_id in self.caseload:
            return True
        if alert.id in self.incidents:
            return True
        return any(code.startswith(prefix) for code in codes for prefix in self.areas)

    def sees_order(self, subject_id: str | None, protected_id: str | None) -> bool:
        subject, protected = PersonKind.SUBJECT, PersonKind.PROTECTED_PERSON
        return self.sees(subject, subject_id) or self.sees(protected, protected_id)

    def alert_filter(self) -> AlertFilter | None:
        """The same rule as `sees_alert`, for the database (None: no narrowing)."""
        if self.everything:
            return None
        return AlertFilter(subjects=self.caseload, ids=self.incidents, prefixes=self.areas)


def scope_of(principal: Principal, reader: Reader, now: datetime) -> Scope:
    """What this caller may see now (read from the registry; a few small queries for scoped roles)."""
    role = principal.role
    if role in UNSCOPED:
        return Scope(everything=True)
    if role is Role.PROBATION_OFFICER:
        caseload = reader.caseload(principal.id)
        return Scope(caseload=caseload, own=frozenset(subject_ref(s) for s in caseload))
    if role is Role.POLICE_DISPATCHER:
        if not principal.areas:
            return Scope()
        within = AlertFilter(prefixes=principal.areas)
        alerts = reader.alerts(open_only=True, subject=None, limit=10_000, within=within)
        return Scope(areas=principal.areas, followed={a.id: parties(a, reader.subjects_of) for a in alerts})
    if role is Role.FIELD_OFFICER:
        live = [a for a in reader.assigned(principal.id) if in_time(a, now)]
        return Scope(
            incidents=frozenset(a.id for a in live),
            followed={a.id: parties(a, reader.subjects_of) for a in live},
        )
    if role is Role.PROTECTED_PERSON and principal.person_id is not None:
        return Scope(own=frozenset({protected_ref(principal.person_id)}))
    return Scope()


def in_time(alert: Alert, now: datetime) -> bool:
    """A field officer's incident is theirs while open and for GRACE after it closes."""
    return alert.state not in TERMINAL or now - alert.updated_at <= GRACE


# --- one record, named in a request's path -------------------------------------------------------


class Record(StrEnum):
    """The kind of record a path parameter names, for the per-record check in `auth.require`."""

    ALERT = "alert"
    INCIDENT = "incident"  # an incident, or (an old link's path) an alert: seen if one alert is
    SUBJECT = "subject"
    PERSON = "protected_person"  # a protected person
    ANYONE = "person"  # a person of either kind (a track): the kind is looked up
    DEVICE = "device"
    ORDER = "order"

    @property
    def param(self) -> str:
        """The path parameter that names it."""
        return _PARAMS[self]


_PARAMS = {
    Record.ALERT: "alert_id",
    Record.INCIDENT: "incident_id",
    Record.SUBJECT: "subject_id",
    Record.PERSON: "person_id",
    Record.ANYONE: "person_id",
    Record.DEVICE: "device_id",
    Record.ORDER: "order_id",
}
_KINDS = {Record.SUBJECT: PersonKind.SUBJECT, Record.PERSON: PersonKind.PROTECTED_PERSON}


def reaches(scope: Scope, record: Record, ident: str, reader: Reader) -> bool:
    """Whether the caller may touch the record `ident` names. An id naming nothing (of that kind)
    passes: the handler then answers 404, or creates the record (a probation officer's new subject),
    or refuses an id the other kind already uses (409)."""
    if scope.everything:
        return True
    if record is Record.ALERT:
        alert = reader.alert(ident)
        if alert is None:
            return True
        return scope.sees_alert(alert, reader.alert_codes(ident))
    if record is Record.INCIDENT:
        if reader.incident(ident) is None:
            return reaches(scope, Record.ALERT, ident, reader)  # an alert's id names its incident
        # Scoped exactly like alerts: an incident is seen by whoever sees one of its alerts.
        return any(scope.sees_alert(a, reader.alert_codes(a.id)) for a in reader.incident_alerts([ident]))
    if record is Record.ORDER:
        pair = reader.order_parties(ident)
        return pair is None or scope.sees_order(*pair)
    if record is Record.DEVICE:
        holder = reader.device_holder(ident)
        if holder is None or holder[0] is None:
            return True  # no such device, or one in stock: it concerns no one
        person_id, kind = holder
        # A bound device whose kind was never recorded concerns someone no scope can name.
        return kind in set(PersonKind) and scope.sees(PersonKind(kind), person_id)
    if record is Record.ANYONE:
        # Every person the id names must be within scope: in an old database one id may name a
        # subject and a protected person, and seeing one of them is no licence for the other.
        return all(scope.sees(kind, ident) for kind in reader.person_kinds(ident))
    kind = _KINDS[record]
    return not reader.is_person(PersonRef(kind, ident)) or scope.sees(kind, ident)


def may_protect(scope: Scope, principal: Principal, person_id: str, reader: Reader) -> bool:
    """Whether the caller may name this protected person in an order. An order sends her position
    to whoever follows its subject (inside alert facts), so naming her is reaching her. Those who
    see her may; a probation officer may name her only while she is tied to his caseload already (in
    an order, ended or not, of one of his subjects), or when he registered her himself and she is in
    no one's order yet (a new case he is setting up). Anyone else must ask an operator. A person
    who does not exist passes: the write then names the field."""
    if scope.sees(PersonKind.PROTECTED_PERSON, person_id):
        return True
    if not reader.is_person(protected_ref(person_id)):
        return True
    if principal.role is not Role.PROBATION_OFFICER:
        return False
    registered_by, subjects = reader.protection(person_id)
    if subjects:
        return bool(subjects & scope.caseload)
    return registered_by == principal.id
