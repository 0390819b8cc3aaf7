"""Registry rows to domain objects: what the engine must know at start-up and after each change."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Connection, String, any_, func, literal, select, true

from vigil.domain.alerts import Alert
from vigil.domain.model import (
    Device,
    DeviceKind,
    Fix,
    FixSource,
    LegalBasis,
    Order,
    PersonKind,
    Zone,
    ZoneKind,
)
from vigil.store import tables as t
from vigil.store.codec import alert_from_row, schedule_from_stored, shape_from_json
from vigil.store.tables import UTCTime


def device_from_row(row: Any) -> Device:
    return Device(
        id=row.id,
        kind=DeviceKind(row.kind),
        person_id=row.person_id,
        person_kind=None if row.person_kind is None else PersonKind(row.person_kind),
        silence_limit_s=row.silence_limit_s,
        location_limit_s=row.location_limit_s,
        report_interval_s=row.report_interval_s,
        in_pursuit=row.pursuit_since is not None,
        ble_tag=row.ble_tag,
    )


def offline_devices(conn: Connection) -> set[str]:
    """Devices that said they went offline and were not heard since."""
    return set(conn.execute(select(t.devices.c.id).where(t.devices.c.offline_since.is_not(None))).scalars())


def zone_from_row(row: Any) -> Zone:
    return Zone(
        id=row.id,
        kind=ZoneKind(row.kind),
        shape=shape_from_json(row.shape),
        label=row.label,
        subject_id=row.subject_id,
        order_id=row.order_id,
        schedule=schedule_from_stored(row.schedule),
    )


def order_from_row(row: Any, zones: tuple[Zone, ...]) -> Order:
    return Order(
        id=row.id,
        subject_id=row.subject_id,
        protected_person_id=row.protected_person_id,
        violation_distance_m=row.violation_distance_m,
        warning_distance_m=row.warning_distance_m,
        legal_basis=LegalBasis(row.legal_basis),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        zones=zones,
        issuing_agency=row.issuing_agency,
        reference=row.reference,
        ended_at=row.ended_at,
    )


def load_devices(conn: Connection) -> list[Device]:
    return [device_from_row(r) for r in conn.execute(select(t.devices))]


def load_order(conn: Connection, order_id: str) -> Order | None:
    row = conn.execute(select(t.orders).where(t.orders.c.id == order_id)).first()
    if row is None:
        return None
    zone_rows = conn.execute(
        select(t.zones)
        .where(t.zones.c.order_id == order_id, t.zones.c.removed_at.is_(None))
        .order_by(t.zones.c.id)
    )
    return order_from_row(row, tuple(zone_from_row(z) for z in zone_rows))


def load_orders(conn: Connection) -> list[Order]:
    """Orders not ended, with their fixed zones."""
    by_order: dict[str, list[Zone]] = {}
    zone_rows = conn.execute(
        select(t.zones)
        .where(t.zones.c.order_id.is_not(None), t.zones.c.removed_at.is_(None))
        .order_by(t.zones.c.id)
    )
    for z in zone_rows:
        by_order.setdefault(z.order_id, []).append(zone_from_row(z))
    rows = conn.execute(select(t.orders).where(t.orders.c.ended_at.is_(None)))
    return [order_from_row(r, tuple(by_order.get(r.id, ()))) for r in rows]


def load_subject_zones(conn: Connection) -> list[Zone]:
    rows = conn.execute(select(t.zones).where(t.zones.c.order_id.is_(None), t.zones.c.removed_at.is_(None)))
    return [zone_from_row(r) for r in rows]


def load_open_alerts(conn: Connection) -> list[Alert]:
    rows = conn.execute(select(t.alerts).where(t.alerts.c.state.not_in(("resolved", "false_alarm"))))
    return [alert_from_row(r) for r in rows]


def fix_from_row(row: Any) -> Fix:
    return Fix(
        device_id=row.device_id,
        time=row.time,
        lat=row.lat,
        lon=row.lon,
        accuracy_m=row.accuracy_m,
        speed_mps=row.speed_mps,
        heading_deg=row.heading_deg,
        source=FixSource(row.source),
        battery_pct=row.battery_pct,
    )


SCOPED_CHUNK = 5_000  # device ids per statement when a load is limited to some devices


def recent_fixes(conn: Connection, per_device: int, devices: Collection[str] | None = None) -> Iterator[Fix]:
    """The newest `per_device` believed fixes of every device (window query; index on (device, time)).
    Doubted ones are kept for the record only: they must not become anyone's position on restart.

    `devices`: only these (a cluster worker's share). On PostgreSQL each device's newest rows are
    then read from the index alone (a lateral LIMIT per device), so a worker taking over partitions
    reads its devices' last fixes, not the window over every fix ever stored."""
    if devices is not None and conn.dialect.name == "postgresql":
        yield from _recent_fixes_of(conn, per_device, devices)
        return
    ranked = (
        select(
            t.fixes,
            func.row_number()
            .over(partition_by=t.fixes.c.device_id, order_by=t.fixes.c.time.desc())
            .label("rank"),
        )
        .where(t.fixes.c.doubt.is_(None))
        .subquery()
    )
    query = select(ranked).where(ranked.c.rank <= per_device)
    for row in conn.execute(query):
        if devices is None or row.device_id in devices:
            yield fix_from_row(row)


def _chunks(devices: Collection[str]) -> Iterator[list[str]]:
    """The ids in order, SCOPED_CHUNK to a statement."""
    ordered = sorted(devices)
    for start in range(0, len(ordered), SCOPED_CHUNK):
        yield ordered[start : start + SCOPED_CHUNK]


def _recent_fixes_of(conn: Connection, per_device: int, devices: Collection[str]) -> Iterator[Fix]:
    for ids in _chunks(devices):
        wanted = select(func.unnest(literal(ids, ARRAY(String))).label("id")).subquery("wanted")
        newest = (
            select(t.fixes)
            .where(t.fixes.c.device_id == wanted.c.id, t.fixes.c.doubt.is_(None))
            .order_by(t.fixes.c.time.desc())
            .limit(per_device)
            .lateral("newest")
        )
        for row in conn.execute(select(newest).select_from(wanted).join(newest, true())):
            yield fix_from_row(row)


def fixes_between(conn: Connection, device_ids: Sequence[str], since: datetime, until: datetime) -> list[Fix]:
    """The believed fixes of these devices measured from `since` to `until` (index on (device, time)):
    what a late fix is judged against when memory no longer holds that time."""
    if not device_ids:
        return []
    query = (
        select(t.fixes)
        .where(t.fixes.c.device_id.in_(device_ids))
        .where(t.fixes.c.time >= since, t.fixes.c.time <= until)
        .where(t.fixes.c.doubt.is_(None))
        .order_by(t.fixes.c.time)
    )
    return [fix_from_row(row) for row in conn.execute(query)]


def last_heard(conn: Connection, devices: Collection[str] | None = None) -> dict[str, datetime]:
    """When each device was last heard from: its latest receipt of a fix or an event. `devices`:
    only these (on PostgreSQL, read through the device index rather than grouping every row)."""
    heard: dict[str, datetime] = {}
    decode = UTCTime().process_result_value
    dialect = conn.dialect
    scoped = devices is not None and dialect.name == "postgresql"
    chunks: list[list[str] | None] = list(_chunks(devices)) if devices is not None and scoped else [None]
    for table in (t.fixes, t.device_events):
        for ids in chunks:
            query = select(table.c.device_id, func.max(table.c.received_at)).group_by(table.c.device_id)
            if ids is not None:
                query = query.where(table.c.device_id == any_(literal(ids, ARRAY(String))))
            for device_id, at in conn.execute(query):
                if devices is not None and device_id not in devices:
                    continue
                value = decode(at, dialect)
                if value is not None and (device_id not in heard or value > heard[device_id]):
                    heard[device_id] = value
    return heard
