"""Alerts as JSON (the API's ``Alert``, ``Silence``) and a group dispatch as a Notification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intperf.monitor.alert_model import Dispatch
from intperf.monitor.notification import Notification, Severity
from intperf.store.alert_repository import AlertRecord, SilenceRecord

__all__ = ["alert_json", "notification_of", "silence_json"]

_RANK = {"info": 0, "warning": 1, "critical": 2}


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def alert_json(a: AlertRecord) -> dict[str, Any]:
    """The API's ``Alert`` (camelCase, docs/internals-monitor.md)."""
    return {"id": a.id, "rule": a.rule, "severity": a.severity, "state": a.state,
            "title": a.title, "labels": dict(a.labels), "details": dict(a.details),
            "runId": a.run_id, "startedAt": _ts(a.started_at), "updatedAt": _ts(a.updated_at),
            "firedAt": _ts(a.fired_at), "resolvedAt": _ts(a.resolved_at),
            "acknowledgedBy": a.acknowledged_by, "acknowledgedAt": _ts(a.acknowledged_at),
            "silencedBy": a.silenced_by, "escalationLevel": a.escalation_level,
            "groupKey": a.group_key}


def silence_json(s: SilenceRecord, now: datetime) -> dict[str, Any]:
    """The API's ``Silence``."""
    return {"id": s.id, "matchers": dict(s.matchers), "startsAt": _ts(s.starts_at),
            "endsAt": _ts(s.ends_at), "comment": s.comment, "createdBy": s.created_by,
            "active": s.active(now)}


def notification_of(d: Dispatch) -> Notification:
    """One message for a group: Alertmanager-like subject, a line per alert, JSON payload."""
    firing = [a for a in d.alerts if a.state == "firing"]
    resolved = [a for a in d.alerts if a.state == "resolved"]
    severity: Severity = "info"
    for a in firing:
        if _RANK.get(a.severity, 1) > _RANK[severity]:
            severity = "critical" if a.severity == "critical" else "warning"
    head = f"[{d.status.upper()}:{len(firing)}]" if firing else "[RESOLVED]"
    if d.reason == "escalation":
        head = f"[ESCALATED:{len(firing)}]"
    subject = f"{head} {d.group_key}"
    if len(d.alerts) == 1:
        subject += f" {d.alerts[0].title}"
    lines = [f"{'FIRING' if a.state == 'firing' else 'RESOLVED'} [{a.severity}] {a.title}"
             + (f" (run {a.run_id})" if a.run_id else "")
             + (" (acknowledged by " + a.acknowledged_by + ")" if a.acknowledged_by else "")
             for a in (*firing, *resolved)]
    payload = {"source": "intperf", "kind": "alert-group", "status": d.status,
               "reason": d.reason, "groupKey": d.group_key, "severity": severity,
               "title": subject, "text": "\n".join(lines), "at": d.at.isoformat(),
               "alerts": [alert_json(a) for a in d.alerts]}
    return Notification(kind="alert-group", subject=subject, text="\n".join(lines),
                        severity=severity, payload=payload)
