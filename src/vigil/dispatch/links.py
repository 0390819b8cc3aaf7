"""Live-track links: the field terminal's URL for one incident, issued to one named holder.

Since incidents (domain/incidents.py) a link is issued for an incident: one per holder per incident,
whichever of its alerts the holder was sent to or pushed, and it opens that incident (its alerts and
parties) and nothing else. It still names the alert it was issued for. Links issued before incidents
(`incident_id` null) open their one alert, as they always did.

A holder is a field unit sent to the incident (its user account, through an assignment) or a dispatch
target the incident was pushed to. Each link is a row of its own (`incident_links`): an id, the holder,
who issued it, when it expires, and when and why it was revoked. The token names its link
(`inc_<link id>_<secret>`) so every use is audited under that holder; only its SHA-256 is stored, so
the URL can be handed out once (at assignment, in a push) and never read back from the database.

A link dies when its holder is taken off (the assignment ends), when an operator revokes it, when it
expires, and at the latest GRACE after the incident closes: units still on their way can finish.
Every write here runs inside the single writer's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, or_, select, update

from vigil.store import tables as t

GRACE = timedelta(minutes=15)
PREFIX = "inc_"


class Holder(StrEnum):
    UNIT = "unit"  # a field officer's account, sent to the incident by an assignment
    TARGET = "target"  # a dispatch system the incident was pushed to


@dataclass(frozen=True, slots=True)
class Link:
    """One link as stored: what it is for and whether it still works (never its token)."""

    id: str
    alert_id: str
    holder_kind: Holder
    holder_id: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    incident_id: str | None = None  # None: a link from before incidents, for its alert alone

    @property
    def opens(self) -> str:
        """The id in its URL: its incident, or (an older link) its alert."""
        return self.incident_id or self.alert_id

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    @property
    def actor(self) -> str:
        """Who uses it, as the audit trail and the alert's timeline name them."""
        return self.holder_id if self.holder_kind is Holder.UNIT else f"dispatch:{self.holder_id}"

    def json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident": self.incident_id,
            "alert": self.alert_id,
            "holder_kind": self.holder_kind.value,
            "holder": self.holder_id,
            "issued_by": self.issued_by,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_reason": self.revoked_reason,
            "live": self.live(now),
        }


@dataclass(frozen=True, slots=True)
class Issued:
    """A link just issued: the only moment its token exists outside the holder's hands."""

    link: Link
    token: str

    def url(self, base: str) -> str:
        return url(base, self.link.opens, self.token)

    def json(self, base: str, now: datetime) -> dict[str, Any]:
        return {**self.link.json(now), "url": self.url(base)}


def url(base: str, opens: str, token: str) -> str:
    return f"{base.rstrip('/')}/field/?incident={quote(opens, safe='')}&token={token}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(link id, token): the id is safe to show and log; the secret after it is 192 random bits."""
    link_id = secrets.token_hex(8)
    return link_id, f"{PREFIX}{link_id}_{secrets.token_urlsafe(24)}"


def issue(
    conn: Connection,
    alert_id: str,
    holder_kind: Holder,
    holder_id: str,
    issued_by: str,
    now: datetime,
    lifetime: timedelta,
    incident_id: str | None = None,
) -> Issued:
    link_id, token = new_token()
    link = Link(
        link_id, alert_id, holder_kind, holder_id, issued_by, now, now + lifetime, incident_id=incident_id
    )
    conn.execute(
        t.incident_links.insert(),  # parameters apart: one compiled statement for every link
        {
            "id": link.id,
            "alert_id": alert_id,
            "incident_id": incident_id,
            "holder_kind": holder_kind.value,
            "holder_id": holder_id,
            "token_hash": digest(token),
            "issued_by": issued_by,
            "issued_at": now,
            "expires_at": link.expires_at,
        },
    )
    return Issued(link, token)


def revoke(
    conn: Connection,
    alert_id: str,
    now: datetime,
    reason: str,
    *,
    holder: tuple[Holder, str] | None = None,
    link_id: str | None = None,
) -> int:
    """Revoke the live links of one holder for this alert (and for its incident, if it has one), or
    one such link by id; returns how many."""
    c = t.incident_links.c
    incident_id = incident_of(conn, alert_id)
    mine = (
        c.alert_id == alert_id
        if incident_id is None
        else or_(c.alert_id == alert_id, c.incident_id == incident_id)
    )
    query = update(t.incident_links).where(mine, c.revoked_at.is_(None))
    if holder is not None:
        query = query.where(c.holder_kind == holder[0].value, c.holder_id == holder[1])
    if link_id is not None:
        query = query.where(c.id == link_id)
    return int(conn.execute(query.values(revoked_at=now, revoked_reason=reason[:200])).rowcount)


def end_with_incidents(
    conn: Connection, alert_ids: Iterable[str], now: datetime, incident_ids: Iterable[str] = ()
) -> None:
    """Alerts and incidents that have just closed: their links expire GRACE from now, and never later
    (a note on a closed alert must not lengthen the grace). A link issued for an incident lives as
    long as its incident, not as long as the alert it was issued for."""
    c = t.incident_links.c
    end = now + GRACE
    live = (c.revoked_at.is_(None), c.expires_at > end)
    ids = sorted(set(alert_ids))
    if ids:
        conn.execute(
            update(t.incident_links)
            .where(c.alert_id.in_(ids), c.incident_id.is_(None), *live)
            .values(expires_at=end)
        )
    closed = sorted(set(incident_ids))
    if closed:
        conn.execute(update(t.incident_links).where(c.incident_id.in_(closed), *live).values(expires_at=end))


def find(conn: Connection, token: str) -> Link | None:
    """The link a token stands for, or None (malformed, unknown, or a forgery naming a real id)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = conn.execute(select(t.incident_links).where(t.incident_links.c.token_hash == digest(token))).first()
    if row is None or not token.startswith(f"{PREFIX}{row.id}_"):
        return None
    return _link(row)


def holder_on_duty(conn: Connection, link: Link) -> bool:
    """Whether a unit's link still stands for a live assignment: the unit is still sent to the
    incident, and its account is a field officer's and not disabled. Taking a unit off revokes its
    links in the same write; this is the check that holds even for a path that forgets to."""
    if link.holder_kind is not Holder.UNIT:
        return True
    a, u = t.assignments.c, t.users.c
    if link.incident_id is None:
        sent_to = a.alert_id == link.alert_id
    else:  # sent to any alert of its incident
        sent_to = a.alert_id.in_(select(t.alerts.c.id).where(t.alerts.c.incident_id == link.incident_id))
    row = conn.execute(
        select(u.role, u.disabled)
        .select_from(t.assignments.join(t.users, u.id == a.user_id))
        .where(sent_to, a.user_id == link.holder_id)
        .limit(1)
    ).first()
    return row is not None and row.role == "field_officer" and not row.disabled


def incident_of(conn: Connection, alert_id: str) -> str | None:
    found: str | None = conn.scalar(select(t.alerts.c.incident_id).where(t.alerts.c.id == alert_id))
    return found


def of_alert(conn: Connection, alert_id: str) -> list[Link]:
    """The links that open this alert: issued for it, or for its incident."""
    c = t.incident_links.c
    incident_id = incident_of(conn, alert_id)
    mine = (
        c.alert_id == alert_id
        if incident_id is None
        else or_(c.alert_id == alert_id, c.incident_id == incident_id)
    )
    query = select(t.incident_links).where(mine).order_by(c.issued_at, c.id)
    return [_link(row) for row in conn.execute(query)]


def of_incident(conn: Connection, incident_id: str) -> list[Link]:
    c = t.incident_links.c
    query = select(t.incident_links).where(c.incident_id == incident_id).order_by(c.issued_at, c.id)
    return [_link(row) for row in conn.execute(query)]


def _link(row: Any) -> Link:
    return Link(
        id=row.id,
        alert_id=row.alert_id,
        holder_kind=Holder(row.holder_kind),
        holder_id=row.holder_id,
        issued_by=row.issued_by,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        incident_id=row.incident_id,
    )
