"""The bus seam: Kafka's murmur2 key partitioner and make_bus."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.errors import UsageError
from intperf.stream.bus import Message, make_bus, murmur2, partition_for_key
from intperf.stream.bus_memory import MemoryBus


# Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java (testMurmur2).
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_kafka_utils_test(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


# kafka-python, test/test_partitioner.py (test_murmur2_java_compatibility): partitions out of
# 1000, "compare with output from Kafka's org.apache.kafka.clients.producer.Partitioner".
@pytest.mark.parametrize(
    ("key", "partition"),
    [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)],
)
def test_partition_for_key_matches_the_java_partitioner(key: bytes, partition: int) -> None:
    assert partition_for_key(key, 1000) == partition
    assert partition_for_key(key, 1000) == partition  # memoised answer is the same


@given(st.binary(max_size=64), st.integers(1, 512))
def test_partition_matches_aiokafka_reference_implementation(key: bytes, n: int) -> None:
    from aiokafka.partitioner import murmur2 as reference  # the kafka-python port, pure Python

    assert murmur2(key) & 0xFFFFFFFF == reference(key) & 0xFFFFFFFF
    assert partition_for_key(key, n) == (reference(key) & 0x7FFFFFFF) % n


def test_message_is_a_frozen_value() -> None:
    m = Message("t", 0, 5, b"k", b"v", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.offset = 6  # type: ignore[misc]
    assert m == Message("t", 0, 5, b"k", b"v", 1)


def test_make_bus_builds_the_memory_bus_by_default() -> None:
    assert isinstance(make_bus(), MemoryBus)


def test_make_bus_kafka_splits_the_configured_server_list() -> None:
    from intperf.stream.bus_kafka import KafkaBus

    bus = make_bus("kafka", bootstrap_servers="127.0.0.1:9092, 127.0.0.1:9093", client_id="t")
    assert isinstance(bus, KafkaBus)
    assert bus.bootstrap_servers == ["127.0.0.1:9092", "127.0.0.1:9093"]


@pytest.mark.parametrize("servers", [None, "", " , "])
def test_make_bus_kafka_without_servers_is_a_usage_error(servers: str | None) -> None:
    with pytest.raises(UsageError, match="bootstrap servers"):
        make_bus("kafka", bootstrap_servers=servers)


def test_make_bus_rejects_unknown_kinds() -> None:
    with pytest.raises(UsageError, match="unknown bus kind 'rabbit'"):
        make_bus("rabbit")  # type: ignore[arg-type]
