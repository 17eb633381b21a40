"""A StreamProcessor with the reference topologies, configured from ``intperf.stream.*``."""

from __future__ import annotations

from dataclasses import replace

from intperf.config import Settings
from intperf.stream.bus import Bus
from intperf.stream.plan_hints import PlanHints
from intperf.stream.processor import AlertCallback, PlanHint, ProcessorConfig, StreamProcessor
from intperf.stream.processor_store import ProgressStore
from intperf.stream.topologies import TopologyConfig, build_topologies

__all__ = ["build_processor"]


def build_processor(
    settings: Settings,
    bus: Bus,
    store: ProgressStore,
    *,
    group: str | None = None,
    publish_outputs: bool,
    on_alert: AlertCallback | None = None,
    plan_hint: PlanHint | None = None,
    config: ProcessorConfig | None = None,
    topology_config: TopologyConfig | None = None,
) -> StreamProcessor:
    """The processor the service and ``intperf stream`` run.

    Index hints for slow queries come from ``plan_hint`` or, when ``intperf.stream.databases``
    lists services, from :class:`~intperf.stream.plan_hints.PlanHints`.
    ``publish_outputs``: also publish dead letters and slow queries to their topics (Kafka;
    on the memory bus nobody would read them, and they are in the database anyway).
    """
    stream = settings.intperf.stream
    if plan_hint is None and stream.databases:
        plan_hint = PlanHints.from_settings(stream)
    topo = topology_config or TopologyConfig.from_settings(settings)
    cfg = replace(config or ProcessorConfig(), commit_interval_s=stream.commit_interval)
    return StreamProcessor(
        bus, store, topics=[stream.topic], group=group or stream.group,
        topologies=lambda: build_topologies(topo),
        on_alert=on_alert, plan_hint=plan_hint,
        dead_letter_topic=stream.dead_letter_topic if publish_outputs else None,
        slow_queries_topic=stream.slow_queries_topic if publish_outputs else None,
        config=cfg)
