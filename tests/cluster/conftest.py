"""Cluster tests' fixtures live in cluster_kit.py and private_kit.py (importable by name from the test
files)."""

from cluster_kit import cluster_name, nats_url, receiver  # noqa: F401  (fixtures)
from private_kit import private_nats, private_postgres  # noqa: F401  (fixtures)
