"""PostgreSQL analysis and optimization advice (docs/dbopt.md; the contracts between the
modules in docs/internals-dbopt.md). The index advisor lives in ``intperf.dbopt.index_advisor``."""

from intperf.dbopt.analyze import AnalysisOptions, AnalysisReport, analyze
from intperf.dbopt.connection import TargetDatabaseError, connect_target, redact_dsn
from intperf.dbopt.findings import Finding, Severity, Thresholds
from intperf.dbopt.pool import PoolAdvice
from intperf.dbopt.tuning import Machine, SettingAdvice
from intperf.dbopt.workload import Statement, read_workload

__all__ = [
    "AnalysisOptions",
    "AnalysisReport",
    "Finding",
    "Machine",
    "PoolAdvice",
    "SettingAdvice",
    "Severity",
    "Statement",
    "TargetDatabaseError",
    "Thresholds",
    "analyze",
    "connect_target",
    "read_workload",
    "redact_dsn",
]
