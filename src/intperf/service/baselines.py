"""The baseline of each scenario, cached briefly: every run detail says whether it is one.

``GET /runs/{id}`` is what dashboards poll; looking the baseline up in the database on each
call was a whole query per request (benchmarks/service). Changes made through this service
are seen at once; one made by another instance sharing the database, or a baseline removed
with its run by retention, within ``ttl`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from intperf.store import BaselineRecord, BaselineRepository


class CachedBaselines:
    """``BaselineRepository`` with a per-scenario cache of ``get``."""

    def __init__(self, repo: BaselineRepository, *, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._repo = repo
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, scenario: str) -> str | None:
        """The baseline run id of ``scenario``, or None (at most ``ttl`` seconds old)."""
        with self._lock:
            hit = self._cache.get(scenario)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        run_id = self._repo.get(scenario)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[scenario] = (run_id, self._clock() + self._ttl)
        return run_id

    def set(self, scenario: str, run_id: str, by: str | None) -> None:
        """Make ``run_id`` the baseline of ``scenario`` (seen by ``get`` at once)."""
        self._repo.set(scenario, run_id, by)
        with self._lock:
            self._cache.pop(scenario, None)

    def delete(self, scenario: str) -> bool:
        """Forget the baseline of ``scenario``."""
        done = self._repo.delete(scenario)
        with self._lock:
            self._cache.pop(scenario, None)
        return done

    def list(self) -> list[BaselineRecord]:
        """Every baseline, by scenario (from the database)."""
        return self._repo.list()
