"""The alert manager: the engine behind a lock, its store, its timer, and delivery.

Sources call :meth:`AlertManager.observe`; a timer task calls :meth:`AlertManager.evaluate`
every ``evaluation-interval`` (tests call it themselves with an injected clock). Every change
is stored (alert history), every delivery recorded. Nothing here raises into a source: a
database or channel failure is logged and alerting goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from intperf.config import Settings
from intperf.errors import UsageError
from intperf.monitor.alert_engine import AckError, AlertEngine
from intperf.monitor.alert_model import (
    AlertingPolicy,
    AlertSignal,
    Dispatch,
    EscalationStep,
    RuleSpec,
    Severity,
)
from intperf.monitor.alert_render import notification_of
from intperf.monitor.notifiers import Channels
from intperf.store.alert_repository import (
    AlertDelivery,
    AlertRecord,
    AlertRepository,
    SilenceRecord,
)
from intperf.store.records import new_id, utcnow

__all__ = ["AlertConflictError", "AlertManager", "AlertNotFoundError", "Watch",
           "policy_from_settings"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: A source polled on every evaluation (e.g. the payment success rate of business windows).
Watch = Callable[[datetime], Awaitable[Sequence[AlertSignal]]]


class AlertNotFoundError(UsageError):
    """No alert or silence with that id."""


class AlertConflictError(UsageError):
    """The alert cannot be acknowledged: it is resolved."""


def policy_from_settings(settings: Settings, channel_names: Sequence[str]) -> AlertingPolicy:
    """The policy of ``intperf.alerting``; receivers default to the channels that no
    escalation step names."""
    a = settings.intperf.alerting
    escalation = tuple(EscalationStep(s.channel, s.after) for s in a.escalation)
    on_escalation = {s.channel for s in escalation}
    receivers = tuple(a.receivers) if a.receivers is not None else tuple(
        n for n in channel_names if n not in on_escalation)
    rules: dict[str, RuleSpec] = {}
    for r in a.rules:
        severity: Severity | None = None
        if r.severity in ("info", "warning", "critical"):
            severity = r.severity  # type: ignore[assignment]
        rules[r.name] = RuleSpec(r.name, r.for_, severity,
                                 None if r.channels is None else tuple(r.channels),
                                 r.enabled, r.resolve_after, r.threshold)
    return AlertingPolicy(receivers=receivers, group_by=tuple(a.group_by),
                          group_wait_s=a.group_wait, group_interval_s=a.group_interval,
                          repeat_interval_s=a.repeat_interval, escalation=escalation,
                          rules=rules)


class AlertManager:
    """One service's alerting: observe signals, evaluate on a timer, acknowledge, silence."""

    def __init__(self, policy: AlertingPolicy, channels: Channels,
                 repository: AlertRepository, *, clock: Clock = utcnow,
                 interval: float = 1.0, watches: Iterable[Watch] = ()) -> None:
        self.policy = policy
        self.channels = channels
        self.repository = repository
        self.engine = AlertEngine(policy)
        self.interval = interval
        self.watches = list(watches)
        self._clock = clock
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        """The manager's clock."""
        return self._clock()

    async def restore(self) -> None:
        """Load stored pending/firing alerts and silences into the engine."""
        now = self.now()
        alerts = await asyncio.to_thread(self.repository.active)
        silences = await asyncio.to_thread(self.repository.silences, since=now)
        async with self._lock:
            self.engine.restore(alerts, silences, now)
        if alerts:
            log.info("alerting: %d active alert(s) restored", len(alerts))

    async def start(self) -> None:
        """Restore, then evaluate every ``interval`` seconds in a background task."""
        await self.restore()
        self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                            name="intperf-alerting")

    async def stop(self) -> None:
        """Stop the timer (deliveries in flight are awaited by their callers)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.evaluate()
            except Exception as exc:  # noqa: BLE001 - the timer must outlive any failure
                log.error("alert evaluation failed: %s", type(exc).__name__)  # noqa: TRY400
            # the interval, or sooner when a signal arrived (observe(deliver=False))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def _store(self, changes: list[AlertRecord]) -> None:
        if changes:
            await asyncio.to_thread(self.repository.save, changes)

    async def observe(self, signal: AlertSignal, *, deliver: bool = True
                      ) -> AlertRecord | None:
        """Apply a source's signal and store the change; then send what is due now, or with
        ``deliver=False`` leave that to the timer task (woken at once): the source then waits
        for the database only, never for a slow channel."""
        try:
            async with self._lock:
                alert = self.engine.observe(signal, self.now())
                await self._store(self.engine.drain_changes())
        except Exception as exc:  # noqa: BLE001 - a source never fails because of alerting
            log.error("alert %s could not be recorded: %s", signal.rule,  # noqa: TRY400
                      type(exc).__name__)
            return None
        if deliver:
            await self.evaluate()
        else:
            self._wake.set()
        return alert

    async def evaluate(self) -> list[Dispatch]:
        """Poll the watches, advance the engine to now, deliver the due notifications."""
        now = self.now()
        signals: list[AlertSignal] = []
        for watch in self.watches:
            try:
                signals.extend(await watch(now))
            except Exception as exc:  # noqa: BLE001 - one broken watch stops nothing else
                log.warning("alert watch failed: %s", type(exc).__name__)
        async with self._lock:
            for signal in signals:
                self.engine.observe(signal, now)
            dispatches = self.engine.tick(now)
            await self._store(self.engine.drain_changes())
        if dispatches:
            async with self._send_lock:
                for d in dispatches:
                    await self._deliver(d)
        return dispatches

    async def _deliver(self, d: Dispatch) -> None:
        results = await self.channels.deliver(d.channels, notification_of(d))
        dispatch_id = new_id()
        at = self.now()
        rows = [AlertDelivery(dispatch_id, a.id, d.group_key, d.reason, r.channel, at,
                              r.delivered, r.attempts, r.error)
                for a in d.alerts for r in results]
        try:
            await asyncio.to_thread(self.repository.add_deliveries, rows)
        except Exception as exc:  # noqa: BLE001 - the notification went out; keep going
            log.error("alert deliveries not recorded: %s", type(exc).__name__)  # noqa: TRY400

    async def acknowledge(self, alert_id: str, by: str,
                          comment: str | None = None) -> AlertRecord:
        """Acknowledge an alert (stops its repeats and escalation)."""
        async with self._lock:
            try:
                alert = self.engine.acknowledge(alert_id, by, self.now(), comment)
            except AckError:
                stored = await asyncio.to_thread(self.repository.get, alert_id)
                if stored is None:
                    raise AlertNotFoundError(f"alert {alert_id} not found") from None
                raise AlertConflictError(f"alert {alert_id} is {stored.state}") from None
            await self._store(self.engine.drain_changes())
        return alert

    async def add_silence(self, matchers: Mapping[str, str], ends_at: datetime, comment: str,
                          by: str, starts_at: datetime | None = None) -> SilenceRecord:
        """Create a silence from now (or ``starts_at``) until ``ends_at``."""
        now = self.now()
        silence = SilenceRecord(new_id(), dict(matchers), starts_at or now, ends_at, comment,
                                by, now)
        async with self._lock:
            await asyncio.to_thread(self.repository.add_silence, silence)
            self.engine.add_silence(silence, now)
            await self._store(self.engine.drain_changes())
        return silence

    async def end_silence(self, silence_id: str) -> None:
        """End a silence now; AlertNotFoundError if there is none with that id."""
        now = self.now()
        async with self._lock:
            if not await asyncio.to_thread(self.repository.end_silence, silence_id, now):
                raise AlertNotFoundError(f"silence {silence_id} not found")
            self.engine.end_silence(silence_id, now)
            await self._store(self.engine.drain_changes())

    def silence_until(self, duration_s: float) -> datetime:
        """``now + duration``."""
        return self.now() + timedelta(seconds=duration_s)
