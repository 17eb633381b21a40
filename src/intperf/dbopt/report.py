"""The result of an analysis, :class:`AnalysisReport`, and its JSON (``intperf db analyze
--json`` and the API's ``report``); docs/dbopt.md describes every field."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from intperf.dbopt.findings import Finding, count_by_severity
from intperf.dbopt.inspect_bloat import BloatEstimate
from intperf.dbopt.inspect_server import Activity, DatabaseStats, ServerInfo, Setting
from intperf.dbopt.inspect_tables import TableStats
from intperf.dbopt.pool import PoolAdvice
from intperf.dbopt.tuning import Machine, SettingAdvice
from intperf.dbopt.workload import Statement, top_statements

__all__ = ["REPORT_VERSION", "AnalysisReport", "jsonable"]

#: Bumped by breaking changes of ``to_dict()``; additions keep it.
REPORT_VERSION = 1


def jsonable(value: Any) -> Any:
    """``value`` as JSON data: ``to_dict()`` when it has one, dataclasses field by field."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(slots=True)
class AnalysisReport:
    """Everything one analysis found; :meth:`to_dict` is its JSON."""

    dsn: str
    """The target, password redacted."""
    analyzed_at: datetime
    duration_s: float
    options: dict[str, Any]
    server: ServerInfo | None
    settings: dict[str, Setting]
    database_stats: DatabaseStats | None
    findings: list[Finding]
    statements: list[Statement]
    """Every DML statement of the database read from pg_stat_statements, by total time."""
    top: int
    tables: list[TableStats]
    connections: Activity | None
    bloat: list[BloatEstimate]
    indexes: list[Any]
    """``IndexAdvice`` from the index advisor."""
    pool: PoolAdvice
    machine: Machine
    workload_type: str
    tuning: list[SettingAdvice]
    skipped: list[dict[str, str]]
    """Steps that failed without ending the analysis: ``{"step", "reason"}``."""
    partitions: list[Any] = field(default_factory=list)
    matviews: list[Any] = field(default_factory=list)

    @property
    def top_statements(self) -> dict[str, list[Statement]]:
        """The top statements by total time, mean time, calls, blocks read, temp written."""
        return top_statements(self.statements, self.top)

    def by_severity(self, severity: str) -> list[Finding]:
        """The findings of one severity."""
        return [f for f in self.findings if f.severity == severity]

    def category(self, category: str) -> list[Finding]:
        """The findings of one category (``index.unused``) or area (``index``)."""
        return [f for f in self.findings
                if f.category == category or f.category.split(".", 1)[0] == category]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of the report (snake_case keys, bytes and milliseconds)."""
        server: dict[str, Any] = self.server.to_dict() if self.server else {}
        server["settings"] = {k: v.to_dict() for k, v in sorted(self.settings.items())}
        server["database_stats"] = (self.database_stats.to_dict()
                                    if self.database_stats else None)
        return {
            "report_version": REPORT_VERSION,
            "dsn": self.dsn,
            "analyzed_at": self.analyzed_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "options": self.options,
            "summary": count_by_severity(self.findings),
            "server": server,
            "findings": [f.to_dict() for f in self.findings],
            "statements": {k: [s.to_dict() for s in v]
                           for k, v in self.top_statements.items()},
            "tables": [t.to_dict() for t in self.tables],
            "connections": self.connections.to_dict() if self.connections else None,
            "bloat": [b.to_dict() for b in self.bloat],
            "indexes": _list(self.indexes),
            "partitions": _list(self.partitions),
            "matviews": _list(self.matviews),
            "pool": self.pool.to_dict(),
            "tuning": {"workload_type": self.workload_type, "machine": self.machine.to_dict(),
                       "settings": [r.to_dict() for r in self.tuning]},
            "skipped": self.skipped,
        }


def _list(items: Sequence[Any]) -> list[Any]:
    return [jsonable(i) for i in items]
