"""Stored Redis analyses (``cache_analyses``) and the TTL changes of the cache tuner, which live
in the audit log (action ``cache.ttl.change``). Only redacted URLs are ever stored."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from intperf.store.database import Database
from intperf.store.records import new_id, utcnow
from intperf.store.tables import AuditLogRow, CacheAnalysisRow

__all__ = ["TTL_CHANGE_ACTION", "CacheAnalysisRecord", "CacheAnalysisRepository", "TtlChangeRecord"]

Clock = Callable[[], datetime]
#: The audit log action of a TTL change made by the service.
TTL_CHANGE_ACTION = "cache.ttl.change"


@dataclass(frozen=True, slots=True)
class CacheAnalysisRecord:
    """One stored Redis analysis; ``report`` is None after a failure and in lists."""

    id: str
    created_at: datetime
    status: str
    url_redacted: str
    options: dict[str, Any]
    requested_by: str | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    report: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: CacheAnalysisRow, *, with_report: bool = True) -> CacheAnalysisRecord:
        """The record of a row (the report left out unless ``with_report``)."""
        return cls(row.id, row.created_at, row.status, row.url_redacted, dict(row.options),
                   row.requested_by, row.error,
                   None if row.summary is None else dict(row.summary),
                   dict(row.report) if with_report and row.report is not None else None)


@dataclass(frozen=True, slots=True)
class TtlChangeRecord:
    """A TTL change as the audit log has it."""

    id: int
    at: datetime
    actor: str
    region: str
    key_class: str
    old_ttl_s: float
    new_ttl_s: float
    reason: str
    evidence: dict[str, Any]
    published: bool


def summarize(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers a list shows of a report (``RedisAnalysis.to_dict()``)."""
    info = report.get("info") or {}
    keyspace = report.get("keyspace") or {}
    return {"cluster": bool(report.get("cluster")), "nodes": len(report.get("nodes") or []),
            "hit_ratio": info.get("hit_ratio"), "keys": keyspace.get("keys"),
            "sampled": keyspace.get("sampled"),
            "recommendations": len(report.get("recommendations") or [])}


class CacheAnalysisRepository:
    """Add, read and list Redis analyses; read TTL changes from the audit log."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def add(self, *, url_redacted: str, requested_by: str | None, options: Mapping[str, Any],
            report: Mapping[str, Any] | None = None, error: str | None = None) -> str:
        """Store a finished analysis (a report, or the error); returns its id."""
        analysis_id = new_id()
        with self._db.session() as s:
            s.add(CacheAnalysisRow(
                id=analysis_id, created_at=self._clock(), requested_by=requested_by,
                url_redacted=url_redacted, status="failed" if report is None else "done",
                options=dict(options), error=error,
                summary=None if report is None else summarize(report),
                report=None if report is None else dict(report)))
        return analysis_id

    def get(self, analysis_id: str) -> CacheAnalysisRecord | None:
        """One analysis with its report, or None."""
        with self._db.session() as s:
            row = s.get(CacheAnalysisRow, analysis_id)
            return None if row is None else CacheAnalysisRecord.from_row(row)

    def list(self, limit: int = 50, offset: int = 0
             ) -> tuple[builtins.list[CacheAnalysisRecord], int]:
        """A page of analyses, newest first (without reports), and how many there are."""
        with self._db.session() as s:
            total = s.scalar(select(func.count()).select_from(CacheAnalysisRow)) or 0
            rows = s.scalars(
                select(CacheAnalysisRow).options(defer(CacheAnalysisRow.report))
                .order_by(CacheAnalysisRow.created_at.desc(), CacheAnalysisRow.id.desc())
                .limit(limit).offset(offset))
            return [CacheAnalysisRecord.from_row(r, with_report=False) for r in rows], int(total)

    def ttl_changes(self, limit: int = 100, offset: int = 0, *, region: str | None = None
                    ) -> tuple[builtins.list[TtlChangeRecord], int]:
        """A page of TTL changes (newest first), optionally of one region, and the total."""
        where = [AuditLogRow.action == TTL_CHANGE_ACTION]
        if region is not None:
            where.append(AuditLogRow.target.like(
                region.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%",
                escape="\\"))
        with self._db.session() as s:
            total = s.scalar(select(func.count()).select_from(AuditLogRow).where(*where)) or 0
            rows = s.scalars(select(AuditLogRow).where(*where)
                             .order_by(AuditLogRow.id.desc()).limit(limit).offset(offset))
            return [_ttl_change(r) for r in rows], int(total)


def _ttl_change(row: AuditLogRow) -> TtlChangeRecord:
    d = dict(row.detail or {})
    return TtlChangeRecord(
        id=row.id, at=row.at, actor=row.actor, region=str(d.get("region", "")),
        key_class=str(d.get("key_class", "")), old_ttl_s=float(d.get("old_ttl_s", 0.0)),
        new_ttl_s=float(d.get("new_ttl_s", 0.0)), reason=str(d.get("reason", "")),
        evidence=dict(d.get("evidence") or {}), published=bool(d.get("published", False)))
