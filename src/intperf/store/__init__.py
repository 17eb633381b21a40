"""Persistence of runs, measurements, baselines, schedules, API keys and the audit log.

SQLite by default, PostgreSQL at scale (``run_seconds`` range-partitioned by day there);
the schema is managed by Alembic (``Database.migrate()``). See docs/storage.md.
"""

from intperf.store.alert_repository import (
    AlertDelivery,
    AlertRecord,
    AlertRepository,
    SilenceRecord,
)
from intperf.store.cache_repository import CacheAnalysisRecord, CacheAnalysisRepository
from intperf.store.database import Database
from intperf.store.dbopt_repository import DbAnalysisRecord, DbAnalysisRepository
from intperf.store.partitions import (
    drop_partitions_before,
    ensure_partitions,
    list_partitions,
    partition_name,
)
from intperf.store.records import (
    ApiKeyRecord,
    AuditRecord,
    BaselineRecord,
    RunRecord,
    ScheduleRecord,
    new_id,
)
from intperf.store.repositories import (
    LIVE_TEST_TYPE,
    ApiKeyRepository,
    AuditRepository,
    BaselineRepository,
    RunRepository,
    ScheduleRepository,
)
from intperf.store.stream_repository import StreamRepository
from intperf.store.tables import API_KEY_ROLES, RUN_STATUSES, SCHEDULE_SOURCES

__all__ = [
    "API_KEY_ROLES",
    "LIVE_TEST_TYPE",
    "RUN_STATUSES",
    "SCHEDULE_SOURCES",
    "AlertDelivery",
    "AlertRecord",
    "AlertRepository",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "AuditRecord",
    "AuditRepository",
    "BaselineRecord",
    "BaselineRepository",
    "CacheAnalysisRecord",
    "CacheAnalysisRepository",
    "Database",
    "DbAnalysisRecord",
    "DbAnalysisRepository",
    "RunRecord",
    "RunRepository",
    "ScheduleRecord",
    "ScheduleRepository",
    "SilenceRecord",
    "StreamRepository",
    "drop_partitions_before",
    "ensure_partitions",
    "list_partitions",
    "new_id",
    "partition_name",
]
