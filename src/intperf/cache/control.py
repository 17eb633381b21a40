"""The TTL control plane in Redis: where a region registers its TTLs and bounds, and how a
TTL change reaches every instance (docs/cache.md, "TTL tuning").

Keys, all single-key commands so Redis Cluster needs no hash tags:

- ``intperf:control:cache:regions``: a set of the registered region names;
- ``intperf:control:cache:region:<region>``: a hash with ``bounds`` (JSON), ``base:<class>``
  (the TTL the code configured, ``""`` = the default TTL) and ``ttl:<class>`` (the TTL the
  service set, which wins over the base);
- a change is announced on the region's invalidation channel as ``ttl|{"key_class": ...,
  "ttl_s": ...}`` (``ttl`` is never an instance id: those are 32 hex digits).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from intperf.cache.policy import TtlPolicy
from intperf.cache.tuning import TtlBounds

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = [
    "REGIONS_KEY",
    "TTL_SENDER",
    "RegionControl",
    "invalidation_channel",
    "parse_ttl_message",
    "policy_ttls",
    "publish_ttl",
    "read_region",
    "region_key",
    "register_region",
    "registered_regions",
    "ttl_message",
]

log = logging.getLogger(__name__)

REGIONS_KEY = "intperf:control:cache:regions"
TTL_SENDER = b"ttl"


def region_key(region: str) -> str:
    """The control hash of ``region``."""
    return f"intperf:control:cache:region:{region}"


def invalidation_channel(region: str) -> str:
    """The pub/sub channel of ``region`` (the same as :class:`Invalidator`'s)."""
    return f"intperf:cache:{region}:invalidate"


def policy_ttls(policy: TtlPolicy) -> dict[str, float]:
    """The TTL of each key class of ``policy`` ("" = the default TTL)."""
    return {"": policy.ttl_s, **{str(k): float(v) for k, v in policy.per_class.items()}}


def ttl_message(key_class: str, ttl_s: float) -> bytes:
    """The pub/sub message setting the TTL of ``key_class``."""
    return TTL_SENDER + b"|" + json.dumps({"key_class": key_class, "ttl_s": ttl_s}).encode()


def parse_ttl_message(payload: bytes) -> tuple[str, float] | None:
    """(key class, TTL) from the part of a TTL message after ``ttl|``; None if malformed."""
    try:
        doc = json.loads(payload)
        key_class, ttl = str(doc["key_class"]), float(doc["ttl_s"])
    except (ValueError, KeyError, TypeError):
        return None
    return (key_class, ttl) if ttl > 0 else None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class RegionControl:
    """What the control hash says of a region."""

    region: str
    bounds: TtlBounds | None
    base: dict[str, float]
    overrides: dict[str, float]

    @property
    def ttls(self) -> dict[str, float]:
        """The TTL in force per key class: the service's where it set one, else the base."""
        return {**self.base, **{k: v for k, v in self.overrides.items() if k in self.base}}


def _parse(region: str, raw: Mapping[Any, Any]) -> RegionControl:
    bounds: TtlBounds | None = None
    base: dict[str, float] = {}
    overrides: dict[str, float] = {}
    for k, v in raw.items():
        name, value = _text(k), _text(v)
        try:
            if name == "bounds":
                bounds = TtlBounds.from_dict(json.loads(value))
            elif name.startswith("base:"):
                base[name[5:]] = float(value)
            elif name.startswith("ttl:"):
                overrides[name[4:]] = float(value)
        except ValueError:
            log.warning("cache control %s: bad field %r ignored", region, name)
    return RegionControl(region, bounds, base, overrides)


async def register_region(client: Redis | RedisCluster, region: str, policy: TtlPolicy,
                          bounds: TtlBounds) -> RegionControl:
    """Register ``region`` with its configured TTLs and bounds; what the hash then holds."""
    key = region_key(region)
    fields: dict[str, str] = {"bounds": json.dumps(bounds.to_dict())}
    fields.update({f"base:{k}": repr(v) for k, v in policy_ttls(policy).items()})
    await client.hset(key, mapping=fields)  # type: ignore[arg-type]
    await client.sadd(REGIONS_KEY, region)
    return await read_region(client, region)


async def read_region(client: Redis | RedisCluster, region: str) -> RegionControl:
    """The control hash of ``region`` (empty when not registered)."""
    raw = await client.hgetall(region_key(region))
    return _parse(region, raw)


async def registered_regions(client: Redis | RedisCluster) -> list[str]:
    """The names of the registered regions, sorted."""
    members = await client.smembers(REGIONS_KEY)
    return sorted(_text(m) for m in members)


async def publish_ttl(client: Redis | RedisCluster, region: str, key_class: str,
                      ttl_s: float) -> None:
    """Set the TTL of ``key_class`` in ``region``: stored (for instances starting later and
    for resubscribing ones), then announced to the running instances."""
    await client.hset(region_key(region), f"ttl:{key_class}", repr(ttl_s))
    await client.publish(invalidation_channel(region), ttl_message(key_class, ttl_s))
