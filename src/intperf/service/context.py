"""Everything the service's routes share, built in one place (no globals, nothing at import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intperf.config import Settings
from intperf.service.alerts import AlertDispatcher
from intperf.service.auth import Authenticator, RateLimiter
from intperf.service.executor import RunExecutor
from intperf.store import (
    ApiKeyRepository,
    AuditRepository,
    BaselineRepository,
    Database,
    RunRepository,
    ScheduleRepository,
)


@dataclass(slots=True)
class ServiceContext:
    """State of one service instance, hung off ``app.state.ctx``."""

    settings: Settings
    db: Database
    runs: RunRepository
    baselines: BaselineRepository
    schedules: ScheduleRepository
    keys: ApiKeyRepository
    audit: AuditRepository
    auth: Authenticator
    submissions: RateLimiter
    executor: RunExecutor
    alerts: AlertDispatcher
    scheduler: Any = None

    @classmethod
    def build(cls, settings: Settings, db: Database, alerts: AlertDispatcher) -> ServiceContext:
        """Wire the repositories, auth and executor onto ``db``."""
        runs = RunRepository(db)
        keys = ApiKeyRepository(db)
        return cls(
            settings=settings, db=db, runs=runs, baselines=BaselineRepository(db),
            schedules=ScheduleRepository(db), keys=keys, audit=AuditRepository(db),
            auth=Authenticator(keys),
            submissions=RateLimiter(settings.intperf.limits.submissions_per_minute),
            executor=RunExecutor(settings, runs), alerts=alerts,
        )
