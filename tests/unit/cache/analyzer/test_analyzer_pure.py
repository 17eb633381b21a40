"""Pure parts of the Redis analyzer: patterns, INFO deltas, TTL histogram, rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.cache.analyzer.patterns import key_pattern, matches
from intperf.cache.analyzer.rules import pattern_stats, recommend, suggest_ttl_s
from intperf.cache.analyzer.stats import KeySample, info_delta, ttl_histogram


@pytest.mark.parametrize(("key", "pattern"), [
    ("user:42:profile", "user:*:profile"),
    ("session:3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b", "session:*"),
    ("img/deadbeef01/thumb.png", "img/*/thumb.png"),
    ("config", "config"),
    ("cart.17", "cart.*"),
    ("a::b", "a::b"),
    ("intperf:cache:catalog:{user:42}", "intperf:cache:catalog:{user:*}"),
    ("intperf:cache:catalog:{user:42}:lock", "intperf:cache:catalog:{user:*}:lock"),
    ("order:{17}", "order:{*}"),
    ("{}", "{}"),
])
def test_key_pattern(key: str, pattern: str) -> None:
    assert key_pattern(key) == pattern
    assert matches(key, pattern)


@given(st.text(alphabet="ab01:/.-f9{}", max_size=30))
def test_pattern_is_idempotent_and_matches(key: str) -> None:
    pattern = key_pattern(key)
    assert key_pattern(pattern) == pattern
    assert matches(key, pattern)


def test_braced_star_matches_only_within_its_braces() -> None:
    assert matches("order:{17}", "order:{*}")
    assert not matches("order:17", "order:{*}")
    assert not matches("order:{}", "order:{*}")
    assert not matches("order:{17", "order:{*}")


def test_info_delta() -> None:
    start = {"keyspace_hits": 100, "keyspace_misses": 50, "total_commands_processed": 1000,
             "evicted_keys": 0, "expired_keys": 5}
    end = {"keyspace_hits": 190, "keyspace_misses": 60, "total_commands_processed": 1500,
           "evicted_keys": 20, "expired_keys": 15, "used_memory": 1024, "maxmemory": 0,
           "mem_fragmentation_ratio": 1.2, "connected_clients": 3}
    d = info_delta(start, end, 5.0)
    assert d.hit_ratio == pytest.approx(0.9)
    assert d.ops_per_s == pytest.approx(100)
    assert d.evictions_per_s == pytest.approx(4)
    assert d.expirations_per_s == pytest.approx(2)
    assert d.fragmentation_ratio == pytest.approx(1.2)
    assert info_delta(end, end, 5.0).hit_ratio is None


def test_ttl_histogram() -> None:
    h = ttl_histogram([-1, -1, -2, 5, 100, 4000, 10**7])
    assert h["no-ttl"] == 2
    assert h["<1m"] == 1
    assert h["1m-10m"] == 1
    assert h["1h-1d"] == 1
    assert h[">7d"] == 1


def _samples() -> list[KeySample]:
    return [KeySample(f"user:{i}", "string", -1, 100, idle_s=i) for i in range(10)] + [
        KeySample(f"sess:{i}", "string", 300, 50) for i in range(5)]


def test_pattern_stats_and_volatile_rule() -> None:
    samples = _samples()
    stats = pattern_stats(samples, {s.key: key_pattern(s.key) for s in samples})
    assert [(p.pattern, p.keys, p.no_ttl) for p in stats] == [("user:*", 10, 10),
                                                               ("sess:*", 5, 0)]
    recs = {r.category: r for r in recommend(None, "volatile-lru", 0, stats)}
    assert recs["ttl.missing-under-volatile"].evidence["keys_without_ttl"] == 10
    assert "memory.no-limit" in recs
    assert recs["ttl.suggestion"].evidence["suggested_ttl_s"] == 60
    assert "ttl.missing-under-volatile" not in {
        r.category for r in recommend(None, "allkeys-lru", 1 << 30, stats)}


def test_rules_on_info() -> None:
    end = {"keyspace_hits": 10, "keyspace_misses": 90, "evicted_keys": 50,
           "used_memory": 128 << 20, "mem_fragmentation_ratio": 2.0, "rejected_connections": 1}
    d = info_delta({}, end, 10.0)
    cats = {r.category for r in recommend(d, "allkeys-lru", 1 << 30, [])}
    assert cats == {"memory.fragmentation", "memory.evicting-with-low-hit-ratio",
                    "clients.rejected"}
    assert suggest_ttl_s(None) is None
    assert suggest_ttl_s(600) == 1200


def test_node_url_and_redaction() -> None:
    from intperf.cache.analyzer.analyze import _node_url
    from intperf.cache.analyzer.report import redact_redis_url

    assert _node_url("redis://u:p@seed:7000/0", "10.0.0.2", 7001) == "redis://u:p@10.0.0.2:7001/0"
    assert redact_redis_url("redis://u:p@h:1/0?password=x") == "redis://u:***@h:1/0?password=***"
    assert redact_redis_url("redis://h:1") == "redis://h:1"
