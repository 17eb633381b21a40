"""Pool sizing: HikariCP's formula, Little's law, the hikari keys and the cross-checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.dbopt.pool import (
    HIKARI_PREFIX,
    PoolInputs,
    advise_pool,
    effective_spindles,
    hikari_pool_size,
    littles_law,
)

P = HIKARI_PREFIX


def test_hikari_formula() -> None:
    # The HikariCP wiki's example: a 4-core i7 with one hard disk -> 9 connections.
    assert hikari_pool_size(4, 1) == 9
    assert hikari_pool_size(16, 0) == 32


@pytest.mark.parametrize(("storage", "disks", "hit", "expected"), [
    ("hdd", 4, 0.95, 4), ("hdd", 4, 0.995, 0), ("ssd", 8, 0.5, 1), ("nvme", 1, None, 1),
    ("hdd", 0, None, 1),
])
def test_effective_spindles(storage: str, disks: int, hit: float | None, expected: int) -> None:
    assert effective_spindles(storage, disks, hit) == expected


def test_littles_law() -> None:
    # 1,000 statements/s that take 8 ms each keep 8 busy on average.
    law = littles_law(calls=60_000, exec_ms=480_000, seconds=60)
    assert law is not None
    assert law.arrival_rate == pytest.approx(1000)
    assert law.mean_seconds == pytest.approx(0.008)
    assert law.concurrency == pytest.approx(8)
    assert littles_law(0, 0, 60) is None and littles_law(10, 10, 0) is None


@given(calls=st.floats(1, 1e9), exec_ms=st.floats(0, 1e12), seconds=st.floats(1e-3, 1e7))
def test_littles_law_is_busy_time_over_elapsed_time(calls: float, exec_ms: float,
                                                    seconds: float) -> None:
    law = littles_law(calls, exec_ms, seconds)
    assert law is not None
    assert law.concurrency == pytest.approx(exec_ms / 1000 / seconds, rel=1e-9, abs=1e-12)


def test_formula_sets_the_pool_with_all_reference_keys() -> None:
    advice = advise_pool(PoolInputs(cores=4, spindles=1,
                                    littles=littles_law(36_000, 72_000, 3600)))  # L = 0.02
    assert advice.keys == {f"{P}maximum-pool-size": 9, f"{P}minimum-idle": 9,
                           f"{P}connection-timeout": 30_000, f"{P}idle-timeout": 600_000,
                           f"{P}max-lifetime": 1_800_000}
    assert set(advice.reasons) == set(advice.keys)
    assert "(4 cores x 2) + 1" in advice.reasons[f"{P}maximum-pool-size"]
    assert advice.formula_size == 9 and advice.needed == 1
    assert advice.findings == []
    assert "      maximum-pool-size: 9" in advice.yaml()


def test_load_beyond_the_formula_is_a_finding_not_a_bigger_pool() -> None:
    # 12 busy on average: 15 needed at 80% utilization, the server does best with 6.
    advice = advise_pool(PoolInputs(cores=3, spindles=0, littles=littles_law(1200, 12_000, 1)))
    assert advice.keys[f"{P}maximum-pool-size"] == 6
    assert advice.needed == 15
    [finding] = advice.findings
    assert finding.category == "pool.saturated" and finding.severity == "critical"  # > 2x
    assert finding.evidence["formula_size"] == 6


def test_sampled_sessions_and_their_peak_count() -> None:
    advice = advise_pool(PoolInputs(cores=None, busy_sessions_mean=4.0, busy_sessions_max=7))
    assert advice.needed == 7  # the peak beats 4 / 0.8 = 5
    assert advice.keys[f"{P}maximum-pool-size"] == 7
    assert "core count unknown" in advice.reasons[f"{P}maximum-pool-size"]


def test_nothing_known_falls_back_to_hikaris_default() -> None:
    assert advise_pool(PoolInputs()).keys[f"{P}maximum-pool-size"] == 10


def test_instances_share_the_formula_and_max_connections_is_checked() -> None:
    advice = advise_pool(PoolInputs(cores=8, spindles=0, app_instances=4, max_connections=10,
                                    reserved_connections=3))
    assert advice.keys[f"{P}maximum-pool-size"] == 4  # 16 / 4 instances
    [finding] = advice.findings
    assert finding.category == "pool.max-connections" and finding.severity == "critical"
    assert finding.evidence["pool_total"] == 16


def test_many_idle_connections_are_reported() -> None:
    advice = advise_pool(PoolInputs(cores=2, spindles=0, open_sessions=40,
                                    busy_sessions_mean=1.0))
    assert [f.category for f in advice.findings] == ["pool.oversized"]


def test_idle_session_timeout_caps_lifetimes() -> None:
    advice = advise_pool(PoolInputs(cores=2, idle_session_timeout_ms=300_000))
    assert advice.keys[f"{P}max-lifetime"] == 270_000
    assert advice.keys[f"{P}idle-timeout"] == 269_000
    assert advice.keys[f"{P}keepalive-time"] == 150_000
    assert "idle_session_timeout" in advice.reasons[f"{P}max-lifetime"]
    tiny = advise_pool(PoolInputs(cores=2, idle_session_timeout_ms=20_000))
    assert tiny.keys[f"{P}max-lifetime"] >= 30_000 and tiny.keys[f"{P}idle-timeout"] >= 10_000
    assert [f.category for f in tiny.findings] == ["pool.idle-session-timeout"]
