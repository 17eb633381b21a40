"""Stored alerts (their whole history), the deliveries of their notifications, and silences.

The alert manager (``intperf.monitor.alert_manager``) writes here; the API and the metrics
collector read (``active_counts``). docs/alerting.md explains the model.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from intperf.store.database import Database
from intperf.store.tables import AlertDeliveryRow, AlertRow, SilenceRow

__all__ = ["SEVERITIES", "AlertDelivery", "AlertRecord", "AlertRepository", "SilenceRecord"]

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert episode (``state``: pending, firing or resolved)."""

    id: str
    fingerprint: str
    rule: str
    severity: str
    state: str
    title: str
    labels: Mapping[str, str]
    details: Mapping[str, Any]
    run_id: str | None
    group_key: str
    started_at: datetime
    updated_at: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_comment: str | None = None
    silenced_by: str | None = None
    escalation_level: int = 0

    @classmethod
    def from_row(cls, r: AlertRow) -> AlertRecord:
        """The record of a row."""
        return cls(r.id, r.fingerprint, r.rule, r.severity, r.state, r.title,
                   {str(k): str(v) for k, v in r.labels.items()}, dict(r.details), r.run_id,
                   r.group_key, r.started_at, r.updated_at, r.fired_at, r.resolved_at,
                   r.acknowledged_by, r.acknowledged_at, r.ack_comment, r.silenced_by,
                   r.escalation_level)

    def values(self) -> dict[str, Any]:
        """Column values of the row."""
        return {"id": self.id, "fingerprint": self.fingerprint, "rule": self.rule,
                "severity": self.severity, "state": self.state, "title": self.title,
                "labels": dict(self.labels), "details": dict(self.details),
                "run_id": self.run_id, "group_key": self.group_key,
                "started_at": self.started_at, "updated_at": self.updated_at,
                "fired_at": self.fired_at, "resolved_at": self.resolved_at,
                "acknowledged_by": self.acknowledged_by,
                "acknowledged_at": self.acknowledged_at, "ack_comment": self.ack_comment,
                "silenced_by": self.silenced_by, "escalation_level": self.escalation_level}


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One notification to one channel that carried an alert."""

    dispatch_id: str
    alert_id: str
    group_key: str
    reason: str
    channel: str
    at: datetime
    delivered: bool
    attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """Mutes alerts whose labels equal every matcher, from ``starts_at`` until ``ends_at``."""

    id: str
    matchers: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        """Whether the silence mutes at ``now``."""
        return self.starts_at <= now < self.ends_at

    @classmethod
    def from_row(cls, r: SilenceRow) -> SilenceRecord:
        """The record of a row."""
        return cls(r.id, {str(k): str(v) for k, v in r.matchers.items()}, r.starts_at,
                   r.ends_at, r.comment, r.created_by, r.created_at)


class AlertRepository:
    """Alerts, deliveries and silences on one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, alerts: Iterable[AlertRecord]) -> None:
        """Insert or update ``alerts`` (by id) in one transaction."""
        items = list(alerts)
        if not items:
            return
        with self._db.session() as s:
            existing = set(s.scalars(select(AlertRow.id).where(
                AlertRow.id.in_([a.id for a in items]))))
            for a in items:
                if a.id in existing:
                    s.execute(update(AlertRow).where(AlertRow.id == a.id).values(a.values()))
                else:
                    s.add(AlertRow(**a.values()))
                    existing.add(a.id)

    def get(self, alert_id: str) -> AlertRecord | None:
        """One alert, or None."""
        with self._db.session() as s:
            row = s.get(AlertRow, alert_id)
            return None if row is None else AlertRecord.from_row(row)

    def list(self, states: Sequence[str] | None = None, limit: int = 50, offset: int = 0
             ) -> tuple[builtins.list[AlertRecord], int]:
        """A page of alerts in ``states`` (all if None), newest first, and how many match."""
        where = [] if states is None else [AlertRow.state.in_(list(states))]
        with self._db.session() as s:
            total = s.scalar(select(func.count()).select_from(AlertRow).where(*where)) or 0
            rows = s.scalars(select(AlertRow).where(*where)
                             .order_by(AlertRow.started_at.desc(), AlertRow.id.desc())
                             .limit(limit).offset(offset))
            return [AlertRecord.from_row(r) for r in rows], int(total)

    def active(self) -> builtins.list[AlertRecord]:
        """Every pending or firing alert (what the manager restores at start-up)."""
        return self.list(("pending", "firing"), limit=1_000_000)[0]

    def active_counts(self) -> dict[str, int]:
        """Severity -> alerts firing and not acknowledged (every severity, 0 included)."""
        q = (select(AlertRow.severity, func.count()).where(
            AlertRow.state == "firing", AlertRow.acknowledged_at.is_(None))
            .group_by(AlertRow.severity))
        out = dict.fromkeys(SEVERITIES, 0)
        with self._db.session() as s:
            for severity, n in s.execute(q):
                out[str(severity)] = int(n)
        return out

    def add_deliveries(self, deliveries: Iterable[AlertDelivery]) -> None:
        """Record deliveries."""
        rows = [AlertDeliveryRow(dispatch_id=d.dispatch_id, alert_id=d.alert_id,
                                 group_key=d.group_key, reason=d.reason, channel=d.channel,
                                 at=d.at, delivered=d.delivered, attempts=d.attempts,
                                 error=d.error) for d in deliveries]
        if rows:
            with self._db.session() as s:
                s.add_all(rows)

    def deliveries(self, alert_id: str) -> builtins.list[AlertDelivery]:
        """The deliveries that carried ``alert_id``, oldest first."""
        q = (select(AlertDeliveryRow).where(AlertDeliveryRow.alert_id == alert_id)
             .order_by(AlertDeliveryRow.id))
        with self._db.session() as s:
            return [AlertDelivery(r.dispatch_id, r.alert_id, r.group_key, r.reason, r.channel,
                                  r.at, r.delivered, r.attempts, r.error) for r in s.scalars(q)]

    def add_silence(self, silence: SilenceRecord) -> None:
        """Store a new silence."""
        with self._db.session() as s:
            s.add(SilenceRow(id=silence.id, matchers=dict(silence.matchers),
                             starts_at=silence.starts_at, ends_at=silence.ends_at,
                             comment=silence.comment, created_by=silence.created_by,
                             created_at=silence.created_at))

    def get_silence(self, silence_id: str) -> SilenceRecord | None:
        """One silence, or None."""
        with self._db.session() as s:
            row = s.get(SilenceRow, silence_id)
            return None if row is None else SilenceRecord.from_row(row)

    def silences(self, *, since: datetime | None = None) -> builtins.list[SilenceRecord]:
        """Silences (those ending after ``since`` if given), newest first."""
        q = select(SilenceRow).order_by(SilenceRow.created_at.desc(), SilenceRow.id)
        if since is not None:
            q = q.where(SilenceRow.ends_at > since)
        with self._db.session() as s:
            return [SilenceRecord.from_row(r) for r in s.scalars(q)]

    def end_silence(self, silence_id: str, at: datetime) -> bool:
        """End a silence at ``at`` (kept as history); False if there is no such silence."""
        with self._db.session() as s:
            row = s.get(SilenceRow, silence_id)
            if row is None:
                return False
            row.ends_at = min(row.ends_at, at)
            row.starts_at = min(row.starts_at, row.ends_at)
            return True
