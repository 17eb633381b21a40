"""The alerting state machine, pure: every call takes ``now``; nothing sleeps or does I/O.

Alerts: a signal's fingerprint opens an alert ``pending``; it turns ``firing`` once its rule's
``for`` has elapsed with the condition still true, and ``resolved`` when the condition clears
(or after ``resolve-after`` without news). Notifications go per group, as Prometheus
Alertmanager does (https://prometheus.io/docs/alerting/latest/alertmanager/): the first
``group_wait`` after the group appears, then at most one per ``group_interval`` when the group
changed, and again every ``repeat_interval`` while something fires unacknowledged. Escalation
steps notify further channels when an alert stays firing unacknowledged. docs/alerting.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from intperf.monitor.alert_model import (
    SEVERITY_RANK,
    AlertingPolicy,
    AlertSignal,
    Dispatch,
    silence_matches,
)
from intperf.store.alert_repository import AlertRecord, SilenceRecord
from intperf.store.records import new_id

__all__ = ["AckError", "AlertEngine"]

IdFactory = Callable[[], str]


class AckError(Exception):
    """An acknowledgement that cannot be done: ``reason`` is ``not-found`` or ``resolved``."""

    def __init__(self, reason: Literal["not-found", "resolved"]) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Group:
    key: str
    channels: tuple[str, ...]
    created_at: datetime
    last_flush: datetime | None = None
    dirty: bool = False
    #: Fingerprints whose firing went out in a notification (only they get a resolved one).
    notified: set[str] = field(default_factory=set)

    def due(self, policy: AlertingPolicy) -> datetime:
        if self.last_flush is None:
            return self.created_at + timedelta(seconds=policy.group_wait_s)
        return self.last_flush + timedelta(seconds=policy.group_interval_s)


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class AlertEngine:
    """Alerts by fingerprint, their groups, and the silences; call ``tick`` regularly."""

    def __init__(self, policy: AlertingPolicy, *, ids: IdFactory = new_id) -> None:
        self.policy = policy
        self._ids = ids
        self._alerts: dict[str, AlertRecord] = {}  # fingerprint -> pending or firing alert
        self._groups: dict[str, _Group] = {}
        self._silences: dict[str, SilenceRecord] = {}
        self._changed: dict[str, AlertRecord] = {}
        #: Resolved alerts still to be carried by their group's next notification.
        self._resolved: dict[str, list[AlertRecord]] = {}

    # -- state ------------------------------------------------------------------------------

    def alerts(self) -> list[AlertRecord]:
        """Pending and firing alerts."""
        return list(self._alerts.values())

    def silences(self) -> list[SilenceRecord]:
        """Silences known to the engine (active or not yet started)."""
        return list(self._silences.values())

    def drain_changes(self) -> list[AlertRecord]:
        """Alerts changed since the last call (to be stored)."""
        out = list(self._changed.values())
        self._changed.clear()
        return out

    def _put(self, alert: AlertRecord) -> AlertRecord:
        self._changed[alert.id] = alert
        if alert.state == "resolved":
            self._alerts.pop(alert.fingerprint, None)
        else:
            self._alerts[alert.fingerprint] = alert
        return alert

    def restore(self, alerts: Iterable[AlertRecord], silences: Iterable[SilenceRecord],
                now: datetime) -> None:
        """Take over stored pending/firing alerts after a restart: firing ones count as
        notified (no second notification), repeats resume ``repeat_interval`` from ``now``."""
        for s in silences:
            self._silences[s.id] = s
        for a in alerts:
            self._alerts[a.fingerprint] = a
            if a.state == "firing":
                group = self._group(a, now)
                group.notified.add(a.fingerprint)
                group.last_flush = now

    # -- observations ----------------------------------------------------------------------

    def observe(self, signal: AlertSignal, now: datetime) -> AlertRecord | None:
        """Apply one signal; returns the alert it created or changed, if any."""
        spec = self.policy.rule(signal.rule)
        if not spec.enabled:
            return None
        current = self._alerts.get(signal.fingerprint)
        if not signal.active:
            return None if current is None else self._resolve(current, now, signal)
        severity = spec.severity or signal.severity
        if current is None:
            alert = AlertRecord(
                id=self._ids(), fingerprint=signal.fingerprint, rule=signal.rule,
                severity=severity, state="pending", title=signal.title or signal.rule,
                labels=dict(signal.labels), details=dict(signal.details),
                run_id=signal.run_id,
                group_key=self.policy.group_key(signal.rule, signal.labels, severity),
                started_at=now, updated_at=now)
            alert = self._silence(alert, now)
            if spec.for_s <= 0:
                return self._fire(alert, now)
            return self._put(alert)
        # The same alert again (deduplicated): fresher details; a severity change is news.
        escalated = SEVERITY_RANK[severity] != SEVERITY_RANK[current.severity]
        alert = dataclasses.replace(
            current, severity=severity, title=signal.title or current.title,
            details=dict(signal.details), run_id=signal.run_id or current.run_id,
            updated_at=now)
        self._put(alert)
        if escalated and alert.state == "firing" and alert.silenced_by is None:
            self._mark_dirty(alert, now)
        return alert

    def _fire(self, alert: AlertRecord, now: datetime) -> AlertRecord:
        alert = self._put(dataclasses.replace(alert, state="firing", fired_at=now,
                                              updated_at=now))
        if alert.silenced_by is None:
            self._mark_dirty(alert, now)
        else:
            self._group(alert, now)
        return alert

    def _resolve(self, alert: AlertRecord, now: datetime,
                 signal: AlertSignal | None = None) -> AlertRecord:
        details = dict(alert.details)
        if signal is not None and signal.details:
            details.update(signal.details)
        resolved = self._put(dataclasses.replace(alert, state="resolved", resolved_at=now,
                                                 updated_at=now, details=details))
        group = self._groups.get(alert.group_key)
        if group is not None and alert.fingerprint in group.notified:
            self._resolved.setdefault(group.key, []).append(resolved)
            self._mark_dirty(resolved, now)
        return resolved

    def _group(self, alert: AlertRecord, now: datetime) -> _Group:
        group = self._groups.get(alert.group_key)
        if group is None:
            group = self._groups[alert.group_key] = _Group(
                alert.group_key, self.policy.route(alert.rule), now)
        return group

    def _mark_dirty(self, alert: AlertRecord, now: datetime) -> None:
        self._group(alert, now).dirty = True

    # -- silences and acknowledgements -----------------------------------------------------

    def _silence(self, alert: AlertRecord, now: datetime) -> AlertRecord:
        by = next((s.id for s in self._silences.values() if silence_matches(s, alert, now)),
                  None)
        return alert if by == alert.silenced_by else dataclasses.replace(alert, silenced_by=by)

    def add_silence(self, silence: SilenceRecord, now: datetime) -> None:
        """Start muting (takes effect at once on matching alerts)."""
        self._silences[silence.id] = silence
        self._apply_silences(now)

    def end_silence(self, silence_id: str, now: datetime) -> None:
        """Stop a silence now; its alerts still firing are notified again."""
        silence = self._silences.get(silence_id)
        if silence is not None:
            self._silences[silence_id] = dataclasses.replace(
                silence, ends_at=min(silence.ends_at, now))
        self._apply_silences(now)

    def _apply_silences(self, now: datetime) -> None:
        for sid, s in list(self._silences.items()):
            if s.ends_at <= now:
                del self._silences[sid]
        for alert in list(self._alerts.values()):
            updated = self._silence(alert, now)
            if updated is alert:
                continue
            self._put(dataclasses.replace(updated, updated_at=now))
            if updated.silenced_by is None and updated.state == "firing":
                # Unmuted and still firing: tell the group (Alertmanager does the same).
                self._mark_dirty(updated, now)

    def acknowledge(self, alert_id: str, by: str, now: datetime,
                    comment: str | None = None) -> AlertRecord:
        """Acknowledge an active alert: no more repeats or escalation for it."""
        alert = next((a for a in self._alerts.values() if a.id == alert_id), None)
        if alert is None:
            raise AckError("not-found")
        if alert.acknowledged_at is not None:
            return alert
        return self._put(dataclasses.replace(alert, acknowledged_by=by, acknowledged_at=now,
                                             ack_comment=comment, updated_at=now))

    # -- time ------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Dispatch]:
        """Advance to ``now``: pending -> firing, expiry, silences, due notifications."""
        self._apply_silences(now)
        for alert in list(self._alerts.values()):
            spec = self.policy.rule(alert.rule)
            if alert.state == "pending" and now >= alert.started_at + _s(spec.for_s):
                self._fire(alert, now)
            elif (alert.state == "firing" and spec.resolve_after_s is not None
                  and now >= alert.updated_at + _s(spec.resolve_after_s)):
                self._resolve(alert, now)
        out = [d for g in list(self._groups.values()) if (d := self._flush(g, now))]
        out.extend(self._escalate(now))
        return out

    def _members(self, group: _Group) -> list[AlertRecord]:
        return [a for a in self._alerts.values()
                if a.group_key == group.key and a.state == "firing"]

    def _flush(self, group: _Group, now: datetime) -> Dispatch | None:
        firing = self._members(group)
        loud = [a for a in firing if a.silenced_by is None]
        resolved = self._resolved.get(group.key, [])
        dispatch: Dispatch | None = None
        if group.dirty and now >= group.due(self.policy):
            if loud or resolved:
                dispatch = Dispatch(group.key, "firing" if loud else "resolved",
                                    group.channels, tuple(loud + resolved), now)
                group.last_flush = now
                group.notified = {a.fingerprint for a in loud}
            self._resolved.pop(group.key, None)
            group.dirty = False
        elif (not group.dirty and group.last_flush is not None
              and now >= group.last_flush + _s(self.policy.repeat_interval_s)
              and any(a.acknowledged_at is None for a in loud)):
            dispatch = Dispatch(group.key, "repeat", group.channels, tuple(loud), now)
            group.last_flush = now
        if not firing and not group.dirty and not self._resolved.get(group.key):
            del self._groups[group.key]
        return dispatch

    def _escalate(self, now: datetime) -> list[Dispatch]:
        steps = self.policy.escalation
        if not steps:
            return []
        by_group: dict[str, tuple[set[str], list[AlertRecord]]] = {}
        for alert in list(self._alerts.values()):
            if (alert.state != "firing" or alert.fired_at is None
                    or alert.acknowledged_at is not None or alert.silenced_by is not None):
                continue
            due = self.policy.escalation_due(alert.fired_at, now)
            if due <= alert.escalation_level:
                continue
            channels, alerts = by_group.setdefault(alert.group_key, (set(), []))
            channels.update(s.channel for s in steps[alert.escalation_level:due])
            alerts.append(self._put(dataclasses.replace(alert, escalation_level=due,
                                                        updated_at=now)))
        order = {s.channel: i for i, s in reversed(list(enumerate(steps)))}
        return [Dispatch(key, "escalation", tuple(sorted(chans, key=order.__getitem__)),
                         tuple(alerts), now)
                for key, (chans, alerts) in by_group.items()]

    def resolve_matching(self, rule: str, labels: Mapping[str, str], now: datetime
                         ) -> AlertRecord | None:
        """Resolve the active alert of ``rule`` with exactly ``labels``, if there is one."""
        return self.observe(AlertSignal(rule, labels, active=False), now)
