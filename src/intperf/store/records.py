"""The values repositories hand out: frozen, slotted dataclasses detached from any session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from intperf.store.tables import ApiKeyRow, AuditLogRow, BaselineRow, RunRow, ScheduleRow

__all__ = [
    "ApiKeyRecord",
    "AuditRecord",
    "BaselineRecord",
    "RunRecord",
    "ScheduleRecord",
    "new_id",
    "utcnow",
]


def new_id() -> str:
    """A fresh random identifier (32 hex digits)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run as stored. ``id=""`` asks ``RunRepository.create`` to pick one."""

    id: str
    scenario: str
    test_type: str = "load"
    status: str = "queued"
    verdict: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    requested_by: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    scenario_doc: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    error: str | None = None
    schedule_id: str | None = None

    @classmethod
    def from_row(cls, row: RunRow) -> RunRecord:
        """The record of a ``runs`` row."""
        return cls(
            id=row.id,
            scenario=row.scenario,
            test_type=row.test_type,
            status=row.status,
            verdict=row.verdict,
            created_at=row.created_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            duration_s=row.duration_s,
            requested_by=row.requested_by,
            options=row.options,
            scenario_doc=row.scenario_doc,
            summary=row.summary,
            error=row.error,
            schedule_id=row.schedule_id,
        )


@dataclass(frozen=True, slots=True)
class BaselineRecord:
    """The baseline run of a scenario and who chose it, when."""

    scenario: str
    run_id: str
    set_by: str | None
    set_at: datetime

    @classmethod
    def from_row(cls, row: BaselineRow) -> BaselineRecord:
        """The record of a ``baselines`` row."""
        return cls(row.scenario, row.run_id, row.set_by, row.set_at)


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A recurring suite: ``cron`` text and the runs to submit (``suite``) each time."""

    id: str
    name: str
    cron: str
    suite: list[dict[str, Any]]
    enabled: bool
    created_at: datetime
    last_run_at: datetime | None
    source: str
    """``config`` (from application.yml) or ``api``."""
    options: dict[str, Any] = field(default_factory=dict)
    """``timezone`` and ``compare_with_baseline``."""

    @classmethod
    def from_row(cls, row: ScheduleRow) -> ScheduleRecord:
        """The record of a ``schedules`` row."""
        return cls(
            id=row.id,
            name=row.name,
            cron=row.cron,
            suite=row.suite,
            enabled=row.enabled,
            created_at=row.created_at,
            last_run_at=row.last_run_at,
            source=row.source,
            options=dict(row.options or {}),
        )


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key without its secret: ``prefix`` is the token's first 8 characters."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the key still authenticates."""
        return self.revoked_at is None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKeyRecord:
        """The record of an ``api_keys`` row (the hash stays behind)."""
        return cls(row.id, row.name, row.role, row.prefix, row.created_at, row.revoked_at)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit-log entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: AuditLogRow) -> AuditRecord:
        """The record of an ``audit_log`` row."""
        return cls(row.id, row.at, row.actor, row.action, row.target, row.detail)
