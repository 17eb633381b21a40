"""The service's live analytics: its bus, and the processor it runs when ``embedded``.

Built from ``intperf.bus`` (``memory`` or ``kafka``) and ``intperf.stream.*``. The API's
``POST /api/v1/events`` publishes through :meth:`StreamRuntime.publish`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from intperf.config import Settings
from intperf.service.alerts import AlertDispatcher, AlertEvent, Severity
from intperf.store.stream_repository import StreamRepository, live_run_id
from intperf.stream.batch import EventBatch
from intperf.stream.bus import Bus, make_bus
from intperf.stream.codec import encode as encode_frame
from intperf.stream.events import PerformanceEvent
from intperf.stream.processor import StreamProcessor
from intperf.stream.topologies import StreamAlert

log = logging.getLogger(__name__)

_SEVERITIES: dict[str, Severity] = {"info": "info", "warning": "warning",
                                    "critical": "critical"}
#: Alert kinds keyed by service: they point at the service's live run of that day.
_SERVICE_KINDS = frozenset({"response-time-p99", "error-rate", "throughput-min"})


def alert_event(alert: StreamAlert) -> AlertEvent:
    """A StreamAlert as the service's AlertEvent (kind ``stream.<kind>``, labelled by its
    service, or its region for cache miss storms; the alert manager's rule names are in
    ``intperf.service.alerts.signal_of``)."""
    details = {**alert.details, "key": alert.key, "at_ms": alert.at_ms,
               "resolved": alert.resolved}
    run_id = None
    if alert.kind in _SERVICE_KINDS:
        run_id = live_run_id(alert.key, datetime.fromtimestamp(alert.at_ms / 1000, UTC))
    label = "region" if alert.kind == "cache-miss-storm" else "service"
    return AlertEvent(kind=f"stream.{alert.kind}",
                      severity=_SEVERITIES.get(alert.severity, "warning"),
                      title=alert.title, details=details, run_id=run_id,
                      labels={label: alert.key}, resolved=alert.resolved)


def journal_dir(settings: Settings) -> str:
    """Where the embedded bus keeps its journal (``intperf.stream.journal-dir``).

    By default beside a SQLite database file (``intperf.db`` -> ``intperf.db.journal``): the
    journal and the checkpoints stored in the database belong together (a journal replayed
    into another database would skip records below that database's checkpoints). Otherwise
    ``stream-journal`` in the working directory.
    """
    configured = settings.intperf.stream.journal_dir
    if configured:
        return configured
    url = settings.intperf.storage_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = url.removeprefix("sqlite:///").split("?", 1)[0]
        if path:
            return f"{path}.journal"
    return "stream-journal"


class StreamRuntime:
    """Owns the bus (and the embedded processor); started and stopped with the service."""

    def __init__(self, settings: Settings, *, bus: Bus | None = None,
                 repository: StreamRepository | None = None,
                 alerts: AlertDispatcher | None = None) -> None:
        self._settings = settings
        self._repository = repository
        self._alerts = alerts
        self._stream = settings.intperf.stream
        self._bus: Bus = bus or make_bus(
            "kafka" if settings.intperf.bus == "kafka" else "memory",
            bootstrap_servers=settings.intperf.kafka_bootstrap_servers,
            client_id="intperf-service",
            journal_dir=journal_dir(settings))
        self._entered = False
        self.processor: StreamProcessor | None = None

    @property
    def bus(self) -> Bus:
        """The bus events are published to."""
        return self._bus

    async def start(self) -> None:
        """Connect the bus and create the topics."""
        await self._bus.__aenter__()
        self._entered = True
        for topic in (self._stream.topic, self._stream.slow_queries_topic,
                      self._stream.dead_letter_topic):
            await self._bus.ensure_topic(topic, self._stream.partitions)
        if self._stream.embedded and self._repository is not None:
            from intperf.stream.processor_factory import build_processor

            self.processor = build_processor(
                self._settings, self._bus, self._repository,
                publish_outputs=self._settings.intperf.bus == "kafka",
                on_alert=self._alert if self._alerts is not None else None)
            await self.processor.start()

    async def _alert(self, alert: StreamAlert) -> None:
        assert self._alerts is not None
        await self._alerts.emit(alert_event(alert))

    async def publish(self, events: Sequence[PerformanceEvent]) -> None:
        """Append ``events`` to the events topic and wait until the bus has stored them.

        One binary frame (stream/codec.py) per service, keyed by the service: decoding a frame
        costs ~40 ns an event against ~9 us for a JSON record (benchmarks/events), and every
        event of a service lands on the service's partition, in order.
        """
        by_service: dict[str, list[PerformanceEvent]] = {}
        for e in events:
            by_service.setdefault(e.service, []).append(e)
        items = [(service.encode(), encode_frame(EventBatch.from_events(group)))
                 for service, group in by_service.items()]
        await self._bus.publish_many(self._stream.topic, items)
        await self._bus.flush()

    async def stop(self) -> None:
        """Stop the processor (storing its checkpoint), then close the bus."""
        if self.processor is not None:
            await self.processor.stop()
            self.processor = None
        if self._entered:
            self._entered = False
            await self._bus.__aexit__(None, None, None)
