"""Stored database analyses (``db_analyses``): created running, finished with a report or
failed with an error. Only the redacted DSN is ever stored (docs/dbopt.md, "Safety")."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import defer

from intperf.store.database import Database
from intperf.store.records import new_id, utcnow
from intperf.store.tables import DbAnalysisRow

__all__ = ["DbAnalysisRecord", "DbAnalysisRepository"]

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class DbAnalysisRecord:
    """One stored analysis; ``report`` is None while running, after a failure and in lists."""

    id: str
    created_at: datetime
    status: str
    dsn_redacted: str
    options: dict[str, Any]
    requested_by: str | None = None
    finished_at: datetime | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    report: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: DbAnalysisRow, *, with_report: bool = True) -> DbAnalysisRecord:
        """The record of a row (the report left out unless ``with_report``)."""
        return cls(row.id, row.created_at, row.status, row.dsn_redacted, dict(row.options),
                   row.requested_by, row.finished_at, row.error,
                   None if row.summary is None else dict(row.summary),
                   dict(row.report) if with_report and row.report is not None else None)


class DbAnalysisRepository:
    """Create, finish, fail, read and list analyses."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def create(self, *, dsn_redacted: str, requested_by: str | None,
               options: Mapping[str, Any]) -> str:
        """A new running analysis; returns its id. ``dsn_redacted`` must have no password."""
        analysis_id = new_id()
        with self._db.session() as s:
            s.add(DbAnalysisRow(id=analysis_id, created_at=self._clock(), status="running",
                                dsn_redacted=dsn_redacted, requested_by=requested_by,
                                options=dict(options)))
        return analysis_id

    def _finish(self, analysis_id: str, **values: Any) -> None:
        with self._db.session() as s:
            s.execute(update(DbAnalysisRow).where(DbAnalysisRow.id == analysis_id)
                      .values(finished_at=self._clock(), **values))

    def finish(self, analysis_id: str, report: Mapping[str, Any]) -> None:
        """Store the report; the analysis is ``done``."""
        summary = report.get("summary")
        self._finish(analysis_id, status="done", report=dict(report),
                     summary=dict(summary) if isinstance(summary, Mapping) else None)

    def fail(self, analysis_id: str, error: str) -> None:
        """Record why the analysis failed (a message without secrets); it is ``failed``."""
        self._finish(analysis_id, status="failed", error=error)

    def get(self, analysis_id: str) -> DbAnalysisRecord | None:
        """One analysis with its report, or None."""
        with self._db.session() as s:
            row = s.get(DbAnalysisRow, analysis_id)
            return None if row is None else DbAnalysisRecord.from_row(row)

    def list(self, limit: int = 50, offset: int = 0
             ) -> tuple[builtins.list[DbAnalysisRecord], int]:
        """A page of analyses, newest first (without reports), and how many there are."""
        with self._db.session() as s:
            total = s.scalar(select(func.count()).select_from(DbAnalysisRow)) or 0
            rows = s.scalars(
                select(DbAnalysisRow).options(defer(DbAnalysisRow.report))
                .order_by(DbAnalysisRow.created_at.desc(), DbAnalysisRow.id.desc())
                .limit(limit).offset(offset))
            return [DbAnalysisRecord.from_row(r, with_report=False) for r in rows], int(total)

    def mark_unfinished_interrupted(self) -> builtins.list[str]:
        """Running analyses become ``interrupted`` (their process is gone); returns their ids."""
        with self._db.session() as s:
            ids = s.scalars(
                update(DbAnalysisRow).where(DbAnalysisRow.status == "running")
                .values(status="interrupted", finished_at=self._clock())
                .returning(DbAnalysisRow.id).execution_options(synchronize_session=False))
            return sorted(ids)
