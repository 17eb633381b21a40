"""What the processor does with outputs before storing them: alerts handed over, index hints
added to slow queries (off the event loop), dead letters and slow queries published.

All of it happens before the store, so a crash in between repeats it on replay
(at-least-once) instead of losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from intperf.store.stream_repository import SlowQuery
from intperf.stream.bus import Bus
from intperf.stream.processor_state import Pending, dead_letter_envelope
from intperf.stream.topologies import StreamAlert, slow_query_message

__all__ = ["AlertCallback", "OutputHandler", "PlanHint"]

log = logging.getLogger(__name__)

#: Handed each alert; the service adapts it to its AlertDispatcher (log, webhooks).
AlertCallback = Callable[[StreamAlert], Awaitable[None]]
#: ``plan_hint(service, normalized_query) -> advice or None``; blocking: run in a thread.
PlanHint = Callable[[str, str], str | None]


class OutputHandler:
    """Alerts, plan hints and publishing for one processor."""

    def __init__(self, bus: Bus, *, group: str, on_alert: AlertCallback | None,
                 plan_hint: PlanHint | None, dead_letter_topic: str | None,
                 slow_queries_topic: str | None, alert_timeout_s: float,
                 plan_hint_timeout_s: float) -> None:
        self.bus = bus
        self.group = group
        self.on_alert = on_alert
        self.plan_hint = plan_hint
        self.dead_letter_topic = dead_letter_topic
        self.slow_queries_topic = slow_queries_topic
        self.alert_timeout_s = alert_timeout_s
        self.plan_hint_timeout_s = plan_hint_timeout_s

    def alert(self, pending: Pending, alert: StreamAlert) -> None:
        """Start handing ``alert`` over now (latency); the store waits for it."""
        if self.on_alert is not None:
            pending.alerts.append(asyncio.create_task(self._deliver(alert)))

    async def _deliver(self, alert: StreamAlert) -> None:
        assert self.on_alert is not None
        try:
            await self.on_alert(alert)
        except Exception:
            log.exception("stream processor %s: on_alert failed for %s", self.group,
                          alert.kind)

    async def prepare(self, pending: Pending) -> None:
        """Wait for the alerts, add plan hints, queue what is to be published."""
        if pending.alerts:
            _done, running = await asyncio.wait(pending.alerts, timeout=self.alert_timeout_s)
            if running:
                log.warning("stream processor %s: %d alert deliveries still running after "
                            "%.0f s; storing anyway", self.group, len(running),
                            self.alert_timeout_s)
            pending.alerts = []
        if pending.prepared:
            return
        if pending.slow and self.plan_hint is not None:
            pending.slow = await self._with_hints(pending.slow)
        if self.slow_queries_topic is not None:
            pending.to_publish += [(self.slow_queries_topic, q.fingerprint.encode(),
                                    slow_query_message(q)) for q in pending.slow]
        if self.dead_letter_topic is not None:
            pending.to_publish += [(self.dead_letter_topic, None, dead_letter_envelope(d))
                                   for d in pending.dead]
        pending.prepared = True

    async def _with_hints(self, slow: list[SlowQuery]) -> list[SlowQuery]:
        """Ask ``plan_hint`` once per distinct (service, statement), concurrently, each in a
        worker thread with a timeout (the callable caches across calls: PlanHints does)."""
        keys = {(q.service, q.normalized) for q in slow if q.normalized}
        if not keys:
            return slow
        ordered = sorted(keys)
        answers = await asyncio.gather(*(self._hint(*k) for k in ordered))
        hints = dict(zip(ordered, answers, strict=True))
        out = []
        for q in slow:
            hint = hints.get((q.service, q.normalized))
            out.append(q if not hint or hint in q.advice else
                       replace(q, advice=(*q.advice, hint)))
        return out

    async def _hint(self, service: str, normalized: str) -> str | None:
        assert self.plan_hint is not None
        try:
            async with asyncio.timeout(self.plan_hint_timeout_s):
                return await asyncio.to_thread(self.plan_hint, service, normalized)
        except Exception as exc:  # noqa: BLE001 - advice is optional; processing goes on
            log.warning("plan hint for a slow query of %s failed: %s", service,
                        type(exc).__name__)
            return None

    async def publish(self, pendings: Sequence[Pending]) -> None:
        """Publish the queued records and wait until the bus has them (BusError if not)."""
        by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
        for p in pendings:
            for topic, key, value in p.to_publish:
                by_topic.setdefault(topic, []).append((key, value))
        if not by_topic:
            return
        for topic, items in by_topic.items():
            await self.bus.publish_many(topic, items)
        await self.bus.flush()
        for p in pendings:  # published: a retried store does not publish them again
            p.to_publish = []
