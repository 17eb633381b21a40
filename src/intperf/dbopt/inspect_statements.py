"""Rules on the statements of ``pg_stat_statements``: slow ones, ones that spill to temporary
files, ones that read many blocks from outside shared buffers. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from intperf.dbopt.findings import Finding, Thresholds, format_bytes, quote_literal
from intperf.dbopt.workload import Statement

__all__ = ["BLOCK_SIZE", "statement_findings", "work_mem_for_spill", "work_mem_text"]

BLOCK_SIZE = 8192
#: Shown query texts are cut to this many characters in findings (the statements list has
#: them whole).
QUERY_CHARS = 300


def work_mem_for_spill(temp_bytes_per_call: float) -> int:
    """The ``work_mem`` (bytes) that likely keeps a spill of this size in memory.

    Sorts and hashes need more memory than their temporary files take on disk (tuples carry
    in-memory headers and pointers): twice the spill, rounded up to a power of two MB, at least
    4 MB (PostgreSQL's default). A heuristic: check it with EXPLAIN (ANALYZE, BUFFERS).
    """
    need_mb = max(4.0, 2.0 * temp_bytes_per_call / 1024**2)
    return int(2 ** math.ceil(math.log2(need_mb))) * 1024**2


def work_mem_text(n: int) -> str:
    """A memory amount as a setting value: ``64MB``, ``1GB``."""
    return f"{n // 1024**3}GB" if n >= 1024**3 and n % 1024**3 == 0 else f"{n // 1024**2}MB"


def _short(query: str, limit: int = QUERY_CHARS) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _name(s: Statement) -> str:
    """How a title names a statement: the start of its text and its queryid."""
    return f"{_short(s.query, 60)!r} ({s.queryid})"


def _evidence(s: Statement, total_ms: float) -> dict[str, Any]:
    return {"queryid": s.queryid, "query": _short(s.query), "calls": s.calls,
            "mean_ms": round(s.mean_ms, 3), "total_ms": round(s.total_ms, 3),
            "share_of_time": round(s.total_ms / total_ms, 4) if total_ms else 0.0}


def statement_findings(statements: Sequence[Statement], *, thresholds: Thresholds
                       ) -> list[Finding]:
    """Slow statements, temporary-file spills and heavy disk reads, one finding each."""
    total_ms = sum(s.total_ms for s in statements)
    out: list[Finding] = []
    for s in statements:
        if s.calls >= thresholds.slow_min_calls and s.mean_ms >= thresholds.slow_mean_ms:
            critical = s.mean_ms >= thresholds.slow_critical_mean_ms
            out.append(Finding(
                "statement.slow", "critical" if critical else "warning",
                f"statement {_name(s)} takes {s.mean_ms:.1f} ms on average over "
                f"{s.calls:,} calls", _evidence(s, total_ms), None,
                "The index advice lists indexes that make it cheaper, when there are any; "
                "EXPLAIN (ANALYZE, BUFFERS) on a copy shows where the time goes."))
        if s.temp_blks_written > 0 and s.calls > 0:
            per_call = s.temp_blks_written * BLOCK_SIZE / s.calls
            need = work_mem_for_spill(per_call)
            out.append(Finding(
                "statement.temp-spill", "warning",
                f"statement {_name(s)} writes {format_bytes(per_call)} of temporary files "
                "per call",
                {**_evidence(s, total_ms), "temp_blks_written": s.temp_blks_written,
                 "temp_bytes_per_call": round(per_call),
                 "suggested_work_mem": work_mem_text(need)},
                f"SET LOCAL work_mem = {quote_literal(work_mem_text(need))};",
                "Its sorts or hashes do not fit in work_mem and go to disk. Raise work_mem "
                "for the transactions that run it (SET LOCAL, or ALTER ROLE ... SET for the "
                "role that runs it) rather than for every connection; the tuning section "
                "weighs a global change against the memory budget."))
        if s.calls > 0 and s.shared_blks_read / s.calls >= thresholds.disk_reads_per_call:
            per_call = s.shared_blks_read / s.calls
            out.append(Finding(
                "statement.disk-reads", "warning",
                f"statement {_name(s)} reads {per_call:,.0f} blocks per call from outside "
                "shared buffers",
                {**_evidence(s, total_ms), "shared_blks_read": s.shared_blks_read,
                 "shared_blks_hit": s.shared_blks_hit,
                 "blocks_read_per_call": round(per_call, 1)},
                None,
                "It reads much of a table from the OS cache or disk each time: an index that "
                "narrows the rows it visits (see the index advice) cuts those reads."))
    return out
