"""librdkafka errors as ``BusError``: which are retriable, and a message that says where."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException

from intperf.errors import BusError

__all__ = ["bus_error"]

#: Codes worth retrying although librdkafka does not flag them retriable: the broker is away.
_UNREACHABLE = frozenset({
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
    KafkaError._MSG_TIMED_OUT, KafkaError._WAIT_COORD, KafkaError._RESOLVE,
    KafkaError._TIMED_OUT_QUEUE, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.BROKER_NOT_AVAILABLE,
})
#: The group moved on: this member's partitions belong to someone else now.
_FENCED = frozenset({
    KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError.FENCED_INSTANCE_ID,
})


def bus_error(what: str, exc: BaseException, servers: Sequence[str]) -> BusError:
    """``BusError`` for a librdkafka failure (``raise bus_error(...) from exc``)."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
    where = f"Kafka at {','.join(servers)}"
    if not isinstance(err, KafkaError):
        return BusError(f"{what} ({where}): {exc}", retriable=False)
    code = err.code()
    if code in _FENCED:
        return BusError(f"{what}: the group rebalanced and these partitions belong to another "
                        f"member now; it resumes from the last committed offset ({err.name()})",
                        retriable=False)
    unreachable = code in _UNREACHABLE
    reason = f"{where} is unreachable or timed out" if unreachable else where
    return BusError(f"{what} ({reason}): {err.str()} [{err.name()}]",
                    retriable=unreachable or err.retriable())
