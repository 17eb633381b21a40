"""The SQLAlchemy tables of the run database (SQLite or PostgreSQL); docs/storage.md explains them.

The schema itself is created by the Alembic migrations in ``store/migrations``; these classes
must match them (a test compares both).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ALERT_STATES",
    "API_KEY_ROLES",
    "DB_ANALYSIS_STATUSES",
    "RUN_STATUSES",
    "SCHEDULE_SOURCES",
    "AlertDeliveryRow",
    "AlertRow",
    "ApiKeyRow",
    "AuditLogRow",
    "Base",
    "BaselineRow",
    "CacheAnalysisRow",
    "CriterionResultRow",
    "DbAnalysisRow",
    "DeadLetterRow",
    "LateEventRow",
    "RunRow",
    "RunSecondRow",
    "ScheduleRow",
    "SilenceRow",
    "SlowQueryRow",
    "StreamCheckpointRow",
    "StreamWindowRow",
    "UTCDateTime",
    "include_name",
    "is_partition_name",
]

#: Every status a run can have; ``queued`` and ``running`` are the unfinished ones.
RUN_STATUSES = (
    "queued",
    "running",
    "passed",
    "failed",
    "aborted",
    "interrupted",
    "cancelled",
    "error",
)
#: Statuses of a database analysis (``db_analyses``).
DB_ANALYSIS_STATUSES = ("running", "done", "failed", "interrupted")
#: API key roles, weakest first.
API_KEY_ROLES = ("viewer", "operator", "admin")
#: Where a schedule comes from: the configuration file or the API.
SCHEDULE_SOURCES = ("config", "api")

#: JSONB on PostgreSQL (compact, indexable), JSON text elsewhere.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit autoincrement keys; SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _in(values: tuple[str, ...]) -> str:
    # The values are our own constants above, never user input.
    return ", ".join(f"'{v}'" for v in values)


def is_partition_name(name: str) -> bool:
    """Whether ``name`` is a partition of ``run_seconds`` (kept out of schema comparisons)."""
    return name.startswith("run_seconds_")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name`` hook: leave run_seconds' partitions out of comparisons."""
    return not (type_ == "table" and name is not None and is_partition_name(name))


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in and out, on every backend (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive UTC text on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the run database."""

    # Deterministic constraint names, the same the migrations give (op.f marks them final).
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
    }


class ScheduleRow(Base):
    """A recurring suite of runs, from the configuration file or created through the API."""

    __tablename__ = "schedules"
    __table_args__ = (CheckConstraint(f"source IN ({_in(SCHEDULE_SOURCES)})", name="source"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    cron: Mapped[str] = mapped_column(String(200))
    suite: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(16))
    options: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    """``timezone``, ``compare_with_baseline``: how the schedule fires and what follows."""


class RunRow(Base):
    """One load-test run: what was asked, its status and, once done, its summary."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(RUN_STATUSES)})", name="status"),
        Index("ix_runs_scenario_created_at", "scenario", "created_at"),
        Index("ix_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(200))
    test_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    options: Mapped[dict[str, Any]]
    scenario_doc: Mapped[dict[str, Any]]
    summary: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    schedule_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("schedules.id", ondelete="SET NULL")
    )


class RunSecondRow(Base):
    """One second of one run: the whole ``SecondWindow.to_dict()`` and its UTC timestamp.

    ``ts`` is in the primary key because PostgreSQL range-partitions this table by ``ts`` and a
    partitioned table's keys must contain the partition key. ``data`` is plain JSON (not JSONB)
    on purpose: PostgreSQL keeps its text as written, so request names keep their order, and it
    is never queried inside.
    """

    __tablename__ = "run_seconds"
    __table_args__ = (Index("ix_run_seconds_ts", "ts"),)

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    second: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class CriterionResultRow(Base):
    """The verdict on one success criterion of a run, in the order the criteria were given."""

    __tablename__ = "criteria_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    criterion: Mapped[str] = mapped_column(Text)
    passed: Mapped[bool] = mapped_column(Boolean)
    observed: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]]


class BaselineRow(Base):
    """The run a scenario's later runs are compared with."""

    __tablename__ = "baselines"

    scenario: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("runs.id", ondelete="CASCADE"))
    set_by: Mapped[str | None] = mapped_column(String(200))
    set_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key: only the SHA-256 of the token is stored, and its first characters."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(f"role IN ({_in(API_KEY_ROLES)})", name="role"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuditLogRow(Base):
    """Who did what to which object, when (API keys, runs, schedules, baselines)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None]


class StreamCheckpointRow(Base):
    """Where a stream processor group is in one partition, and its open window state there.

    Stored before the offset is committed to the bus, so a restarted processor resumes from
    here (at-least-once; docs/stream.md).
    """

    __tablename__ = "stream_checkpoints"

    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class DeadLetterRow(Base):
    """A malformed event with the reason it was refused (the embedded bus's dead-letter topic)."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


class LateEventRow(Base):
    """An event that arrived after every window it belonged to had closed (kept, not dropped)."""

    __tablename__ = "late_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topology: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    event_time_ms: Mapped[int] = mapped_column(BigInteger)
    stream_time_ms: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[dict[str, Any]]


class SlowQueryRow(Base):
    """A DATABASE_QUERY event over the slow-query threshold, analyzed."""

    __tablename__ = "slow_queries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    detected_at: Mapped[datetime] = mapped_column(index=True)
    event_time_ms: Mapped[int] = mapped_column(BigInteger)
    service: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    normalized: Mapped[str] = mapped_column(Text)
    execution_time_ms: Mapped[float] = mapped_column(Float)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    advice: Mapped[list[str]] = mapped_column(JSONDoc)


class DbAnalysisRow(Base):
    """An analysis of a PostgreSQL database (``intperf.dbopt``): the target's DSN is stored with
    its password redacted, never in clear."""

    __tablename__ = "db_analyses"
    __table_args__ = (CheckConstraint(f"status IN ({_in(DB_ANALYSIS_STATUSES)})",
                                      name="status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    requested_by: Mapped[str | None] = mapped_column(String(200))
    dsn_redacted: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    options: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None]
    """Findings per severity, for lists without loading the report."""
    report: Mapped[dict[str, Any] | None]


class StreamWindowRow(Base):
    """A closed cache or business window (``data`` is the topology's ``to_dict()``)."""

    __tablename__ = "stream_windows"

    topology: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    end_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


#: States of an alert (``alerts``): pending until its ``for`` elapsed, firing, resolved.
ALERT_STATES = ("pending", "firing", "resolved")


class AlertRow(Base):
    """One alert episode: from pending (or firing) to resolved, kept as history."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(f"state IN ({_in(ALERT_STATES)})", name="state"),
        Index("ix_alerts_state_started_at", "state", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, Any]]
    details: Mapped[dict[str, Any]]
    run_id: Mapped[str | None] = mapped_column(String(32))
    group_key: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None]
    ack_comment: Mapped[str | None] = mapped_column(Text)
    silenced_by: Mapped[str | None] = mapped_column(String(32))
    escalation_level: Mapped[int] = mapped_column(Integer)


class AlertDeliveryRow(Base):
    """One notification of one group to one channel, recorded for each alert it carried."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dispatch_id: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    group_key: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    delivered: Mapped[bool] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class SilenceRow(Base):
    """Mutes the notifications of alerts whose labels equal every matcher, for a time."""

    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matchers: Mapped[dict[str, Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class CacheAnalysisRow(Base):
    """An analysis of a Redis (``intperf.cache.analyzer``) asked through the API; the URL is
    stored with its password redacted, never in clear."""

    __tablename__ = "cache_analyses"
    __table_args__ = (CheckConstraint("status IN ('done', 'failed')", name="status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    url_redacted: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    options: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None]
    """Hit ratio, keys, sampled keys, recommendations: for lists without the report."""
    report: Mapped[dict[str, Any] | None]
