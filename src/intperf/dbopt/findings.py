"""What an analysis found: :class:`Finding` (category, severity, evidence, fix SQL) and the
thresholds that decide severities (docs/dbopt.md lists every category and rule)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "SEVERITIES",
    "Finding",
    "Severity",
    "Thresholds",
    "count_by_severity",
    "format_bytes",
    "qualified",
    "quote_ident",
    "quote_literal",
    "sort_findings",
]

Severity = Literal["info", "warning", "critical"]
#: Weakest first.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem or observation, with the numbers that justify it and the SQL that fixes it.

    ``category`` is stable: ``area.kind`` (``index.unused``, ``foreign-key.unindexed``,
    ``setting.work_mem`` ...); the part before the dot is the area (statement, table, index,
    foreign-key, cache, connections, setting, pool, analysis).
    """

    category: str
    severity: Severity
    title: str
    evidence: dict[str, Any]
    fix_sql: str | None = None
    detail: str | None = None

    @property
    def area(self) -> str:
        """The part of ``category`` before the dot."""
        return self.category.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``findings[]``)."""
        return {"category": self.category, "severity": self.severity, "title": self.title,
                "evidence": self.evidence, "fix_sql": self.fix_sql, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The numbers behind the severity rules; the defaults are documented in docs/dbopt.md."""

    #: An index with 0 scans is a warning when at least this big and the statistics at least
    #: ``unused_min_days`` old; otherwise info.
    unused_index_bytes: int = 10 * 1024 * 1024
    unused_min_days: float = 7.0
    #: Prefix-redundant indexes and bloat: warning from this size on, info below.
    redundant_index_bytes: int = 10 * 1024 * 1024
    #: A foreign key without an index is a warning when the referencing table has this many rows.
    fk_min_rows: int = 10_000
    #: Dead tuples: warning at this share of all tuples (and ``dead_min_tuples``), critical at
    #: ``dead_critical_ratio``.
    dead_ratio: float = 0.2
    dead_critical_ratio: float = 0.5
    dead_min_tuples: int = 1_000
    #: Sequential scans: a table with this many live rows read mostly by this many seq scans.
    seq_scan_min_rows: int = 10_000
    seq_scan_min_scans: int = 50
    #: Statistics stale: modified rows since the last analyze over live rows.
    stale_stats_ratio: float = 0.2
    #: Slow statements: mean time (ms) for a warning / critical, with at least ``slow_min_calls``.
    slow_mean_ms: float = 100.0
    slow_critical_mean_ms: float = 1000.0
    slow_min_calls: int = 10
    #: Statements reading from disk: shared blocks read per call for a warning.
    disk_reads_per_call: float = 1_000.0
    #: Cache hit ratio: warning below ``cache_warning``, critical below ``cache_critical``
    #: (OLTP/web/mixed; data warehouses get ``dw_cache_warning``/``dw_cache_critical``), once
    #: at least ``cache_min_blocks`` blocks were requested.
    cache_warning: float = 0.99
    cache_critical: float = 0.90
    dw_cache_warning: float = 0.90
    dw_cache_critical: float = 0.75
    cache_min_blocks: int = 10_000
    #: Bloat estimates: a finding from this ratio on, for relations at least this big.
    bloat_ratio: float = 0.3
    bloat_critical_ratio: float = 0.6
    bloat_min_bytes: int = 1024 * 1024
    #: Connections: warning at this share of max_connections in use.
    connections_ratio: float = 0.8
    #: Sessions idle in a transaction longer than this (seconds) are a warning.
    idle_in_transaction_s: float = 60.0


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by category and title (a stable order for reports and tests)."""
    return sorted(findings, key=lambda f: (-_RANK[f.severity], f.category, f.title))


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    """``{"critical": n, "warning": n, "info": n}``."""
    out: dict[str, int] = dict.fromkeys(reversed(SEVERITIES), 0)
    for f in findings:
        out[f.severity] += 1
    return out


_UNITS = (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("kB", 1024))


def format_bytes(n: float) -> str:
    """``1536`` -> ``1.5 kB``: for titles and details (evidence keeps the exact bytes)."""
    for name, size in _UNITS:
        if abs(n) >= size:
            return f"{n / size:.1f} {name}"
    return f"{int(n)} B"


# PostgreSQL's reserved and type/function-name keywords (kwlist.h): a column or table with such a
# name must be double-quoted in the SQL we write.
_KEYWORDS = frozenset({
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
    "authorization", "binary", "both", "case", "cast", "check", "collate", "collation", "column",
    "concurrently", "constraint", "create", "cross", "current_catalog", "current_date",
    "current_role", "current_schema", "current_time", "current_timestamp", "current_user",
    "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch",
    "for", "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike", "in",
    "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral", "leading",
    "left", "like", "limit", "localtime", "localtimestamp", "natural", "not", "notnull", "null",
    "offset", "on", "only", "or", "order", "outer", "overlaps", "placing", "primary",
    "references", "returning", "right", "select", "session_user", "similar", "some", "symmetric",
    "system_user", "table", "tablesample", "then", "to", "trailing", "true", "union", "unique",
    "user", "using", "variadic", "verbose", "when", "where", "window", "with",
})
_BARE = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL's ``quote_ident`` writes it: bare when it can be."""
    if _BARE.fullmatch(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """``schema.name`` quoted for SQL; the schema is left out when it is ``public``."""
    return quote_ident(name) if schema == "public" else f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(text: str) -> str:
    """A SQL string literal (for ``ALTER SYSTEM SET x = '...'``)."""
    return "'" + text.replace("'", "''") + "'"
