"""A worker's own figures for Prometheus (`VIGIL_WORKER_METRICS_PORT`): what it owns and applies.
An edge's `/metrics` shows the cluster as the edge sees it (cluster/watch.py); this is the worker's
side: its partitions, its engine's people, its batches, fences and forwarded reports."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from vigil.cluster.worker import Worker


class WorkerCollector(Collector):
    """Read at scrape time (on the server's thread) from plain integers, and from sets and dicts the
    apply loop replaces whole or copies here."""

    def __init__(self, worker: Worker) -> None:
        self._w = worker

    def collect(self) -> Iterator[Metric]:
        w = self._w
        yield GaugeMetricFamily("vigil_worker_partitions", "Partitions this worker owns", value=len(w.owned))
        scope = w.processor.scope
        yield GaugeMetricFamily(
            "vigil_worker_people", "People in this worker's engine", value=0 if scope is None else len(scope)
        )
        yield CounterMetricFamily("vigil_worker_messages_applied", "Log messages applied", value=w.applied)
        yield CounterMetricFamily("vigil_worker_batches", "Batches committed", value=w.batches)
        yield CounterMetricFamily(
            "vigil_worker_batches_fenced", "Batches rolled back: a partition had moved on", value=w.fenced
        )
        yield CounterMetricFamily(
            "vigil_worker_reports_forwarded",
            "Reports sent on to their wearer's new partition",
            value=w.forwarded,
        )
        applied = GaugeMetricFamily(
            "vigil_worker_partition_offset",
            "The log sequence applied, per partition owned",
            labels=["partition"],
        )
        for p, seq in sorted(_copy(w.offsets).items()):
            applied.add_metric([str(p)], seq)
        yield applied
        yield GaugeMetricFamily(
            "vigil_worker_inbox", "Log messages received, not applied yet", value=w.inbox_depth()
        )


def _copy(d: dict[int, int]) -> dict[int, int]:
    """A copy of a dict the event loop may resize meanwhile: tried again, or left empty."""
    for _ in range(5):
        try:
            return dict(d)
        except RuntimeError:  # resized during the copy
            continue
    return {}
