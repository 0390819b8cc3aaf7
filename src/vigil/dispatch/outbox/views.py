"""The narrow views of the engine the outbox reads, one per job. The outbox never reaches into the
engine's internals: each job names here the few lookups and actions it needs, and the rules engine
satisfies them all structurally (`EngineView`), as would any stand-in a test hands over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from vigil.domain.alerts import Alert, AlertChange, AlertState, Change, Signal
from vigil.domain.model import Fix, Order


class Located(Protocol):
    """A person's live position as the engine holds it."""

    @property
    def latest(self) -> Fix | None: ...


class OpenAlerts(Protocol):
    def get(self, alert_id: str, /) -> Alert | None: ...


class OpenIncidents(Protocol):
    def get(self, incident_id: str, /) -> object | None: ...


class SceneView(Protocol):
    """Who a push is about and where they are: the orders in memory and each person's live position."""

    @property
    def orders(self) -> Mapping[str, Order]: ...

    @property
    def tracks(self) -> Mapping[str, Located]: ...

    def orders_of(self, person_id: str) -> Sequence[Order]: ...


class StagingView(SceneView, Protocol):
    """Staging: the scene, which incidents are still open (a closed one's stream ends), the
    operators' alarm (a push that could not be staged), and the timeline (a push held back)."""

    @property
    def incidents(self) -> OpenIncidents: ...

    def alarm(self, verdict: Signal, now: datetime) -> list[AlertChange]: ...

    def note(self, alert_id: str, change: Change, *, actor: str, now: datetime, note: str) -> AlertChange: ...


class EscalationView(SceneView, Protocol):
    """Escalation: the scene (to re-plan), the open alerts, and their timelines (to flag)."""

    @property
    def book(self) -> OpenAlerts: ...

    def note(self, alert_id: str, change: Change, *, actor: str, now: datetime, note: str) -> AlertChange: ...


class CallbackView(Protocol):
    """Callbacks: the open alerts, their lifecycle and their timelines."""

    @property
    def book(self) -> OpenAlerts: ...

    def move(
        self, alert_id: str, target: AlertState, *, actor: str, now: datetime, note: str = ""
    ) -> AlertChange: ...

    def note(self, alert_id: str, change: Change, *, actor: str, now: datetime, note: str) -> AlertChange: ...


class RecordView(Protocol):
    """Delivery records: the operators' alarms, raised and cleared."""

    def alarm(self, verdict: Signal, now: datetime) -> list[AlertChange]: ...


class EngineView(StagingView, EscalationView, CallbackView, RecordView, Protocol):
    """All of the above: what the outbox as a whole is handed (the rules engine)."""
