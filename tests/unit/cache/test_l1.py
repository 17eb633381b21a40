"""W-TinyLFU and LRU L1 caches: size bound, TTL, admission."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.cache.l1 import CountMinSketch, Doorkeeper, LruCache, TinyLfuCache, spread


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 40), st.one_of(st.none(), st.floats(0.5, 20))),
        st.tuples(st.just("get"), st.integers(0, 40), st.none()),
        st.tuples(st.just("del"), st.integers(0, 40), st.none()),
        st.tuples(st.just("tick"), st.integers(0, 0), st.floats(0, 10)),
    ),
    max_size=300,
)


@pytest.mark.parametrize("kind", ["tinylfu", "lru"])
@settings(max_examples=150, deadline=None)
@given(maxsize=st.integers(1, 30), script=ops)
def test_model(kind: str, maxsize: int, script: list[tuple[str, int, float | None]]) -> None:
    """Size bound never exceeded; a get never returns an expired or wrong value; a get right
    after a set (within TTL) returns the value (the set key is always kept at first)."""
    clock = FakeClock()
    cache: TinyLfuCache[int, tuple[int, int]] | LruCache[int, tuple[int, int]]
    if kind == "tinylfu":
        cache = TinyLfuCache(maxsize, clock=clock)
    else:
        cache = LruCache(maxsize, clock=clock)
    model: dict[int, tuple[tuple[int, int], float]] = {}
    for version, (op, key, arg) in enumerate(script):
        if op == "set":
            value = (key, version)
            cache.set(key, value, arg)
            model[key] = (value, clock.now + arg if arg is not None else float("inf"))
            assert cache.get(key) == value
        elif op == "get":
            got = cache.get(key)
            if got is not None:
                want, expires = model[key]
                assert got == want
                assert expires > clock.now
            elif key in model and model[key][1] <= clock.now:
                del model[key]
        elif op == "del":
            cache.delete(key)
            model.pop(key, None)
            assert cache.get(key) is None
        else:
            clock.now += arg or 0.0
        assert len(cache) <= maxsize
        assert cache.stats().size == len(cache)


def test_ttl_expires() -> None:
    clock = FakeClock()
    cache: TinyLfuCache[str, int] = TinyLfuCache(10, clock=clock)
    cache.set("a", 1, 5.0)
    clock.now = 4.9
    assert cache.get("a") == 1
    clock.now = 5.0
    assert cache.get("a") is None
    assert cache.stats().expirations == 1


def test_sketch_counts_and_halves() -> None:
    sketch = CountMinSketch(64, sample_size=1000)
    for _ in range(20):
        sketch.increment(spread("hot"))
    assert sketch.estimate(spread("hot")) == 15  # 4-bit ceiling
    assert sketch.estimate(spread("cold")) <= 1
    for i in range(2000):
        sketch.increment(spread(i))
    assert sketch.resets >= 1
    assert sketch.estimate(spread("hot")) < 15


def test_doorkeeper() -> None:
    door = Doorkeeper(1024)
    x = spread("x")
    assert not door.add(x)
    assert door.add(x)
    assert door.contains(x)
    door.clear()
    assert not door.contains(x)


def test_frequent_keys_survive_a_scan() -> None:
    """A one-pass scan must not flush the hot set (LRU does; W-TinyLFU does not)."""
    hot = list(range(50))
    tiny: TinyLfuCache[int, int] = TinyLfuCache(100)
    lru: LruCache[int, int] = LruCache(100)
    for cache in (tiny, lru):
        for _ in range(20):
            for k in hot:
                if cache.get(k) is None:
                    cache.set(k, k)
        for k in range(1000, 5000):  # the scan
            if cache.get(k) is None:
                cache.set(k, k)
    assert sum(tiny.get(k) is not None for k in hot) >= 45
    assert sum(lru.get(k) is not None for k in hot) == 0
