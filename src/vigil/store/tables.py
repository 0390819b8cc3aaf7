"""The schema, in one place. Alembic migrations are written from it; nothing else creates tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)


class UTCTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 64  # identifiers are the agencies' own references, or generated ones


def _stamps() -> list[Column[Any]]:
    return [
        Column("created_at", UTCTime(), nullable=False),
        Column("updated_at", UTCTime(), nullable=False),
    ]


subjects = Table(
    "subjects",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("legal_basis", String(40), nullable=False),
    Column("case_reference", String(200), nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    # The user (a probation officer) whose caseload he is: only they, and operators, follow him.
    Column("probation_officer", String(ID), nullable=True, index=True),
    # His profile for the police sent to find him (issue 17): what he looks like, what he drives,
    # where he lives and works. Free text, checked for length (and the plate's shape) at the edge.
    Column("description", Text, nullable=False, default="", server_default=""),
    Column("vehicle_plate", String(20), nullable=False, default="", server_default=""),
    Column("vehicle", String(200), nullable=False, default="", server_default=""),  # make, model, colour
    Column("home_address", String(300), nullable=False, default="", server_default=""),
    Column("work_address", String(300), nullable=False, default="", server_default=""),
    # Identity for matching police cases to him (issue 18; domain/identity.py): the birth date
    # (YYYY-MM-DD) and the national identifier as a keyed hash only, never in clear.
    Column("birth_date", String(10), nullable=True),
    Column("national_id_hash", String(64), nullable=True, index=True),
    *_stamps(),
)

# A subject's photo (at most one), kept in the database so it is backed up, held and purged with
# his record and no file name from a request ever reaches a disk path. Its type is what its first
# bytes say (JPEG or PNG), never what the uploader claimed.
subject_photos = Table(
    "subject_photos",
    metadata,
    Column("subject_id", String(ID), primary_key=True),
    Column("media_type", String(20), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_by", String(ID), nullable=False),
    Column("uploaded_at", UTCTime(), nullable=False),
)

protected_persons = Table(
    "protected_persons",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("phone", String(40), nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    *_stamps(),
    # The account that first registered her: a probation officer may name in an order a protected
    # person he registered himself while she is in no one's order yet (api.policy.may_protect).
    Column("registered_by", String(ID), nullable=True),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("person_id", String(ID), nullable=True),
    Column("person_kind", String(20), nullable=True),
    Column("silence_limit_s", Float, nullable=True),
    Column("location_limit_s", Float, nullable=True),
    Column("report_interval_s", Float, nullable=True),
    # How the device talks (vigil.adapters.wire.Protocol; null: native) and the identifier its wire
    # carries (an IMEI; OwnTracks' user/device): unique per protocol, so a frame names one device.
    Column("protocol", String(20), nullable=True),
    Column("identifier", String(ID), nullable=True),
    # The network (CIDR) its reports must come from, when restricted (a private APN's range).
    Column("network", String(50), nullable=True),
    # Since when it is asked to report fast (pursuit mode, rules/pursuit.py); null: normal reporting.
    Column("pursuit_since", UTCTime(), nullable=True),
    Column("pursuit_reason", String(200), nullable=True),
    # The BLE tag a monitor broadcasts (her device reports seeing it: rules/ble.py); one per tag.
    Column("ble_tag", String(ID), nullable=True),
    # Since when it said it went offline (an OwnTracks last will), until it is heard again.
    Column("offline_since", UTCTime(), nullable=True),
    *_stamps(),
    Index("ix_devices_protocol_identifier", "protocol", "identifier", unique=True),
    Index("ix_devices_ble_tag", "ble_tag", unique=True),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("subject_id", String(ID), ForeignKey("subjects.id"), nullable=False, index=True),
    Column("protected_person_id", String(ID), ForeignKey("protected_persons.id"), nullable=False, index=True),
    Column("violation_distance_m", Float, nullable=False),
    Column("warning_distance_m", Float, nullable=False),
    Column("victim_view_m", Float, nullable=False, default=600.0),
    Column("legal_basis", String(40), nullable=False),
    Column("valid_from", UTCTime(), nullable=True),
    Column("valid_until", UTCTime(), nullable=True),
    Column("issuing_agency", String(200), nullable=False, default=""),
    Column("reference", String(200), nullable=False, default=""),
    Column("ended_at", UTCTime(), nullable=True),
    *_stamps(),
)

zones = Table(
    "zones",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("subject_id", String(ID), ForeignKey("subjects.id"), nullable=True, index=True),
    Column("order_id", String(ID), ForeignKey("orders.id"), nullable=True, index=True),
    Column("kind", String(20), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("shape", JSON, nullable=False),  # {"circle": {...}} or {"polygon": [[lon, lat], ...]}
    Column("schedule", JSON, nullable=True),  # {"timezone": ..., "windows": [...]}
    Column("removed_at", UTCTime(), nullable=True),
    *_stamps(),
)

_CLAIMED = text("device_time IS NOT NULL")  # the rows whose device's clock was not believed

fixes = Table(
    "fixes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(ID), nullable=False),
    Column("time", UTCTime(), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("accuracy_m", Float, nullable=True),
    Column("speed_mps", Float, nullable=True),
    Column("heading_deg", Float, nullable=True),
    Column("source", String(8), nullable=False),
    Column("battery_pct", Float, nullable=True),
    Column("received_at", UTCTime(), nullable=False),
    # Set only when the device's clock was not believed (clock_suspect): `time` is then the receipt
    # time the fix was judged at, and this the time the device claimed, kept as evidence.
    Column("device_time", UTCTime(), nullable=True),
    # Set when the position was judged physically implausible (why, in words): stored for the record,
    # but it moves no one, feeds no rule and no view. Null: trusted.
    Column("doubt", String(200), nullable=True),
    # Idempotency: a retried batch stores nothing twice. Also the history index (device, time).
    UniqueConstraint("device_id", "time", name="uq_fixes_device_time"),
    # A retried clock-suspect report is found by the time its device claimed. Partial: the rare
    # marked rows only, so the hot path's ordinary inserts do not pay for it.
    Index(
        "ix_fixes_device_claimed",
        "device_id",
        "device_time",
        sqlite_where=_CLAIMED,
        postgresql_where=_CLAIMED,
    ),
)

device_events = Table(
    "device_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(ID), nullable=False),
    Column("time", UTCTime(), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("accuracy_m", Float, nullable=True),
    Column("detail", JSON, nullable=False),
    Column("received_at", UTCTime(), nullable=False),
    # As for fixes: the device's own claimed time when its clock was not believed (clock_suspect).
    Column("device_time", UTCTime(), nullable=True),
    UniqueConstraint("device_id", "time", "kind", name="uq_device_events_device_time_kind"),
    Index(
        "ix_device_events_device_claimed",
        "device_id",
        "device_time",
        sqlite_where=_CLAIMED,
        postgresql_where=_CLAIMED,
    ),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("key", String(240), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("active", Boolean, nullable=False),
    Column("late", Boolean, nullable=False),
    Column("subject_id", String(ID), nullable=True, index=True),
    Column("protected_person_id", String(ID), nullable=True),
    Column("zone_id", String(ID), nullable=True),
    Column("order_id", String(ID), nullable=True),
    Column("opened_at", UTCTime(), nullable=False),
    Column("updated_at", UTCTime(), nullable=False),
    Column("facts", JSON, nullable=False),
    Column("incident_id", String(ID), nullable=True, index=True),
    # when it was last raised (opened or escalated); null only on rows from before 0013 that had none
    Column("escalated_at", UTCTime(), nullable=True),
)

# One danger, however many alerts it raised (the same pair or subject within a window): what the
# control centre queues, what dispatch gets one chain of pushes for, and what is read over the radio.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),  # short, for the radio
    Column("subject_id", String(ID), nullable=True, index=True),
    Column("protected_person_id", String(ID), nullable=True),
    Column("kind", String(30), nullable=False),  # the most severe alert kind it holds
    Column("severity", String(10), nullable=False),
    Column("open", Boolean, nullable=False, index=True),
    Column("opened_at", UTCTime(), nullable=False),
    Column("escalated_at", UTCTime(), nullable=False),  # the queue is ordered by this, newest first
    Column("updated_at", UTCTime(), nullable=False),
    Column("closed_at", UTCTime(), nullable=True),
    # The last moment one of its alerts was active: a new alert joins it within the window after.
    Column("active_at", UTCTime(), nullable=False),
)

alert_changes = Table(
    "alert_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(ID), ForeignKey("alerts.id"), nullable=False),
    Column("change", String(20), nullable=False),
    Column("at", UTCTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("state", String(20), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("facts", JSON, nullable=False),
    Index("ix_alert_changes_alert_at", "alert_id", "id"),
)

# Every municipality a party of an alert has stood in while it was open (from its facts), so police
# dispatchers see the alerts of their jurisdictions, also after the parties have moved on.
alert_areas = Table(
    "alert_areas",
    metadata,
    Column("alert_id", String(ID), ForeignKey("alerts.id"), primary_key=True),
    Column("code", String(10), primary_key=True, index=True),
)

# Field officers assigned to an incident: they see it, its parties and its stream while it is open
# and for a short grace after.
# Which operator is working an incident (one claim per incident): shown in the queue and the
# incident to everyone; moved by a take-over, removed by a release. A claim on a closed incident is
# over: it is not shown and the incident cannot be claimed (the row stays, it records who held it).
incident_claims = Table(
    "incident_claims",
    metadata,
    Column("incident_id", String(ID), ForeignKey("incidents.id"), primary_key=True),
    Column("user_id", String(ID), nullable=False),
    Column("role", String(30), nullable=False),
    Column("claimed_at", UTCTime(), nullable=False),
)

# Notes on a subject or protected person written outside any alert (an operator's or probation
# officer's), seen by whoever may see the person's record; the handover lists those of the shift.
person_notes = Table(
    "person_notes",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("person_kind", String(20), nullable=False),  # subject | protected_person
    Column("person_id", String(ID), nullable=False),
    Column("author", String(ID), nullable=False),
    Column("author_role", String(30), nullable=False),
    Column("at", UTCTime(), nullable=False),
    Column("text", String(4000), nullable=False),
    Index("ix_person_notes_person", "person_kind", "person_id", "at"),
    Index("ix_person_notes_at", "at"),
)

assignments = Table(
    "assignments",
    metadata,
    Column("alert_id", String(ID), ForeignKey("alerts.id"), primary_key=True),
    Column("user_id", String(ID), ForeignKey("users.id"), primary_key=True, index=True),
    Column("assigned_by", String(ID), nullable=False),
    Column("assigned_at", UTCTime(), nullable=False),
)

# Commands to devices, queued durably and delivered over the device's own channel when it is
# reachable: pending -> sent -> acknowledged | expired | failed. `ref` is the number the command goes
# out with (a GT06 server flag), per device, to match the device's reply.
device_commands = Table(
    "device_commands",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("device_id", String(ID), nullable=False, index=True),
    Column("ref", Integer, nullable=False),
    Column("type", String(20), nullable=False),  # vigil.domain.model.CommandKind
    Column("params", JSON, nullable=False),  # {"seconds": "15"}: text, as devices take it
    Column("status", String(20), nullable=False),
    Column("requested_by", String(200), nullable=False),  # a user id, or "vigil" for pursuit mode
    Column("reason", String(200), nullable=False, default=""),  # why (pursuit: which danger)
    Column("created_at", UTCTime(), nullable=False),
    Column("expires_at", UTCTime(), nullable=False),
    Column("sent_at", UTCTime(), nullable=True),
    Column("done_at", UTCTime(), nullable=True),  # acknowledged, expired or failed
    Column("reply", String(500), nullable=True),  # what the device answered, or why it failed
    UniqueConstraint("device_id", "ref", name="uq_device_commands_device_id"),
)

# Live-track links: each is issued to one named assignment (a field unit's account, or a dispatch
# target) for one incident, carries its own id, expires, and is revoked when the assignment ends or
# the incident closes (plus the grace). Only the token's SHA-256 is kept.
incident_links = Table(
    "incident_links",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("alert_id", String(ID), ForeignKey("alerts.id"), nullable=False, index=True),
    # Set for links issued since incidents: the link opens this incident (all its alerts), and the
    # alert above is the one it was issued for. Null on older links: they open their alert alone.
    Column("incident_id", String(ID), nullable=True, index=True),
    Column("holder_kind", String(10), nullable=False),  # unit | target
    Column("holder_id", String(ID), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("issued_by", String(200), nullable=False),
    Column("issued_at", UTCTime(), nullable=False),
    Column("expires_at", UTCTime(), nullable=False),
    Column("revoked_at", UTCTime(), nullable=True),
    Column("revoked_reason", String(200), nullable=True),
)

# What an account's holder must be told at her next call (an operator issued a new activation code
# for her account, her phone's credential was rotated): a victim learns that someone else may hold
# her account.
account_notices = Table(
    "account_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(ID), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("at", UTCTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", JSON, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(30), nullable=False),
    # A protected person's own account sees only her own status (the victim app).
    Column("person_id", String(ID), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("password_hash", String(200), nullable=True),  # argon2id; null: token access only
    Column("failed_logins", Integer, nullable=False, default=0, server_default="0"),
    Column("locked_until", UTCTime(), nullable=True),
    # A protected person's account is activated with a one-time code an operator hands her after
    # checking who she is; only its SHA-256 is kept, with its expiry.
    Column("activation_hash", String(64), nullable=True, unique=True),
    Column("activation_expires_at", UTCTime(), nullable=True),
    # A police dispatcher's jurisdictions: municipality code prefixes, comma-separated ("11" is all
    # of Seoul, "41360" one city). Empty: none.
    Column("areas", String(400), nullable=False, default="", server_default=""),
    # A staff member's work phone (a probation officer's, shown to the police in a subject's profile).
    Column("phone", String(40), nullable=False, default="", server_default=""),
    *_stamps(),
)

tokens = Table(
    "tokens",
    metadata,
    # Only a hash is kept: a leaked database does not leak working credentials.
    Column("hash", String(64), primary_key=True),
    Column("user_id", String(ID), ForeignKey("users.id"), nullable=True),
    Column("device_id", String(ID), nullable=True),  # a device token may post only for this device
    Column("role", String(30), nullable=False),
    Column("created_at", UTCTime(), nullable=False),
    Column("expires_at", UTCTime(), nullable=True),
    Column("revoked_at", UTCTime(), nullable=True),
    # api: long-lived (CLI, devices); access: short-lived, from a login; refresh: exchanges for a new
    # pair once. A login's tokens share a family: reusing a spent refresh token revokes the family.
    Column("kind", String(10), nullable=False, default="api", server_default="api"),
    Column("family", String(64), nullable=True, index=True),
)

# --- the dispatch push ----------------------------------------------------------------------------

dispatch_targets = Table(
    "dispatch_targets",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("secret", String(200), nullable=False),  # whsec_...; never returned by the API
    Column("agency", String(20), nullable=False),
    Column("codes", JSON, nullable=False),  # municipality code prefixes served; [] is everywhere
    Column("formats", JSON, nullable=False),
    Column("kinds", JSON, nullable=True),  # alert kinds taken; null is every kind
    Column("priority", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text, nullable=False, default=""),
    *_stamps(),
)

# The outbox: one row per push, written in the transaction that commits the alert change it reports.
dispatch_events = Table(
    "dispatch_events",
    metadata,
    Column("id", String(ID), primary_key=True),  # CloudEvent id = CAP identifier = webhook-id
    Column("alert_id", String(ID), ForeignKey("alerts.id"), nullable=False, index=True),
    Column("sequence", Integer, nullable=False),
    Column("push_type", String(20), nullable=False),
    Column("escalation", Integer, nullable=False),
    Column("needs_ack", Boolean, nullable=False),
    Column("created_at", UTCTime(), nullable=False),
    Column("facts", JSON, nullable=False),  # what this push said, to judge what is news next time
    # What the push is rendered from after the commit (dispatch/draft.py): the dossier as JSON and
    # each target's formats and link. None for pushes staged rendered, before this column existed.
    Column("draft", Text, nullable=True),
)

# One row per push and target: the delivery state the control centre sees per alert.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(ID), ForeignKey("dispatch_events.id"), nullable=False),
    Column("target_id", String(ID), ForeignKey("dispatch_targets.id"), nullable=False),
    Column("alert_id", String(ID), nullable=False, index=True),
    # Rendered after the commit from the event's draft, in the target's formats; '' until the first
    # attempt is recorded with what it sent. Every retry sends the same bytes under the same id.
    Column("body", Text, nullable=False),
    Column("state", String(20), nullable=False, index=True),  # pending | delivered | gone
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCTime(), nullable=False),
    Column("next_attempt_at", UTCTime(), nullable=False),
    Column("last_attempt_at", UTCTime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Column("delivered_at", UTCTime(), nullable=True),
    Column("alarmed_at", UTCTime(), nullable=True),  # operators told and the fallback channel used
    Column("acked_at", UTCTime(), nullable=True),  # the target reported back about the alert
    Column("escalated_at", UTCTime(), nullable=True),
    UniqueConstraint("event_id", "target_id", name="uq_deliveries_event_target"),
)

# What dispatch systems reported back; the key makes a retried callback harmless.
dispatch_callbacks = Table(
    "dispatch_callbacks",
    metadata,
    Column("target_id", String(ID), primary_key=True),
    Column("id", String(200), primary_key=True),  # the callback's webhook-id
    Column("alert_id", String(ID), nullable=False, index=True),
    Column("status", String(30), nullable=False),
    Column("received_at", UTCTime(), nullable=False),
    Column("body", JSON, nullable=False),
)

# Per-installation secrets the server makes itself on first use (store.accounts.instance_secret).
instance_secrets = Table(
    "instance_secrets",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", UTCTime(), nullable=False),
)

# --- retention: legal holds -----------------------------------------------------------------------

# A legal hold keeps a person's position history and device events in a window (or everyone's, when
# person_id is null) out of the retention purge until it is released. Released holds stay as a record.
legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("person_id", String(ID), nullable=True, index=True),  # a subject or protected person; null: all
    Column("held_from", UTCTime(), nullable=False),
    Column("held_until", UTCTime(), nullable=True),  # null: open-ended
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCTime(), nullable=False),
    Column("released_at", UTCTime(), nullable=True),
    Column("released_by", String(200), nullable=True),
)

# Every evidence file Vigil handed out (a breach report, her pack, a court's full version): the
# SHA-256 of its content (the canonical JSON evidence) and of the exact bytes of the file, so a court
# can ask whether Vigil issued a file, when and for whom (evidence/issued.py).
evidence_issued = Table(
    "evidence_issued",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("content_sha256", String(64), nullable=False, index=True),
    Column("file_sha256", String(64), nullable=False, index=True),
    Column("format", String(10), nullable=False),  # json | pdf
    Column("kind", String(20), nullable=False),  # alert | order | person | victim_pack
    Column("scope", JSON, nullable=False),
    Column("issued_to", String(200), nullable=False),  # the account (or cli:user) it was made for
    Column("issued_at", UTCTime(), nullable=False),
)

# --- the audit trail ------------------------------------------------------------------------------

# Append-only (triggers refuse UPDATE and DELETE) and chained: each entry's hash covers its content
# and the previous entry's hash, so an edited, removed or reordered entry breaks the chain at that
# point (`vigil audit verify`). Entries are written by the single writer, in order.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("role", String(30), nullable=False),
    Column("action", String(60), nullable=False, index=True),
    Column("target", String(240), nullable=False, index=True),
    Column("purpose", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", String(100), nullable=False),  # where the request came from (client address)
    Column("detail", JSON, nullable=False),
    # Unique: two entries claiming the same predecessor would fork the chain.
    Column("prev_hash", String(64), nullable=False, unique=True, index=True),
    Column("hash", String(64), nullable=False),
    # How `hash` was made: "sha256" (entries written before the chain was keyed) or "hmac-sha256"
    # (keyed with a secret that lives outside the database).
    Column("mac", String(20), nullable=False, default="sha256", server_default="sha256"),
)

# --- cluster mode ---------------------------------------------------------------------------------

# How far each partition of the durable log has been applied (cluster/worker.py): the stream
# sequence of the last report message whose effects are committed, written in the same transaction
# as those effects. A worker advances it only from the value it read when it took the partition, so
# a worker that lost the partition (and does not know yet) cannot commit: exactly-once effects.
cluster_offsets = Table(
    "cluster_offsets",
    metadata,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("worker", String(200), nullable=False),  # who applied it last (for operators)
    Column("updated_at", UTCTime(), nullable=False),
)


# A police stalking or domestic-violence case (issue 18, api/cases.py): recorded by an investigator of
# the station whose areas include `area`, matched to a monitored subject on identity (never on a
# name alone: domain/identity.py), and the court's decisions on the measures asked for.
cases = Table(
    "cases",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("kind", String(30), nullable=False),  # stalking | domestic_violence
    Column("area", String(10), nullable=False, index=True),  # the station's municipality code
    Column("station", String(200), nullable=False, default=""),
    Column("status", String(20), nullable=False, default="open"),  # open | closed
    Column("suspect_name", String(200), nullable=False),
    Column("suspect_birth_date", String(10), nullable=True),
    Column("suspect_national_id_hash", String(64), nullable=True),
    Column("suspect_subject_id", String(ID), nullable=True),  # as the investigator named him
    Column("victim_id", String(ID), nullable=True),  # a protected person, registered or made for her
    Column("victim_name", String(200), nullable=False, default=""),
    Column("victim_phone", String(40), nullable=False, default=""),
    Column("offences", JSON, nullable=False),
    Column("reports", JSON, nullable=False),
    Column("measures_requested", JSON, nullable=False),
    # none | matched | review (near matches wait for a person) | dismissed
    Column("match_state", String(20), nullable=False, default="none"),
    Column("matched_subject_id", String(ID), nullable=True, index=True),
    Column("match_basis", String(30), nullable=False, default=""),
    Column("matched_at", UTCTime(), nullable=True),
    Column("matched_by", String(ID), nullable=True),  # a reviewer who confirmed a near match
    Column("review", JSON, nullable=False),  # near candidates: [{subject_id, why}]
    Column("created_by", String(ID), nullable=False),
    *_stamps(),
    # Closed by its station's investigator or an operator (migration 0021): the outcome is one of
    # store.cases.OUTCOMES; the reason is free text. A reopening keeps its own last who, when, why
    # (the trail holds every close and reopen); reopening clears the closing.
    Column("closed_at", UTCTime(), nullable=True),
    Column("closed_by", String(ID), nullable=True),
    Column("close_outcome", String(30), nullable=True),
    Column("close_reason", String(2000), nullable=True),
    Column("reopened_at", UTCTime(), nullable=True),
    Column("reopened_by", String(ID), nullable=True),
    Column("reopen_reason", String(2000), nullable=True),
)

case_decisions = Table(
    "case_decisions",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("case_id", String(ID), ForeignKey("cases.id"), nullable=False, index=True),
    Column("measure", String(20), nullable=False),  # e.g. 3-2: electronic monitoring with her protected
    Column("granted", Boolean, nullable=False),
    Column("court", String(200), nullable=False, default=""),
    Column("court_reference", String(100), nullable=False),
    Column("decided_on", String(10), nullable=False),
    Column("valid_from", UTCTime(), nullable=False),
    Column("valid_until", UTCTime(), nullable=True),
    Column("order_id", String(ID), nullable=True),  # the order it made or changed
    Column("recorded_by", String(ID), nullable=False),
    Column("recorded_at", UTCTime(), nullable=False),
)


# An approved absence (issue 18): a probation officer lets a subject be away from a curfew or zone
# for a window (a night shift, a hospital stay), with a reason. A zone violation inside it is held
# back from dispatch and shown as covered; both agencies see the approval (api/absences.py).
absences = Table(
    "absences",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("subject_id", String(ID), ForeignKey("subjects.id"), nullable=False, index=True),
    Column("zone_id", String(ID), nullable=True),  # None: every zone and curfew of his
    Column("starts_at", UTCTime(), nullable=False),
    Column("ends_at", UTCTime(), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("approved_by", String(ID), nullable=False),
    Column("approved_at", UTCTime(), nullable=False),
    Column("revoked_at", UTCTime(), nullable=True),
    Column("revoked_by", String(ID), nullable=True),
)

# --- waking her: Web Push and text messages to the protected person (vigil/notify/) ---------------

# Her browsers' Web Push subscriptions (RFC 8030): the push service's endpoint (a capability URL,
# one per browser) and the keys her browser encrypts with (RFC 8291). Registered by her own account.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(ID), nullable=False, index=True),  # the protected person
    Column("endpoint", String(2000), nullable=False, unique=True),
    Column("p256dh", String(100), nullable=False),  # her browser's P-256 public key, base64url
    Column("auth", String(40), nullable=False),  # the 16-byte auth secret, base64url
    Column("created_at", UTCTime(), nullable=False),
    Column("updated_at", UTCTime(), nullable=False),
)

# One row per message to her (a push to one of her browsers, or a text to her phone), staged in the
# transaction of the alert change it is about and sent after the commit (notify/sender.py): the
# delivery record the control centre sees in the alert's detail.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(ID), nullable=False, index=True),
    Column("person_id", String(ID), nullable=False),
    Column("channel", String(10), nullable=False),  # push | sms
    Column("kind", String(20), nullable=False),  # near | danger | sos_answered | distance
    # push: the subscription's id (null once it is removed); sms: the number the text went to
    Column("subscription_id", Integer, nullable=True),
    Column("recipient", String(2000), nullable=False),  # push: the endpoint; sms: the phone number
    Column("payload", Text, nullable=False),  # push: the JSON before encryption; sms: the text
    Column("distance_m", Float, nullable=True),  # the distance a text told her (the next is 100 m on)
    Column("state", String(20), nullable=False, index=True),  # pending|delivered|gone|failed|expired
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCTime(), nullable=False),
    Column("next_attempt_at", UTCTime(), nullable=False),
    Column("last_attempt_at", UTCTime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Column("delivered_at", UTCTime(), nullable=True),
)

# Reminders sent to both agencies before an order ends (store/reminders.py), one per order, end and
# lead time: the key makes a second sweep (another process, a retry) a no-op, not a second message.
order_reminders = Table(
    "order_reminders",
    metadata,
    Column("order_id", String(ID), primary_key=True),
    Column("valid_until", UTCTime(), primary_key=True),  # the end it was about (an extension: new series)
    Column("lead_days", Integer, primary_key=True),  # 14, 3: the lead time this row marks as sent
    Column("sent_at", UTCTime(), nullable=False),
    Column("days_left", Integer, nullable=False),
    Column("sent_for", Integer, nullable=False),  # the lead time the message was sent for (the nearest)
    Column("recipients", JSON, nullable=False),  # the user ids told
)
