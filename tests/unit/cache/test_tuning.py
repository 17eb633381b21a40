"""The TTL tuner: bounds and step always hold (Hypothesis), and each rule with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.cache.tuning import (
    RegionState,
    TtlBounds,
    TtlChange,
    TtlTuner,
    TunerConfig,
    WindowSample,
    bounded_step,
)

NOW = 1_800_000_000.0


def windows(hit_rate: float, n: int = 3, count: int = 1000, *, storm: bool = False,
            end_s: float = NOW) -> list[WindowSample]:
    out = []
    for i in range(n):
        end = int((end_s - 300 * i) * 1000)
        out.append(WindowSample(end - 300_000, end, count, round(count * hit_rate), storm))
    return out


@st.composite
def bounded_cases(draw: st.DrawFn) -> tuple[TtlBounds, float, float]:
    lo = draw(st.floats(0.5, 1e5))
    hi = draw(st.floats(lo, 1e6))
    step = draw(st.floats(0.01, 0.9))
    current = draw(st.floats(lo, hi))
    wanted = draw(st.floats(0.0, 1e7))
    return TtlBounds(lo, hi, step), current, wanted


@given(bounded_cases())
def test_a_step_stays_within_bounds_and_the_max_step(case: tuple[TtlBounds, float, float]
                                                     ) -> None:
    bounds, current, wanted = case
    new = bounded_step(current, wanted, bounds)
    assert bounds.min_s <= new <= bounds.max_s
    assert abs(new - current) <= bounds.max_step * current * (1 + 1e-12)


@given(bounded_cases(), st.floats(0.0, 1.0), st.integers(0, 5), st.booleans(),
       st.floats(0.05, 0.5), st.floats(0.55, 0.99))
def test_proposals_stay_within_bounds_and_the_max_step(
        case: tuple[TtlBounds, float, float], hit_rate: float, n: int, storm: bool,
        low: float, high: float) -> None:
    bounds, current, _ = case
    tuner = TtlTuner(TunerConfig(low_hit_rate=low, high_hit_rate=high, min_windows=1,
                                 min_accesses=1))
    state = RegionState("r", {"": current, "user": bounds.clamp(current * 1.5)}, bounds,
                        windows(hit_rate, n, storm=storm))
    decisions, reason = tuner.propose(state, NOW)
    assert reason
    for d in decisions:
        assert bounds.min_s <= d.new_ttl_s <= bounds.max_s
        assert abs(d.new_ttl_s - d.old_ttl_s) <= bounds.max_step * d.old_ttl_s * (1 + 1e-12)
        assert d.new_ttl_s != d.old_ttl_s


def tuner() -> TtlTuner:
    return TtlTuner(TunerConfig(low_hit_rate=0.85, high_hit_rate=0.97, cooldown_s=900))


BOUNDS = TtlBounds(10, 3600, 0.25)


def test_a_low_hit_rate_lengthens_by_at_most_one_step() -> None:
    decisions, reason = tuner().propose(RegionState("r", {"": 100.0, "user": 40.0}, BOUNDS,
                                                    windows(0.5)), NOW)
    assert [(d.key_class, d.new_ttl_s) for d in decisions] == [("", 125.0), ("user", 50.0)]
    assert "below 85%" in reason
    assert decisions[0].evidence["hit_rate"] == 0.5


def test_a_small_shortfall_asks_for_less_than_a_step() -> None:
    # odds(0.85)/odds(0.84) = 1.079: the TTL the model says reaches the target.
    (d,), _ = tuner().propose(RegionState("r", {"": 100.0}, BOUNDS, windows(0.84)), NOW)
    assert 107 < d.new_ttl_s < 109


def test_a_very_high_hit_rate_shortens_for_fresher_data() -> None:
    (d,), reason = tuner().propose(RegionState("r", {"": 1000.0}, BOUNDS, windows(0.995)), NOW)
    assert d.new_ttl_s == 750.0
    assert "fresher" in reason


def test_within_the_band_nothing_changes() -> None:
    assert tuner().propose(RegionState("r", {"": 100.0}, BOUNDS, windows(0.9)), NOW)[0] == []


def test_storms_block_shortening_and_count_for_lengthening() -> None:
    assert tuner().propose(RegionState("r", {"": 100.0}, BOUNDS,
                                       windows(0.995, storm=True)), NOW)[0] == []
    (d,), reason = tuner().propose(RegionState("r", {"": 100.0}, BOUNDS,
                                               windows(0.9, storm=True)), NOW)
    assert d.new_ttl_s > 100 and "storm" in reason


def test_not_enough_evidence() -> None:
    decisions, reason = tuner().propose(RegionState("r", {"": 100.0}, BOUNDS,
                                                    windows(0.1, n=1)), NOW)
    assert decisions == [] and "evidence" in reason
    decisions, _ = tuner().propose(RegionState("r", {"": 100.0}, BOUNDS,
                                               windows(0.1, count=10)), NOW)
    assert decisions == []


def test_cooldown_after_a_change_and_only_windows_after_it_count() -> None:
    last = TtlChange(NOW - 600, +1, 0.5)
    decisions, reason = tuner().propose(RegionState("r", {"": 125.0}, BOUNDS, windows(0.5),
                                                    last), NOW)
    assert decisions == [] and "cooling" in reason
    # After the cooldown, windows that began before the change are not evidence.
    last = TtlChange(NOW - 350, +1, 0.5)
    decisions, reason = TtlTuner(TunerConfig(cooldown_s=0)).propose(
        RegionState("r", {"": 125.0}, BOUNDS, windows(0.5), last), NOW)
    assert decisions == [] and "evidence" in reason


def test_a_lengthening_that_did_not_help_is_not_repeated() -> None:
    last = TtlChange(NOW - 3000, +1, 0.5)
    decisions, reason = tuner().propose(RegionState("r", {"": 125.0}, BOUNDS, windows(0.505),
                                                    last), NOW)
    assert decisions == [] and "not from expiry" in reason
    (d,), _ = tuner().propose(RegionState("r", {"": 125.0}, BOUNDS, windows(0.6), last), NOW)
    assert d.new_ttl_s > 125


def test_at_the_bound_nothing_is_proposed_and_outside_is_left_alone() -> None:
    assert tuner().propose(RegionState("r", {"": 3600.0}, BOUNDS, windows(0.5)), NOW)[0] == []
    decisions, reason = tuner().propose(RegionState("r", {"": 5.0, "a": 100.0}, BOUNDS,
                                                    windows(0.5)), NOW)
    assert [d.key_class for d in decisions] == ["a"]
    assert "left alone" in reason


def test_bounds_validate() -> None:
    with pytest.raises(ValueError, match="max_step"):
        TtlBounds(1, 2, 1.5)
    with pytest.raises(ValueError, match="min_s"):
        TtlBounds(5, 2)
    assert TtlBounds.from_dict(BOUNDS.to_dict()) == BOUNDS
