"""Multi-level cache-aside: W-TinyLFU L1 in process, Redis L2, stampede protection,
invalidation across processes, warming and metrics. See docs/cache.md.

Importing this package connects to nothing and starts nothing.
"""

from intperf.cache.decorators import cached
from intperf.cache.l1 import CacheStats, L1Cache, LruCache, TinyLfuCache
from intperf.cache.l2 import CacheBackendError
from intperf.cache.metrics import CacheCounts, RegionMetrics
from intperf.cache.multilevel import Cache, default_key_class
from intperf.cache.policy import Entry, TtlPolicy
from intperf.cache.serializers import (
    JsonSerializer,
    MsgpackSerializer,
    PickleSerializer,
    Serializer,
    serializer,
)
from intperf.cache.sync import SyncCache
from intperf.cache.tuning import TtlBounds, TtlTuner

__all__ = [
    "Cache",
    "CacheBackendError",
    "CacheCounts",
    "CacheStats",
    "Entry",
    "JsonSerializer",
    "L1Cache",
    "LruCache",
    "MsgpackSerializer",
    "PickleSerializer",
    "RegionMetrics",
    "Serializer",
    "SyncCache",
    "TinyLfuCache",
    "TtlBounds",
    "TtlPolicy",
    "TtlTuner",
    "cached",
    "default_key_class",
    "serializer",
]
