"""Alembic environment: migrations run on a connection handed in by vigil.store.database.migrate,
or, for `alembic revision --autogenerate` during development, on the URL in VIGIL_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from vigil.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    engine = create_engine(os.environ.get("VIGIL_DATABASE_URL", "sqlite:///var/dev.db"))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
