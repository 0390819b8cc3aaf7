"""Storage: SQLite (WAL) by default, PostgreSQL when a URL is configured; schema by Alembic."""
