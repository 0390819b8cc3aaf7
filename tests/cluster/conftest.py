"""Cluster tests' fixtures live in conftest_cluster.py (importable by name from the test files)."""

from conftest_cluster import cluster_name, nats_url  # noqa: F401  (fixtures)
