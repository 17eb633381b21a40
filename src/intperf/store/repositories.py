"""Repositories of the run database: synchronous, one short transaction per call.

The service calls them from a worker thread. Each returns detached records
(``intperf.store.records``), never ORM rows.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Insert, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from intperf.errors import UsageError
from intperf.loadtest.results import SecondWindow, TimeSeries
from intperf.store.database import Database
from intperf.store.records import (
    ApiKeyRecord,
    AuditRecord,
    BaselineRecord,
    RunRecord,
    ScheduleRecord,
    new_id,
    utcnow,
)
from intperf.store.tables import (
    API_KEY_ROLES,
    RUN_STATUSES,
    SCHEDULE_SOURCES,
    ApiKeyRow,
    AuditLogRow,
    BaselineRow,
    CriterionResultRow,
    RunRow,
    RunSecondRow,
    ScheduleRow,
)

__all__ = [
    "API_KEY_PREFIX",
    "LIVE_TEST_TYPE",
    "UNFINISHED_STATUSES",
    "ApiKeyRepository",
    "AuditRepository",
    "BaselineRepository",
    "RunRecord",
    "RunRepository",
    "ScheduleRepository",
]

Clock = Callable[[], datetime]

#: ``runs.test_type`` of the per-service, per-day runs that hold live analytics windows.
LIVE_TEST_TYPE = "LIVE"

#: Runs in these states when the service starts were cut short by its stop.
UNFINISHED_STATUSES = ("queued", "running")
#: Every API key token starts with this (easy to spot in a leaked-secrets scan).
API_KEY_PREFIX = "ip_"
#: The ``runs`` columns of a list page: all but the two JSON documents.
_BRIEF_COLUMNS = tuple(
    getattr(RunRow, c)
    for c in ("id", "scenario", "test_type", "status", "verdict", "created_at", "started_at",
              "ended_at", "duration_s", "requested_by", "options", "error", "schedule_id")
)
#: Fields ``RunRepository.set_status`` may change along with the status.
_RUN_FIELDS = frozenset({"verdict", "started_at", "ended_at", "duration_s", "error", "summary"})


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


def _upsert(db: Database, entity: type[Any], keys: Sequence[str], replace: Sequence[str]) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET replace = excluded (both backends)."""
    if db.dialect == "postgresql":
        pg = postgresql.insert(entity)
        return pg.on_conflict_do_update(
            index_elements=list(keys), set_={c: pg.excluded[c] for c in replace}
        )
    lite = sqlite.insert(entity)
    return lite.on_conflict_do_update(
        index_elements=list(keys), set_={c: lite.excluded[c] for c in replace}
    )


class RunRepository:
    """Runs, their per-second measurements and their criteria results."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def create(self, record: RunRecord) -> str:
        """Store a new run; returns its id (a fresh one when ``record.id`` is empty)."""
        _check(record.status, RUN_STATUSES, "run status")
        run_id = record.id or new_id()
        with self._db.session() as s:
            s.add(
                RunRow(
                    id=run_id,
                    scenario=record.scenario,
                    test_type=record.test_type,
                    status=record.status,
                    verdict=record.verdict,
                    created_at=record.created_at,
                    started_at=record.started_at,
                    ended_at=record.ended_at,
                    duration_s=record.duration_s,
                    requested_by=record.requested_by,
                    options=record.options,
                    scenario_doc=record.scenario_doc,
                    summary=record.summary,
                    error=record.error,
                    schedule_id=record.schedule_id,
                )
            )
        return run_id

    def set_status(self, run_id: str, status: str, **fields: Any) -> bool:
        """Change a run's status and any of verdict, started_at, ended_at, duration_s, error,
        summary. Returns False when there is no such run."""
        _check(status, RUN_STATUSES, "run status")
        unknown = set(fields) - _RUN_FIELDS
        if unknown:
            raise TypeError(f"set_status() cannot set {', '.join(sorted(unknown))}")
        with self._db.session() as s:
            done = s.execute(
                update(RunRow).where(RunRow.id == run_id).values(status=status, **fields)
            )
            return bool(getattr(done, "rowcount", 0))

    def get(self, run_id: str) -> RunRecord | None:
        """The run, or None."""
        with self._db.session() as s:
            row = s.get(RunRow, run_id)
            return None if row is None else RunRecord.from_row(row)

    def list(
        self,
        scenario: str | None = None,
        status: str | Collection[str] | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        with_documents: bool = True,
    ) -> tuple[builtins.list[RunRecord], int]:
        """A page of runs, newest first, and how many match in all.

        ``with_documents=False`` skips the summary and scenario document (records get None
        and ``{}``): a list view needs neither, and decoding their JSON was most of the
        query's time (benchmarks/service).
        """
        where: list[ColumnElement[bool]] = []
        if scenario is not None:
            where.append(RunRow.scenario == scenario)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for st in wanted:
                _check(st, RUN_STATUSES, "run status")
            where.append(RunRow.status.in_(wanted))
        with self._db.session() as s:
            total = s.scalar(select(func.count()).select_from(RunRow).where(*where)) or 0
            order = (RunRow.created_at.desc(), RunRow.id.desc())
            if not with_documents:
                # Plain columns, no ORM objects: a list page is read often (dashboards).
                brief = s.execute(
                    select(*_BRIEF_COLUMNS).where(*where).order_by(*order).limit(limit)
                    .offset(offset)
                )
                return [RunRecord(**row._mapping) for row in brief], total
            rows = s.scalars(select(RunRow).where(*where).order_by(*order).limit(limit)
                             .offset(offset))
            return [RunRecord.from_row(r) for r in rows], total

    def delete(self, run_id: str) -> bool:
        """Delete a run with its seconds, criteria and baseline (cascade)."""
        with self._db.session() as s:
            done = s.execute(delete(RunRow).where(RunRow.id == run_id))
            return bool(getattr(done, "rowcount", 0))

    def append_seconds(
        self, run_id: str, started_at: datetime, windows: Sequence[SecondWindow]
    ) -> None:
        """Store merged second windows; a second already stored is replaced.

        Each row's ``ts`` is ``started_at + second``. A resent second replaces the stored row
        even when ``started_at`` differs (a DELETE by ``(run_id, second)`` comes first); then
        one executemany upsert writes the rows.
        """
        if started_at.tzinfo is None:
            raise ValueError("started_at must be an aware (UTC) datetime")
        # Last one wins within a call too (one statement may not touch a row twice).
        latest = {w.second: w for w in windows}
        if not latest:
            return
        rows = [
            {
                "run_id": run_id,
                "second": second,
                "ts": started_at + timedelta(seconds=second),
                "data": w.to_dict(),
            }
            for second, w in sorted(latest.items())
        ]
        # ts is in the key only for partitioning; (run_id, second) is what identifies a row.
        stale = delete(RunSecondRow).where(
            RunSecondRow.run_id == run_id, RunSecondRow.second.in_(list(latest))
        )
        # The upsert (not a plain INSERT) keeps two concurrent writers of a second safe.
        stmt = _upsert(self._db, RunSecondRow, ("run_id", "second", "ts"), ("data",))
        with self._db.session() as s:
            s.execute(stale)
            s.execute(stmt, rows)

    def series(self, run_id: str, start: int | None = None, end: int | None = None) -> TimeSeries:
        """The run's time series, seconds in [start, end] (inclusive; all when None)."""
        q = select(RunSecondRow.data).where(RunSecondRow.run_id == run_id)
        if start is not None:
            q = q.where(RunSecondRow.second >= start)
        if end is not None:
            q = q.where(RunSecondRow.second <= end)
        out = TimeSeries()
        with self._db.session() as s:
            for data in s.scalars(q.order_by(RunSecondRow.second)):
                out.add(SecondWindow.from_dict(data))
        return out

    def save_result(
        self, run_id: str, summary: Mapping[str, Any], criteria: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Store the run's summary and its criteria results (replacing earlier ones).

        ``criteria`` are ``intperf.reports.summary.criteria_dicts`` entries. Returns False
        when there is no such run.
        """
        rows = [
            {
                "run_id": run_id,
                "position": i,
                "criterion": str(c["criterion"]),
                "passed": bool(c["passed"]),
                "observed": None if c.get("observed") is None else float(c["observed"]),
                "detail": dict(c),
            }
            for i, c in enumerate(criteria)
        ]
        with self._db.session() as s:
            done = s.execute(update(RunRow).where(RunRow.id == run_id).values(summary=summary))
            if not getattr(done, "rowcount", 0):
                return False
            s.execute(delete(CriterionResultRow).where(CriterionResultRow.run_id == run_id))
            if rows:
                s.execute(insert(CriterionResultRow), rows)
            return True

    def criteria(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """The run's criteria results in the order they were given."""
        with self._db.session() as s:
            q = (
                select(CriterionResultRow.detail)
                .where(CriterionResultRow.run_id == run_id)
                .order_by(CriterionResultRow.position)
            )
            return list(s.scalars(q))

    def mark_unfinished_interrupted(self) -> builtins.list[str]:
        """At start-up: queued and running runs become ``interrupted``; returns their ids.

        Live runs (``test_type = LIVE``, one per service and day, fed by the stream processor)
        are left running: they are not cut short by a stop.
        """
        with self._db.session() as s:
            ids = s.scalars(
                update(RunRow)
                .where(RunRow.status.in_(UNFINISHED_STATUSES), RunRow.test_type != LIVE_TEST_TYPE)
                .values(status="interrupted", ended_at=self._clock())
                .returning(RunRow.id)
                .execution_options(synchronize_session=False)
            )
            return sorted(ids)


class BaselineRepository:
    """Which run each scenario is compared with."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def set(self, scenario: str, run_id: str, by: str | None) -> None:
        """Make ``run_id`` the baseline of ``scenario`` (replacing any earlier one)."""
        stmt = _upsert(self._db, BaselineRow, ("scenario",), ("run_id", "set_by", "set_at"))
        with self._db.session() as s:
            s.execute(
                stmt.values(scenario=scenario, run_id=run_id, set_by=by, set_at=self._clock())
            )

    def get(self, scenario: str) -> str | None:
        """The baseline run id of ``scenario``, or None."""
        with self._db.session() as s:
            return s.scalar(select(BaselineRow.run_id).where(BaselineRow.scenario == scenario))

    def list(self) -> builtins.list[BaselineRecord]:
        """Every baseline, by scenario."""
        with self._db.session() as s:
            rows = s.scalars(select(BaselineRow).order_by(BaselineRow.scenario))
            return [BaselineRecord.from_row(r) for r in rows]

    def delete(self, scenario: str) -> bool:
        """Forget the baseline of ``scenario``."""
        with self._db.session() as s:
            done = s.execute(delete(BaselineRow).where(BaselineRow.scenario == scenario))
            return bool(getattr(done, "rowcount", 0))


class ScheduleRepository:
    """Recurring suites of runs."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def create(
        self,
        name: str,
        cron: str,
        suite: Sequence[Mapping[str, Any]],
        *,
        enabled: bool = True,
        source: str = "api",
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """Store a new schedule; returns its id (UsageError when the name is taken)."""
        _check(source, SCHEDULE_SOURCES, "schedule source")
        row = ScheduleRow(
            id=new_id(),
            name=name,
            cron=cron,
            suite=[dict(r) for r in suite],
            enabled=enabled,
            created_at=self._clock(),
            last_run_at=None,
            source=source,
            options=dict(options or {}),
        )
        with self._db.session() as s:
            if s.scalar(select(ScheduleRow.id).where(ScheduleRow.name == name)) is not None:
                raise UsageError(f"a schedule named {name!r} already exists")
            s.add(row)
        return row.id

    def get(self, schedule_id: str) -> ScheduleRecord | None:
        """The schedule, or None."""
        with self._db.session() as s:
            row = s.get(ScheduleRow, schedule_id)
            return None if row is None else ScheduleRecord.from_row(row)

    def get_by_name(self, name: str) -> ScheduleRecord | None:
        """The schedule called ``name``, or None."""
        with self._db.session() as s:
            row = s.scalar(select(ScheduleRow).where(ScheduleRow.name == name))
            return None if row is None else ScheduleRecord.from_row(row)

    def list(self, source: str | None = None) -> builtins.list[ScheduleRecord]:
        """Every schedule (of one source when given), by name."""
        q = select(ScheduleRow).order_by(ScheduleRow.name)
        if source is not None:
            _check(source, SCHEDULE_SOURCES, "schedule source")
            q = q.where(ScheduleRow.source == source)
        with self._db.session() as s:
            return [ScheduleRecord.from_row(r) for r in s.scalars(q)]

    def update(
        self,
        schedule_id: str,
        *,
        cron: str | None = None,
        suite: Sequence[Mapping[str, Any]] | None = None,
        enabled: bool | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> ScheduleRecord | None:
        """Change what is given; returns the updated schedule, or None when there is none."""
        with self._db.session() as s:
            row = s.get(ScheduleRow, schedule_id)
            if row is None:
                return None
            if cron is not None:
                row.cron = cron
            if suite is not None:
                row.suite = [dict(r) for r in suite]
            if enabled is not None:
                row.enabled = enabled
            if options is not None:
                row.options = dict(options)
            s.flush()
            return ScheduleRecord.from_row(row)

    def set_enabled(self, schedule_id: str, enabled: bool) -> bool:
        """Enable or disable a schedule; False when there is none."""
        return self.update(schedule_id, enabled=enabled) is not None

    def mark_run(self, schedule_id: str, at: datetime | None = None) -> bool:
        """Record that the schedule fired (``at`` defaults to now)."""
        with self._db.session() as s:
            done = s.execute(
                update(ScheduleRow)
                .where(ScheduleRow.id == schedule_id)
                .values(last_run_at=at or self._clock())
            )
            return bool(getattr(done, "rowcount", 0))

    def delete(self, schedule_id: str) -> bool:
        """Delete a schedule (its past runs stay, unlinked)."""
        with self._db.session() as s:
            done = s.execute(delete(ScheduleRow).where(ScheduleRow.id == schedule_id))
            return bool(getattr(done, "rowcount", 0))


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


class ApiKeyRepository:
    """API keys: the token is shown once; only its SHA-256 and first 8 characters are kept."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, role: str) -> tuple[str, str]:
        """A new key: returns ``(key_id, plaintext)``; the plaintext is not stored."""
        _check(role, API_KEY_ROLES, "role")
        plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = new_id()
        with self._db.session() as s:
            s.add(
                ApiKeyRow(
                    id=key_id,
                    name=name,
                    role=role,
                    key_hash=_digest(plaintext),
                    prefix=plaintext[:8],
                    created_at=self._clock(),
                    revoked_at=None,
                )
            )
        return key_id, plaintext

    def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The active key whose token is ``plaintext``, or None."""
        digest = _digest(plaintext)
        with self._db.session() as s:
            row = s.scalar(
                select(ApiKeyRow).where(
                    ApiKeyRow.key_hash == digest, ApiKeyRow.revoked_at.is_(None)
                )
            )
            # The lookup is by hash; compare in constant time anyway so no comparison of
            # secret-derived text can leak timing.
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                return None
            return ApiKeyRecord.from_row(row)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The key (active or revoked), or None."""
        with self._db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            return None if row is None else ApiKeyRecord.from_row(row)

    def list(self) -> builtins.list[ApiKeyRecord]:
        """Every key, revoked ones included, newest first."""
        with self._db.session() as s:
            rows = s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at.desc()))
            return [ApiKeyRecord.from_row(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke an active key; False when there is none."""
        with self._db.session() as s:
            done = s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
            return bool(getattr(done, "rowcount", 0))

    def count(self) -> int:
        """How many keys are active (not revoked)."""
        with self._db.session() as s:
            q = select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
            return s.scalar(q) or 0


class AuditRepository:
    """The audit log: append and read, newest first."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def record(
        self, actor: str, action: str, target: str | None, detail: Mapping[str, Any] | None
    ) -> None:
        """Append one entry."""
        with self._db.session() as s:
            s.add(
                AuditLogRow(
                    at=self._clock(),
                    actor=actor,
                    action=action,
                    target=target,
                    detail=None if detail is None else dict(detail),
                )
            )

    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[AuditRecord]:
        """A page of entries, newest first."""
        with self._db.session() as s:
            rows = s.scalars(
                select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(limit).offset(offset)
            )
            return [AuditRecord.from_row(r) for r in rows]
