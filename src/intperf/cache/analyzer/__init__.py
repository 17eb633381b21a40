"""Redis analyzer: INFO deltas, sampled keyspace, SLOWLOG and configuration review with
recommendations (docs/cache.md, "Analyzing a Redis")."""

from intperf.cache.analyzer.patterns import key_pattern
from intperf.cache.analyzer.rules import Recommendation, recommend
from intperf.cache.analyzer.stats import InfoDelta, KeySample, info_delta, ttl_histogram

__all__ = ["InfoDelta", "KeySample", "Recommendation", "info_delta", "key_pattern",
           "recommend", "ttl_histogram"]
