"""An edge's partition map is rebuilt only when the registry changed: reading the whole registry
every two seconds cost an edge a fifth of a core at 20,000 devices (docs/benchmarks.md, cluster)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update

from vigil.cluster.edge import Directory
from vigil.domain.model import DeviceKind, PersonKind
from vigil.store import tables as t
from vigil.store.database import open_engine
from vigil_sim import bench

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
pytestmark = [pytest.mark.parametrize("backend", ["postgresql"], indirect=True), pytest.mark.postgres]


def test_the_map_is_rebuilt_only_when_devices_or_orders_change(database_url: str) -> None:
    db = open_engine(database_url)
    bench.register(db, bench.plan(3, 6), NOW)
    directory = Directory(db, 8)

    async def look() -> int | None:
        the_map = await directory.current(max_age_s=0.0)
        return the_map.of_device("dx-new")

    try:
        assert asyncio.run(look()) is None
        assert directory.rebuilds == 1
        assert directory.map.of_device("ds-000001") is not None
        assert asyncio.run(look()) is None  # nothing changed: the same map, no rebuild
        assert directory.rebuilds == 1

        with db.begin() as conn:  # a new device, bound to someone
            row = bench._device("dx-new", DeviceKind.ANKLE_MONITOR, "x-000000", PersonKind.SUBJECT)
            conn.execute(insert(t.devices).values(**row, created_at=NOW, updated_at=NOW))
        assert asyncio.run(look()) is not None
        assert directory.rebuilds == 2

        with db.begin() as conn:  # an order written (ended): the groups may split
            later = NOW + timedelta(minutes=1)
            conn.execute(
                update(t.orders).where(t.orders.c.id == "o-000001").values(ended_at=later, updated_at=later)
            )
        asyncio.run(look())
        assert directory.rebuilds == 3
    finally:
        db.dispose()
