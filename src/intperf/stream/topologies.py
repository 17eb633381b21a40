"""The reference topologies of live analytics, built in: response time per service, slow
queries, cache regions and business metrics (docs/stream.md, "Topologies").

The processor builds one set per partition with :func:`build_topologies`, feeds each batch
to every topology with an :class:`Output`, stores and publishes what the Output collected,
and checkpoints ``{t.name: t.snapshot()}``. Topologies are pure: no I/O, no clock but the
``now_ms`` handed to ``on_wall_clock``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intperf.stream.topology_base import Output, StreamAlert, Topology, TopologyConfig
from intperf.stream.topology_business import BusinessTopology, BusinessWindowResult
from intperf.stream.topology_cache import (
    CacheTopology,
    CacheWindowResult,
    EwmaMissStorm,
    MissStormRule,
)
from intperf.stream.topology_response import (
    ResponseTimeSummary,
    ResponseTimeTopology,
    summarize,
)
from intperf.stream.topology_slow import PlanHint, SlowQueryTopology, slow_query_message

__all__ = [
    "BusinessTopology",
    "BusinessWindowResult",
    "CacheTopology",
    "CacheWindowResult",
    "EwmaMissStorm",
    "MissStormRule",
    "Output",
    "PlanHint",
    "ResponseTimeSummary",
    "ResponseTimeTopology",
    "SlowQueryTopology",
    "StreamAlert",
    "Topology",
    "TopologyConfig",
    "build_topologies",
    "restore_all",
    "slow_query_message",
    "snapshot_all",
    "summarize",
]


def build_topologies(
    config: TopologyConfig, *, plan_hint: PlanHint | None = None
) -> list[Topology]:
    """A fresh set of the four reference topologies (one set per partition)."""
    return [
        ResponseTimeTopology(config),
        SlowQueryTopology(config, plan_hint),
        CacheTopology(config),
        BusinessTopology(config),
    ]


def snapshot_all(topologies: list[Topology]) -> dict[str, Any]:
    """One JSON-able checkpoint state for a set: ``{name: snapshot}``."""
    return {t.name: t.snapshot() for t in topologies}


def restore_all(topologies: list[Topology], state: Mapping[str, Any]) -> None:
    """Restore a fresh set from :func:`snapshot_all` (topologies missing from it stay fresh)."""
    for t in topologies:
        if t.name in state:
            t.restore(state[t.name])
