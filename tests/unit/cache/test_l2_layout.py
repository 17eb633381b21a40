"""Where the cache keeps values and locks in Redis, and when the two share a cluster slot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.crc import key_slot

from intperf.cache.l2 import LOCK_SUFFIX, RedisLayer, hash_tag_shared


def test_value_and_lock_names() -> None:
    layer = RedisLayer(Redis(), "catalog")
    assert layer.name("user:42") == "intperf:cache:catalog:{user:42}"
    assert layer.name("user:42") + LOCK_SUFFIX == "intperf:cache:catalog:{user:42}:lock"
    assert layer.scripted(layer.name(""))  # one node: any two keys go in one script


@pytest.mark.parametrize(("name", "shared"), [
    ("intperf:cache:r:{user:1}", True),
    ("intperf:cache:r:{}", False),  # an empty tag: Redis hashes the whole name
    ("intperf:cache:r:{}x}", False),
    ("intperf:cache:r:{a}b}", True),  # the tag is "a"
    ("intperf:cache:{r}:{k}", True),  # the region's braces give the tag
    ("intperf:cache:{:{k}", True),  # tag ":{k"
    ("intperf:cache:r:k", False),  # no tag
])
def test_hash_tag_shared(name: str, shared: bool) -> None:
    assert hash_tag_shared(name) is shared


@given(region=st.text(max_size=8), key=st.text(max_size=12))
def test_shared_tag_means_same_slot(region: str, key: str) -> None:
    name = f"intperf:cache:{region}:{{{key}}}"
    same = key_slot(name.encode()) == key_slot((name + LOCK_SUFFIX).encode())
    if hash_tag_shared(name):
        assert same
