"""The in-process (L1) cache: W-TinyLFU admission with per-entry TTL and a size bound.

Design after Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission
Policy" (ACM ToS 2017) and Caffeine: a 1% window LRU in front of a segmented LRU main space
(20% probation, 80% protected); a window victim enters the main space only when its estimated
frequency beats the probation victim's. Pure: the clock is injected, nothing does I/O.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "CacheStats", "CountMinSketch", "Doorkeeper", "L1Cache", "LruCache", "TinyLfuCache", "spread",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Clock = Callable[[], float]

_MASK64 = (1 << 64) - 1
#: Odd 64-bit constants (splitmix64 / Caffeine's seeds) to derive independent row hashes.
_SEEDS = (0x97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F, 0xCBF29CE484222325)


def spread(key: Hashable) -> int:
    """A 64-bit hash of ``key`` spread by Fibonacci hashing (one multiply: this runs on every
    read); what the sketch and the doorkeeper index by."""
    return ((hash(key) ^ _SEEDS[0]) * 0x9E3779B97F4A7C15) & _MASK64


def _mix(h: int, seed: int) -> int:
    # splitmix64 finaliser: spreads Python's hash (identity for small ints) over 64 bits.
    z = ((h ^ seed) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 31)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 29)


#: Halves every byte (the sketch's periodic reset) in one C-level pass.
_HALF = bytes(i >> 1 for i in range(256))


class CountMinSketch:
    """Count-Min sketch with 4-bit saturating counters (max 15) and periodic halving.

    After ``sample_size`` increments every counter is halved ("reset" in TinyLFU), so the
    estimate follows recent popularity. Counters are kept one per byte for speed, the four
    rows end to end in one ``bytearray`` so a key's four counters are four absolute indexes
    (:meth:`indexes`), which the cache keeps with each entry; the 4-bit ceiling is what the
    paper's space analysis assumes.
    """

    __slots__ = ("_additions", "_mask", "_size", "resets", "sample_size", "table")

    def __init__(self, width: int, sample_size: int) -> None:
        size = 16
        while size < width:
            size <<= 1
        self._mask = size - 1
        self._size = size
        self.table = bytearray(size * len(_SEEDS))
        self._additions = 0
        self.sample_size = max(1, sample_size)
        self.resets = 0

    def indexes(self, z: int) -> tuple[int, int, int, int]:
        """The four counters of the key whose :func:`spread` hash is ``z``: row ``i`` at
        ``(a + i*b) mod width`` (Kirsch-Mitzenmacher double hashing from one 64-bit hash)."""
        m, n = self._mask, self._size
        a, b = z >> 32, (z & 0xFFFFFFFF) | 1
        return a & m, n + ((a + b) & m), 2 * n + ((a + 2 * b) & m), 3 * n + ((a + 3 * b) & m)

    def estimate(self, z: int) -> int:
        """The estimated frequency of the key whose :func:`spread` hash is ``z`` (never below
        its true recent count, capped at 15)."""
        t = self.table
        i0, i1, i2, i3 = self.indexes(z)
        return min(t[i0], t[i1], t[i2], t[i3])

    def increment(self, z: int) -> bool:
        """Count one occurrence of the key hashed ``z``; True when that triggered a halving."""
        return self.increment_at(self.indexes(z))

    def increment_at(self, idx: tuple[int, int, int, int]) -> bool:
        """:meth:`increment` by the key's :meth:`indexes`."""
        t = self.table
        added = False
        for i in idx:
            if t[i] < 15:
                t[i] += 1
                added = True
        if added:
            self._additions += 1
            if self._additions >= self.sample_size:
                self.halve()
                return True
        return False

    def halve(self) -> None:
        """Halve every counter (TinyLFU's reset)."""
        self.table[:] = self.table.translate(_HALF)
        self._additions //= 2
        self.resets += 1


class Doorkeeper:
    """A Bloom filter in front of the sketch: a key's first occurrence only sets bits here,
    so one-hit wonders do not consume sketch counters (TinyLFU §3.4.2)."""

    __slots__ = ("_bits", "_mask")

    def __init__(self, bits: int) -> None:
        size = 64
        while size < bits:
            size <<= 1
        self._mask = size - 1
        self._bits = bytearray(size // 8)

    def _indexes(self, z: int) -> tuple[int, int]:
        # Bits the sketch rows do not start from: the middle and the top of the hash.
        return (z >> 16) & self._mask, (z >> 40) & self._mask

    def contains(self, z: int) -> bool:
        """True when the key hashed ``z`` may have been added since the last clear."""
        return all(self._bits[i >> 3] & (1 << (i & 7)) for i in self._indexes(z))

    def add(self, z: int) -> bool:
        """Add the key hashed ``z``; True when it was (probably) already present."""
        bits = self._bits
        i, j = (z >> 16) & self._mask, (z >> 40) & self._mask
        bi, bj = 1 << (i & 7), 1 << (j & 7)
        i >>= 3
        j >>= 3
        if bits[i] & bi and bits[j] & bj:
            return True
        bits[i] |= bi
        bits[j] |= bj
        return False

    def clear(self) -> None:
        """Forget everything (done at each sketch halving)."""
        self._bits[:] = bytes(len(self._bits))


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counts since the cache was made."""

    hits: int
    misses: int
    evictions: int
    expirations: int
    size: int


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires_at: float  # inf: no TTL
    segment: int  # 0 window, 1 probation, 2 protected
    idx: tuple[int, int, int, int]  # the key's sketch counters, computed once


_WINDOW, _PROBATION, _PROTECTED = 0, 1, 2


class L1Cache(Generic[K, V]):
    """What the multi-level cache needs of an in-process cache."""

    maxsize: int

    def get(self, key: K) -> V | None:  # pragma: no cover - interface
        """The live value for ``key``, or None."""
        raise NotImplementedError

    def set(self, key: K, value: V, ttl_s: float | None = None) -> None:  # pragma: no cover
        """Store ``value`` for ``ttl_s`` seconds (None: until evicted)."""
        raise NotImplementedError

    def delete(self, key: K) -> bool:  # pragma: no cover - interface
        """Remove ``key``; True when it was present."""
        raise NotImplementedError

    def clear(self) -> None:  # pragma: no cover - interface
        """Remove everything."""
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def stats(self) -> CacheStats:  # pragma: no cover - interface
        """Counts since the cache was made."""
        raise NotImplementedError


class TinyLfuCache(L1Cache[K, V]):
    """W-TinyLFU: window LRU (1%) + segmented LRU main (80% protected / 20% probation),
    admission from window to main by sketch frequency; entries expire after their TTL."""

    def __init__(
        self,
        maxsize: int,
        *,
        window_fraction: float = 0.01,
        protected_fraction: float = 0.8,
        clock: Clock = time.monotonic,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._clock = clock
        self._window_max = max(1, round(maxsize * window_fraction)) if maxsize > 1 else 1
        self._main_max = maxsize - self._window_max
        self._protected_max = int(self._main_max * protected_fraction)
        self._data: dict[K, _Entry[V]] = {}
        self._segments: tuple[OrderedDict[K, None], ...] = (
            OrderedDict(),
            OrderedDict(),
            OrderedDict(),
        )
        # Sample size 10 x capacity as in the paper (W = 10 C).
        self._sketch = CountMinSketch(max(16, maxsize), sample_size=10 * maxsize)
        self._door = Doorkeeper(max(64, maxsize * 8))
        self._hits = self._misses = self._evictions = self._expirations = 0

    def __len__(self) -> int:
        return len(self._data)

    def _record(self, key: K) -> tuple[int, int, int, int]:
        """Count an access to ``key`` (doorkeeper first, then the sketch); its indexes."""
        # Doorkeeper.add inlined: this runs on every miss and insertion.
        z = ((hash(key) ^ _SEEDS[0]) * 0x9E3779B97F4A7C15) & _MASK64
        idx = self._sketch.indexes(z)
        door = self._door
        bits, m = door._bits, door._mask
        i, j = (z >> 16) & m, (z >> 40) & m
        bi, bj = 1 << (i & 7), 1 << (j & 7)
        i >>= 3
        j >>= 3
        if not (bits[i] & bi and bits[j] & bj):
            bits[i] |= bi
            bits[j] |= bj
        elif self._sketch.increment_at(idx):
            door.clear()
        return idx

    def _frequency(self, key: K) -> int:
        z = spread(key)
        return self._sketch.estimate(z) + (1 if self._door.contains(z) else 0)

    def _unlink(self, key: K, entry: _Entry[V]) -> None:
        del self._segments[entry.segment][key]
        del self._data[key]

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None (an expired entry is removed)."""
        entry = self._data.get(key)
        if entry is None or entry.expires_at <= self._clock():
            self._miss(key, entry)
            return None
        # The hit path, inlined (it is what every cached read pays): a resident key has
        # passed the doorkeeper already, so its access goes straight to the sketch through
        # the counters kept with the entry (Caffeine has no doorkeeper at all).
        self._hits += 1
        sketch = self._sketch
        t = sketch.table
        i0, i1, i2, i3 = entry.idx
        if t[i0] < 15 or t[i1] < 15 or t[i2] < 15 or t[i3] < 15:
            for i in entry.idx:
                if t[i] < 15:
                    t[i] += 1
            sketch._additions += 1
            if sketch._additions >= sketch.sample_size:
                sketch.halve()
                self._door.clear()
        seg = entry.segment
        if seg == _PROBATION:
            self._promote(key, entry)
        else:
            self._segments[seg].move_to_end(key)
        return entry.value

    def _miss(self, key: K, entry: _Entry[V] | None) -> None:
        self._record(key)
        if entry is not None:  # expired
            self._unlink(key, entry)
            self._expirations += 1
        self._misses += 1

    def _promote(self, key: K, entry: _Entry[V]) -> None:
        del self._segments[_PROBATION][key]
        entry.segment = _PROTECTED
        protected = self._segments[_PROTECTED]
        protected[key] = None
        if len(protected) > self._protected_max:
            demoted, _ = protected.popitem(last=False)
            self._data[demoted].segment = _PROBATION
            self._segments[_PROBATION][demoted] = None

    def _on_hit(self, key: K, entry: _Entry[V]) -> None:
        seg = entry.segment
        if seg == _PROBATION:
            self._promote(key, entry)
        else:
            self._segments[seg].move_to_end(key)

    def set(self, key: K, value: V, ttl_s: float | None = None) -> None:
        """Store ``value`` for ``ttl_s`` seconds (None: until evicted); may evict another."""
        expires = float("inf") if ttl_s is None else self._clock() + ttl_s
        entry = self._data.get(key)
        if entry is not None:
            entry.value = value
            entry.expires_at = expires
            self._on_hit(key, entry)
            return
        self._data[key] = _Entry(value, expires, _WINDOW, self._record(key))
        window = self._segments[_WINDOW]
        window[key] = None
        if len(window) > self._window_max:
            candidate, _ = window.popitem(last=False)
            self._admit(candidate)

    def _admit(self, candidate: K) -> None:
        probation, protected = self._segments[_PROBATION], self._segments[_PROTECTED]
        if len(probation) + len(protected) < self._main_max:
            self._data[candidate].segment = _PROBATION
            probation[candidate] = None
            return
        victims = probation if probation else protected
        if not victims:  # maxsize 1: no main space at all
            del self._data[candidate]
            self._evictions += 1
            return
        victim = next(iter(victims))
        now = self._clock()
        # An expired victim always makes room; otherwise the more frequent one stays.
        if self._data[victim].expires_at <= now or (
            self._frequency(candidate) > self._frequency(victim)
        ):
            del victims[victim]
            del self._data[victim]
            self._evictions += 1
            self._data[candidate].segment = _PROBATION
            probation[candidate] = None
        else:
            del self._data[candidate]
            self._evictions += 1

    def delete(self, key: K) -> bool:
        """Remove ``key``; True when it was present."""
        entry = self._data.get(key)
        if entry is None:
            return False
        self._unlink(key, entry)
        return True

    def clear(self) -> None:
        """Remove every entry (frequencies are kept)."""
        self._data.clear()
        for seg in self._segments:
            seg.clear()

    def stats(self) -> CacheStats:
        """Counts since the cache was made."""
        return CacheStats(self._hits, self._misses, self._evictions, self._expirations,
                          len(self._data))


class LruCache(L1Cache[K, V]):
    """Plain LRU with per-entry TTL: the baseline W-TinyLFU is measured against."""

    def __init__(self, maxsize: int, *, clock: Clock = time.monotonic) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._clock = clock
        self._data: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._hits = self._misses = self._evictions = self._expirations = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None."""
        item = self._data.get(key)
        if item is None:
            self._misses += 1
            return None
        if item[1] <= self._clock():
            del self._data[key]
            self._expirations += 1
            self._misses += 1
            return None
        self._hits += 1
        self._data.move_to_end(key)
        return item[0]

    def set(self, key: K, value: V, ttl_s: float | None = None) -> None:
        """Store ``value``; evicts the least recently used entry when full."""
        expires = float("inf") if ttl_s is None else self._clock() + ttl_s
        self._data[key] = (value, expires)
        self._data.move_to_end(key)
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
            self._evictions += 1

    def delete(self, key: K) -> bool:
        """Remove ``key``; True when it was present."""
        return self._data.pop(key, None) is not None

    def clear(self) -> None:
        """Remove everything."""
        self._data.clear()

    def stats(self) -> CacheStats:
        """Counts since the cache was made."""
        return CacheStats(self._hits, self._misses, self._evictions, self._expirations,
                          len(self._data))
