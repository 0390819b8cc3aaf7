"""What `/metrics` says about one running Vigil, read from its parts at scrape time.

One collector reads live values when Prometheus asks: the writer's queue and batches, the engine's
open alerts, the deliverer's backlog, the listeners, the streams, and the counts kept on the hot
paths (vigil/tally.py). Nothing here runs between scrapes, and nothing on the path of a report
touches the metrics library.

The registry is the server's own, never the library's global one (tests build many apps in one
process). Labels are of low cardinality only: a channel, protocol, alert kind, severity, change, a
bounded reason; never a person, device, alert or target id.

A scrape runs on the event loop (the route is async), so the parts that live there (listeners,
hub, deliverer, HTTP counts) cannot change under it. The writer thread's parts are read with care:
integers and a queue's size as they are, the tally of alert changes by a copy of a dict whose size
never changes, and the engine's open alerts by a copy retried if the writer resized the book
during it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil import __version__
from vigil.domain.alerts import RANK, SEVERITY, Alert, AlertKind, AlertState, Change, Severity

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from vigil.services import Services

log = logging.getLogger(__name__)

# A gateway's refusal reasons are the codecs' own sentences, some with numbers in them: past this
# many distinct reasons per channel the rest are shown as "other", so no sender can multiply series.
MAX_REASONS = 24
COPY_TRIES = 5


def registry(services: Services) -> CollectorRegistry:
    """A registry of the server's own: Vigil's metrics, and the process, platform and garbage
    collector figures the library reads for this process."""
    found = CollectorRegistry(auto_describe=False)
    found.register(VigilCollector(services))
    ProcessCollector(registry=found)
    PlatformCollector(registry=found)
    GCCollector(registry=found)
    return found


class VigilCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        s = self._services
        info = GaugeMetricFamily("vigil_build_info", "Vigil's version (always 1)", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield from _reports(s)
        yield from _writer(s)
        yield from _alerts(s)
        yield from _dispatch(s)
        yield from _listeners(s)
        yield from _streams(s)
        yield from _cluster(s)


# --- device reports ---------------------------------------------------------------------------------


def _reports(s: Services) -> Iterator[Metric]:
    received = _counter(
        "vigil_reports_received", "Device reports decoded and handed to the writer", ["channel"]
    )
    stored = _counter(
        "vigil_reports_stored",
        "Device reports stored durably (new) and acknowledged to the device",
        ["channel"],
    )
    duplicates = _counter(
        "vigil_reports_duplicate",
        "Device reports already stored (a device's retry), acknowledged again",
        ["channel"],
    )
    unstored = _counter(
        "vigil_reports_unstored",
        "Device reports the store failed to keep: not acknowledged, the device sends them again",
        ["channel"],
    )
    refused = _counter(
        "vigil_reports_refused",
        "Messages, frames or connections refused, by channel and reason (the gateway counts frames "
        "and connections, the HTTP channels messages)",
        ["channel", "reason"],
    )
    frames = _counter("vigil_device_frames", "Frames read from device connections", ["channel"])
    channels = dict(s.traffic.channels)
    refusals: Counter[tuple[str, str]] = Counter(s.traffic.refused)
    gateway = s.gateway
    if gateway is not None:
        for listener in gateway.listeners:
            if listener.state != "disabled" or listener.frames:
                channels[listener.protocol.value] = listener.reports
                frames.add_metric([listener.protocol.value], listener.frames)
        if gateway.mqtt is not None:
            channels["owntracks"] = gateway.mqtt.reports
        refusals.update(_bounded(gateway.admission.refusals))
    for channel, counts in sorted(channels.items()):
        received.add_metric([channel], counts.received)
        stored.add_metric([channel], counts.stored)
        duplicates.add_metric([channel], counts.duplicates)
        unstored.add_metric([channel], counts.unstored)
        for reason, count in counts.refused.items():
            refusals[(channel, reason)] += count
    for (channel, reason), count in sorted(refusals.items()):
        refused.add_metric([channel, reason], count)
    yield from (received, stored, duplicates, unstored, refused, frames)


def _bounded(refusals: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """The gateway's refusals with at most MAX_REASONS reasons per channel (the first in sorted
    order, so a reason keeps its label from scrape to scrape), the rest summed as "other"."""
    out: Counter[tuple[str, str]] = Counter()
    kept: dict[str, set[str]] = {}
    for (channel, why), count in sorted(refusals.items()):
        reasons = kept.setdefault(channel, set())
        label = why[:80]
        if label not in reasons and len(reasons) >= MAX_REASONS - 1:
            label = "other"
        else:
            reasons.add(label)
        out[(channel, label)] += count
    return out


# --- the single writer ------------------------------------------------------------------------------


def _writer(s: Services) -> Iterator[Metric]:
    runner = s.runner
    yield CounterMetricFamily(
        "vigil_writer_batches", "Batches the writer committed (one transaction each)", value=runner.batches
    )
    yield CounterMetricFamily(
        "vigil_writer_failed_batches",
        "Batches whose transaction failed (every command in them answered with the error)",
        value=runner.failed,
    )
    yield GaugeMetricFamily(
        "vigil_writer_queue_depth", "Commands waiting for the writer's next batch", value=runner.depth()
    )


# --- alerts -------------------------------------------------------------------------------------------


def _alerts(s: Services) -> Iterator[Metric]:
    changes = s.handoff.alerts.snapshot()
    raised = _counter(
        "vigil_alerts_raised",
        "Alerts raised, by kind: opened, or escalated into this kind (a warning rising to a violation)",
        ["kind", "how"],
    )
    for kind in AlertKind:
        raised.add_metric([kind.value, "opened"], changes[(kind, Change.OPENED)])
        if RANK.get(kind, 0) > 1:
            raised.add_metric([kind.value, "escalated"], changes[(kind, Change.ESCALATED)])
    yield raised
    every = _counter(
        "vigil_alert_changes",
        "Alert changes committed, by kind and change (the engine's and people's steps); shown once seen",
        ["kind", "change"],
    )
    for (kind, change), count in changes.items():
        if count:
            every.add_metric([kind.value, change.value], count)
    yield every
    alerts = _open_alerts(s)
    if alerts is None:
        return  # not readable this time (the writer kept resizing the book): left out, not made up
    by_kind = Counter(alert.kind for alert in alerts)
    open_ = GaugeMetricFamily(
        "vigil_alerts_open",
        "Open alerts (not yet resolved or a false alarm), by kind and severity",
        labels=["kind", "severity"],
    )
    for kind in AlertKind:
        open_.add_metric([kind.value, SEVERITY[kind].value], by_kind[kind])
    yield open_
    waiting = [alert for alert in alerts if alert.state is AlertState.OPEN]
    unacknowledged = GaugeMetricFamily(
        "vigil_alerts_unacknowledged",
        "Open alerts no one has acknowledged yet, by severity",
        labels=["severity"],
    )
    oldest = GaugeMetricFamily(
        "vigil_alerts_unacknowledged_oldest_age_seconds",
        "How long the longest-waiting alert no one has acknowledged has waited since it was last raised "
        "(opened or escalated), by severity (0: none)",
        labels=["severity"],
    )
    now = s.clock()
    for severity in Severity:
        theirs = [alert for alert in waiting if alert.severity is severity]
        unacknowledged.add_metric([severity.value], len(theirs))
        oldest.add_metric([severity.value], _age(now, (a.raised_at for a in theirs)))
    yield unacknowledged
    yield oldest


def _open_alerts(s: Services) -> list[Alert] | None:
    """The engine's open alerts, copied. The book lives on the writer thread; a copy of its values
    is one C-level pass that the writer could only break by resizing the dict mid-copy (then Python
    raises, and the copy is taken again)."""
    book = s.processor.engine.book
    for _ in range(COPY_TRIES):
        try:
            return list(book)
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    log.warning("the open alerts could not be read for /metrics: the writer kept changing them")
    return None


# --- dispatch -------------------------------------------------------------------------------------------


def _dispatch(s: Services) -> Iterator[Metric]:
    deliverer = s.deliverer
    count, oldest_at = deliverer.backlog()
    yield GaugeMetricFamily(
        "vigil_dispatch_backlog", "Pushes to dispatch not yet delivered (in flight included)", value=count
    )
    yield GaugeMetricFamily(
        "vigil_dispatch_oldest_undelivered_age_seconds",
        "Age of the oldest push not yet delivered, since it was staged (0: none)",
        value=_age(s.clock(), () if oldest_at is None else (oldest_at,)),
    )
    yield GaugeMetricFamily(
        "vigil_dispatch_awaiting_ack",
        "Pushes delivered that wait for their target's acknowledgement",
        value=deliverer.awaiting(),
    )
    yield CounterMetricFamily("vigil_dispatch_delivered", "Pushes delivered (2xx)", value=deliverer.delivered)
    yield CounterMetricFamily(
        "vigil_dispatch_failures",
        "Delivery attempts that failed (refused, timed out, unreachable, or not recorded)",
        value=deliverer.failures,
    )
    yield CounterMetricFamily(
        "vigil_dispatch_alarms",
        "Operators' alarms raised: a push undelivered past the alarm time",
        value=deliverer.alarms,
    )
    yield CounterMetricFamily(
        "vigil_dispatch_escalations",
        "Pushes not acknowledged in time, sent on to the next target",
        value=deliverer.escalations,
    )
    sender = s.sender
    if sender is not None:  # messages to her (notify/): none in replays and benchmarks
        yield GaugeMetricFamily(
            "vigil_notify_backlog",
            "Pushes and texts to protected persons not yet sent",
            value=sender.backlog(),
        )
        yield CounterMetricFamily(
            "vigil_notify_delivered",
            "Pushes and texts to protected persons delivered",
            value=sender.delivered,
        )
        yield CounterMetricFamily(
            "vigil_notify_failures",
            "Attempts at pushes and texts to protected persons that did not deliver",
            value=sender.failures,
        )


# --- device listeners and live streams -------------------------------------------------------------------


def _listeners(s: Services) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "vigil_listener_up",
        "Whether each enabled device listener is listening (1) or failed to (0); the MQTT "
        "subscriber: connected to its broker (1) or not (0)",
        labels=["protocol"],
    )
    connections = GaugeMetricFamily(
        "vigil_device_connections", "Open device connections, by protocol", labels=["protocol"]
    )
    gateway = s.gateway
    if gateway is not None:
        for listener in gateway.listeners:
            if listener.state == "disabled":
                continue  # not asked for (port 0), or stopped
            up.add_metric([listener.protocol.value], 1 if listener.state == "listening" else 0)
            connections.add_metric([listener.protocol.value], listener.status()["connections"])
        if gateway.mqtt is not None:
            up.add_metric(["owntracks"], 1 if gateway.mqtt.connected else 0)
    yield up
    yield connections


def _streams(s: Services) -> Iterator[Metric]:
    hub = s.hub
    yield GaugeMetricFamily("vigil_stream_viewers", "Live stream viewers connected", value=len(hub.viewers))
    yield CounterMetricFamily(
        "vigil_stream_viewers_dropped",
        "Viewers dropped for falling behind (their queue full)",
        value=hub.dropped,
    )


def _cluster(s: Services) -> Iterator[Metric]:
    """Cluster mode's edge: the workers and the log's partitions, as last looked at (every 5 s)."""
    if s.cluster is None:
        return
    status = s.cluster.status
    yield GaugeMetricFamily("vigil_cluster_workers", "Workers holding a lease", value=status.workers)
    lag = GaugeMetricFamily(
        "vigil_cluster_partition_lag_seconds",
        "Age of the oldest report not yet applied, per partition of the log (0: none waiting)",
        labels=["partition"],
    )
    for p in range(s.settings.partitions):
        lag.add_metric([str(p)], status.lag_s.get(p, 0.0))
    yield lag
    yield GaugeMetricFamily(
        "vigil_cluster_alarms", "Operators' alarms about the cluster in force", value=len(status.alarms())
    )


# --- helpers ---------------------------------------------------------------------------------------------


def _counter(name: str, documentation: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=labels)


def _age(now: datetime, times: Iterable[datetime]) -> float:
    oldest = min(times, default=None)
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
