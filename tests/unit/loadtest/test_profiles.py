"""Injection profiles: exact counts, sorted lazy arrivals, exact worker shards, rate integrals."""

from __future__ import annotations

import itertools
import math
import time
from fractions import Fraction
from statistics import NormalDist
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intperf.loadtest.profiles import (
    ClosedSchedule,
    OpenSchedule,
    closed_schedule,
    open_schedule,
)
from intperf.loadtest.workload import LoadSpec


def load(**kw: Any) -> LoadSpec:
    return LoadSpec.model_validate(kw)


def injection(*steps: dict[str, Any], seed: int = 0) -> OpenSchedule:
    return open_schedule(load(injection=list(steps)), seed=seed)


def is_sorted(xs: list[float]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(xs))


def interleave(parts: list[list[float]]) -> list[float]:
    """Arrival i of the whole schedule is arrival i // n of worker i % n."""
    n = len(parts)
    total = sum(len(p) for p in parts)
    return [parts[i % n][i // n] for i in range(total)]


# =================================================================================================
# Closed model
# =================================================================================================
def test_users_with_ramps_become_stages() -> None:
    s = closed_schedule(load(users=10, ramp_up="10s", duration="30s", ramp_down="5s"))
    assert s.duration == 45.0
    assert s.max_users == 10
    assert s.start_times() == [float(k) for k in range(10)]  # user k starts at k * 1.0 s
    expected = {0: 1, 0.5: 1, 1: 2, 5: 6, 9: 10, 9.99: 10, 10: 10, 39.99: 10, 40: 10, 41: 8}
    for t, users in expected.items():
        assert s.target_users(t) == users, t
    assert s.target_users(44.9) == 1
    assert s.target_users(45.0) == 0
    assert s.target_users(-1.0) == 0


def test_zero_ramp_up_starts_every_user_at_once() -> None:
    s = closed_schedule(load(users=7, duration="10s"))
    assert s.target_users(0.0) == 7
    assert s.start_times() == [0.0] * 7
    assert s.target_users(9.999) == 7
    assert s.target_users(10.0) == 0


def test_k6_stages_start_from_zero_and_interpolate() -> None:
    s = closed_schedule(
        load(
            stages=[
                {"duration": "10s", "target": 20},
                {"duration": "20s", "target": 20},
                {"duration": "10s", "target": 0},
            ]
        )
    )
    assert s.duration == 40.0
    assert s.max_users == 20
    assert s.start_times() == [k * 0.5 for k in range(20)]
    assert [s.target_users(t) for t in (0.0, 0.25, 0.5, 5.0, 10.0, 30.0, 35.0, 39.9)] == [
        1, 1, 2, 11, 20, 20, 10, 1,
    ]  # fmt: skip


def test_ramp_down_then_up_again_and_zero_duration_jump() -> None:
    s = closed_schedule(
        load(
            stages=[
                {"duration": 0, "target": 5},  # jump: 5 users at t = 0
                {"duration": "5s", "target": 0},
                {"duration": "5s", "target": 10},
            ]
        )
    )
    assert s.target_users(0.0) == 5
    assert s.target_users(4.5) == 1
    assert s.target_users(5.0) == 1  # rising from 0 at t=5: user 0 restarts at once
    assert s.target_users(9.99) == 10
    assert s.start_times() == [0.0] * 5 + [5.0 + (5.0 * k) / 10.0 for k in range(5, 10)]


def test_max_users_caps_a_closed_schedule() -> None:
    s = closed_schedule(load(users=50, duration="10s", max_users=20))
    assert s.max_users == 20
    assert s.target_users(1.0) == 20
    assert len(s.start_times()) == 20


def test_iterations_are_carried_and_shared_iterations_split_exactly() -> None:
    s = closed_schedule(load(users=10, duration="1m", iterations=5))
    assert s.iterations_per_user == 5
    assert s.shared_iterations is None
    shared = closed_schedule(load(users=10, duration="1m", shared_iterations=1003))
    assert shared.shared_iterations == 1003
    shares = [shared.for_worker(i, 4).shared_iterations for i in range(4)]
    # 100 per user, the 3 left over to users 0, 1, 2; workers own users 0,4,8 | 1,5,9 | 2,6 | 3,7
    assert shares == [301, 301, 201, 200]
    assert sum(s for s in shares if s is not None) == 1003


def test_without_duration_users_run_their_iterations() -> None:
    s = closed_schedule(load(users=3))
    assert s.duration == math.inf
    assert s.iterations_per_user == 1  # k6's default
    assert s.target_users(1e9) == 3
    s = closed_schedule(load(users=3, shared_iterations=10))
    assert (s.iterations_per_user, s.shared_iterations) == (None, 10)
    assert closed_schedule(load()).max_users == 1


def test_closed_schedule_refuses_an_open_model() -> None:
    with pytest.raises(ValueError, match="open model"):
        closed_schedule(load(constant_arrival_rate={"rate": 1, "duration": "1s"}))


@pytest.mark.parametrize(("i", "n"), [(-1, 2), (2, 2), (0, 0)])
def test_for_worker_checks_its_arguments(i: int, n: int) -> None:
    with pytest.raises(ValueError, match="worker"):
        closed_schedule(load(users=2)).for_worker(i, n)
    with pytest.raises(ValueError, match="worker"):
        injection({"at_once_users": 2}).for_worker(i, n)


stage = st.tuples(
    st.one_of(st.just(0.0), st.floats(0.1, 30.0)),
    st.one_of(st.integers(0, 40).map(float), st.floats(0.0, 40.0)),
)


def exact_target(stages: list[tuple[float, float]], t: float, cap: int) -> int | None:
    """Users active just after ``t`` in exact arithmetic; None when ``t`` is on an edge."""
    tt, level, t0 = Fraction(t), Fraction(0), Fraction(0)
    for d, target in stages:
        dd, b = Fraction(d), Fraction(target)
        if tt < t0 + dd:
            lv = level + (b - level) * (tt - t0) / dd
            if b != level and abs(lv - round(lv)) < Fraction(1, 10**9):
                return None  # a user starts or stops right here: float rounding decides
            if abs(tt - t0) < Fraction(1, 10**9) or abs(tt - t0 - dd) < Fraction(1, 10**9):
                return None
            return min(math.ceil(lv), cap)
        level, t0 = b, t0 + dd
    return 0


@settings(max_examples=300, deadline=None)
@given(st.lists(stage, min_size=1, max_size=6), st.floats(0.0, 1.0), st.integers(1, 60))
def test_stages_interpolate_linearly(stages: list[tuple[float, float]], u: float, cap: int) -> None:
    s = closed_schedule(
        load(stages=[{"duration": d, "target": x} for d, x in stages], max_users=cap)
    )
    t = u * s.duration
    expected = exact_target(stages, t, cap)
    assume(expected is not None)
    assert s.target_users(t) == expected


@settings(deadline=None)
@given(st.lists(stage, min_size=1, max_size=6), st.integers(1, 60))
def test_start_times_agree_with_target_users(stages: list[tuple[float, float]], cap: int) -> None:
    s = closed_schedule(
        load(stages=[{"duration": d, "target": x} for d, x in stages], max_users=cap)
    )
    starts = s.start_times()
    assert len(starts) == s.max_users
    assert is_sorted(starts)
    for k, t in enumerate(starts):
        assert s.target_users(t) > k  # user k is active from its start time on
        if t > 0 and all(x < t for x in starts[:k]):  # first activation, not a restart
            assert s.target_users(math.nextafter(t, 0.0)) <= k


@settings(deadline=None)
@given(
    st.lists(stage, min_size=1, max_size=5),
    st.integers(1, 7),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10),
    st.integers(1, 5000),
)
def test_closed_worker_shards_partition_users(
    stages: list[tuple[float, float]], n: int, us: list[float], shared: int
) -> None:
    s = closed_schedule(
        load(stages=[{"duration": d, "target": x} for d, x in stages], shared_iterations=shared)
    )
    workers = [s.for_worker(i, n) for i in range(n)]
    assert sorted(itertools.chain.from_iterable(w.users for w in workers)) == list(s.users)
    assert sum(w.max_users for w in workers) == s.max_users
    assert sum(w.shared_iterations or 0 for w in workers) == shared or s.max_users == 0
    for u in us:
        t = u * s.duration
        assert sum(w.target_users(t) for w in workers) == s.target_users(t)
    merged = sorted((k, t) for w in workers for k, t in zip(w.users, w.start_times(), strict=True))
    assert [t for _, t in merged] == s.start_times()


def test_nested_worker_shares_compose() -> None:
    s = closed_schedule(load(users=30, ramp_up="30s", duration="1s"))
    assert s.for_worker(1, 2).for_worker(2, 3) == s.for_worker(5, 6)
    assert isinstance(s.for_worker(0, 1), ClosedSchedule)


# =================================================================================================
# Open model
# =================================================================================================
def test_constant_users_per_sec_is_exact() -> None:
    s = injection({"constant_users_per_sec": 20, "during": "15s"})
    arrivals = list(s.arrivals())
    assert len(arrivals) == s.expected_count() == 300
    assert arrivals == [k / 20 for k in range(300)]
    assert s.duration == 15.0


def test_gatling_steps_follow_each_other() -> None:
    s = injection(
        {"nothing_for": "2s"},
        {"at_once_users": 10},
        {"ramp_users": 50, "during": "10s"},
        {"constant_users_per_sec": 20, "during": "15s"},
        {"ramp_users_per_sec": {"from": 10, "to": 20}, "during": "10s"},
        {"stress_peak_users": 1000, "during": "20s"},
    )
    a = list(s)
    assert s.duration == 57.0
    assert len(a) == s.expected_count() == 10 + 50 + 300 + 150 + 1000
    assert a[:10] == [2.0] * 10
    assert a[10:60] == [2.0 + k * 10 / 50 for k in range(50)]
    assert a[60] == 12.0
    assert a[360] == 27.0
    assert all(27.0 <= t < 37.0 for t in a[360:510])
    assert all(37.0 <= t < 57.0 for t in a[510:])
    assert is_sorted(a)


def test_ramp_users_per_sec_inverts_the_integral_exactly() -> None:
    s = injection({"ramp_users_per_sec": {"from": 0, "to": 10}, "during": "10s"})
    a = list(s)
    assert len(a) == 50  # (0 + 10) / 2 * 10
    for k, t in enumerate(a):
        assert t * t / 2 == pytest.approx(k, abs=1e-9)  # Lambda(t) = t^2 / 2


@settings(deadline=None)
@given(st.floats(0.0, 200.0), st.floats(0.0, 200.0), st.floats(0.01, 30.0), st.integers(0, 3))
def test_ramp_rates_integrate_to_the_arrival_number(
    r1: float, r2: float, d: float, pause: int
) -> None:
    s = injection(
        {"nothing_for": pause}, {"ramp_users_per_sec": {"from": r1, "to": r2}, "during": d}
    )
    a = list(s)
    area = (r1 + r2) / 2 * d
    assert len(a) == s.expected_count() == math.floor(area + 0.5 + 1e-9 * max(1.0, area))
    for k, t in enumerate(a):
        x = t - pause
        assert 0.0 <= x < d
        integral = r1 * x + (r2 - r1) * x * x / (2 * d)
        assert math.isclose(integral, k, rel_tol=1e-9, abs_tol=1e-6), (k, integral)


def test_stress_peak_follows_gatlings_heaviside() -> None:
    n, d = 1000, 20.0
    a = list(injection({"stress_peak_users": n, "during": d}))
    assert len(a) == n
    assert a[0] == 0.0
    assert is_sorted(a)
    assert all(0.0 <= t < d for t in a)
    # Gatling: arrival i at d * (x_i - x_1) / (2|x_1|), x_i the normal quantile of i / (n + 2).
    x1 = NormalDist().inv_cdf(1 / (n + 2))
    for i, t in enumerate(a, start=1):
        z = t / d * (-2 * x1) + x1
        assert (1 + math.erf(z / math.sqrt(2))) / 2 == pytest.approx(i / (n + 2), rel=1e-9)
    assert sum(1 for t in a if t < d / 2) == pytest.approx(n / 2, abs=1)  # symmetric S-curve


def test_degenerate_steps() -> None:
    assert list(injection({"ramp_users": 5, "during": 0})) == [0.0] * 5
    s = injection({"stress_peak_users": 0, "during": "3s"}, {"at_once_users": 1})
    assert list(s) == [3.0]
    assert list(injection({"stress_peak_users": 3, "during": 0})) == [0.0] * 3
    assert list(injection({"constant_users_per_sec": 0, "during": "5s"})) == []
    assert list(injection({"constant_users_per_sec": 0.1, "during": "30s"})) == [0.0, 10.0, 20.0]


def test_k6_constant_arrival_rate() -> None:
    s = open_schedule(load(constant_arrival_rate={"rate": 100, "time_unit": "1s", "duration": 30}))
    a = list(s)
    assert len(a) == s.expected_count() == 3000
    assert a[0] == 0.0
    assert a[1] == pytest.approx(0.01)
    per_minute = open_schedule(
        load(constant_arrival_rate={"rate": 60, "time_unit": "1m", "duration": "10s"})
    )
    assert list(per_minute) == [float(k) for k in range(10)]
    fractional = open_schedule(load(constant_arrival_rate={"rate": 1, "duration": "2.5s"}))
    assert list(fractional) == [0.0, 1.0, 2.0]  # every start time before the end


def test_k6_ramping_arrival_rate() -> None:
    s = open_schedule(
        load(
            ramping_arrival_rate={
                "start_rate": 10,
                "time_unit": "1s",
                "stages": [{"target": 100, "duration": "10s"}],
            }
        )
    )
    a = list(s)
    assert len(a) == s.expected_count() == 550  # (10 + 100) / 2 * 10
    for k, t in enumerate(a, start=1):  # k6: iteration i when the area reaches i
        assert 10 * t + 4.5 * t * t == pytest.approx(k, rel=1e-12)
    assert a[-1] == 10.0


def test_k6_ramping_arrival_rate_across_flat_zero_and_jump_stages() -> None:
    s = open_schedule(
        load(
            ramping_arrival_rate={
                "start_rate": 0,
                "time_unit": "1s",
                "stages": [
                    {"target": 0, "duration": "2s"},  # nothing
                    {"target": 4, "duration": 0},  # jump to 4/s
                    {"target": 4, "duration": "2.5s"},  # 10 iterations
                    {"target": 0, "duration": "2s"},  # 4 iterations
                ],
            }
        )
    )
    a = list(s)
    assert s.duration == 6.5
    assert a[:10] == pytest.approx([2.0 + (k + 1) / 4 for k in range(10)])
    assert len(a) == 14
    assert a[-1] == pytest.approx(6.5)


def test_randomized_steps_are_seeded_exact_in_count_and_poisson_like() -> None:
    steps = (
        {"constant_users_per_sec": 1000, "during": "10s", "randomized": True},
        {"ramp_users_per_sec": {"from": 0, "to": 1000}, "during": "10s", "randomized": True},
    )
    a = list(injection(*steps, seed=1))
    assert len(a) == 15_000
    assert is_sorted(a)
    assert a == list(injection(*steps, seed=1))
    assert a != list(injection(*steps, seed=2))
    assert a[:10] != [k / 1000 for k in range(10)]
    const, ramp = a[:10_000], a[10_000:]
    assert all(0.0 <= t <= 10.0 for t in const)
    assert all(10.0 <= t <= 20.0 for t in ramp)
    # Kolmogorov-Smirnov distance to the rate's CDF (fixed seed: deterministic).
    ks_const = max(abs(t / 10 - (i + 0.5) / len(const)) for i, t in enumerate(const))
    ks_ramp = max(abs(((t - 10) / 10) ** 2 - (i + 0.5) / len(ramp)) for i, t in enumerate(ramp))
    assert ks_const < 1.63 / math.sqrt(len(const))  # 1% level
    assert ks_ramp < 1.63 / math.sqrt(len(ramp))
    gaps = [b - c for c, b in itertools.pairwise(const)]
    mean = sum(gaps) / len(gaps)
    cv = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps)) / mean
    assert cv == pytest.approx(1.0, abs=0.05)  # exponential gaps: coefficient of variation 1


def test_arrivals_are_lazy() -> None:
    big = open_schedule(
        load(constant_arrival_rate={"rate": 50_000, "time_unit": "1s", "duration": "1h"})
    )
    assert big.expected_count() == 180_000_000
    start = time.perf_counter()
    first = list(itertools.islice(big.arrivals(), 5))
    shard = list(itertools.islice(big.for_worker(3, 4), 2))
    assert time.perf_counter() - start < 1.0
    assert first == [k / 50_000 for k in range(5)]
    assert shard == [3 / 50_000, 7 / 50_000]
    assert big.for_worker(3, 4).expected_count() == 45_000_000
    randomized = injection(
        {"constant_users_per_sec": 50_000, "during": "1h", "randomized": True}
    ).for_worker(1, 2)
    assert len(list(itertools.islice(randomized, 3))) == 3


def test_max_users_is_shared_between_workers() -> None:
    s = open_schedule(load(constant_arrival_rate={"rate": 1, "duration": 1}, max_users=10))
    assert s.max_users == 10
    assert [s.for_worker(i, 3).max_users for i in range(3)] == [4, 3, 3]


def test_open_schedule_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="closed model"):
        open_schedule(load(users=1))
    with pytest.raises(ValueError, match="time_unit"):
        open_schedule(load(constant_arrival_rate={"rate": 1, "time_unit": 0, "duration": 1}))


duration = st.one_of(st.just(0.0), st.floats(0.01, 5.0))
gatling_step = st.one_of(
    st.builds(lambda d: {"nothing_for": d}, duration),
    st.builds(lambda n: {"at_once_users": n}, st.integers(0, 20)),
    st.builds(lambda n, d: {"ramp_users": n, "during": d}, st.integers(0, 60), duration),
    st.builds(
        lambda r, d, rnd: {"constant_users_per_sec": r, "during": d, "randomized": rnd},
        st.floats(0.0, 40.0),
        duration,
        st.booleans(),
    ),
    st.builds(
        lambda a, b, d, rnd: {
            "ramp_users_per_sec": {"from": a, "to": b},
            "during": d,
            "randomized": rnd,
        },
        st.floats(0.0, 40.0),
        st.floats(0.0, 40.0),
        duration,
        st.booleans(),
    ),
    st.builds(lambda n, d: {"stress_peak_users": n, "during": d}, st.integers(0, 60), duration),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(gatling_step, min_size=1, max_size=6), st.integers(1, 6), st.integers(0, 2**16))
def test_open_schedules_are_sorted_exact_and_shard_exactly(
    steps: list[dict[str, Any]], n: int, seed: int
) -> None:
    s = injection(*steps, seed=seed)
    a = list(s.arrivals())
    assert len(a) == s.expected_count()
    assert is_sorted(a)
    assert all(0.0 <= t <= s.duration for t in a)
    parts = [list(s.for_worker(i, n)) for i in range(n)]
    assert [len(p) for p in parts] == [s.for_worker(i, n).expected_count() for i in range(n)]
    assert interleave(parts) == a


@settings(deadline=None)
@given(
    st.floats(0.0, 200.0),
    st.lists(st.tuples(st.floats(0.0, 200.0), duration), min_size=1, max_size=5),
    st.sampled_from(["1s", "1m", "100ms"]),
    st.integers(1, 5),
)
def test_k6_ramping_counts_and_shards(
    start: float, stages: list[tuple[float, float]], unit: str, n: int
) -> None:
    s = open_schedule(
        load(
            ramping_arrival_rate={
                "start_rate": start,
                "time_unit": unit,
                "stages": [{"target": x, "duration": d} for x, d in stages],
            }
        )
    )
    a = list(s)
    assert len(a) == s.expected_count()
    assert is_sorted(a)
    assert all(0.0 <= t <= s.duration for t in a)
    assert interleave([list(s.for_worker(i, n)) for i in range(n)]) == a
