"""CachedBaselines: one query per scenario per TTL; changes made here are seen at once."""

from __future__ import annotations

from typing import Any, cast

from intperf.service.baselines import CachedBaselines
from intperf.store import BaselineRepository


class FakeRepo:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.gets = 0

    def get(self, scenario: str) -> str | None:
        self.gets += 1
        return self.data.get(scenario)

    def set(self, scenario: str, run_id: str, by: str | None) -> None:
        self.data[scenario] = run_id

    def delete(self, scenario: str) -> bool:
        return self.data.pop(scenario, None) is not None

    def list(self) -> list[Any]:
        return sorted(self.data.items())


def cached(repo: FakeRepo, now: list[float]) -> CachedBaselines:
    return CachedBaselines(cast(BaselineRepository, repo), ttl=5.0, clock=lambda: now[0])


def test_get_is_cached_for_the_ttl_including_misses() -> None:
    repo, now = FakeRepo(), [0.0]
    baselines = cached(repo, now)
    assert baselines.get("shop") is None
    repo.data["shop"] = "r1"  # written by another instance
    assert baselines.get("shop") is None and repo.gets == 1
    now[0] = 5.1
    assert baselines.get("shop") == "r1" and repo.gets == 2
    assert baselines.get("shop") == "r1" and repo.gets == 2


def test_set_and_delete_through_the_cache_are_seen_at_once() -> None:
    repo, now = FakeRepo(), [0.0]
    baselines = cached(repo, now)
    assert baselines.get("shop") is None
    baselines.set("shop", "r2", "ci")
    assert baselines.get("shop") == "r2"
    assert baselines.delete("shop") is True
    assert baselines.get("shop") is None
    assert baselines.list() == []
