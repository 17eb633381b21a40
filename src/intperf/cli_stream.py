"""``intperf stream``: run a stream processor on its own until SIGINT/SIGTERM (docs/stream.md).

With ``--bus kafka`` several such processes share the topic's partitions through one consumer
group. Exit codes: 0 stopped cleanly, 2 usage, 3 the broker or the database could not be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intperf.errors import StorageError, UsageError

if TYPE_CHECKING:  # the command's heavy imports wait until it runs
    from intperf.config import Settings
    from intperf.stream.processor_outputs import AlertCallback
    from intperf.stream.processor_state import ProcessorStats
    from intperf.stream.topologies import StreamAlert

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="application.yml")]


def _bus_kind(settings: Settings, bus: str | None, servers: str | None) -> str:
    kind = bus if bus is not None else ("kafka" if servers else settings.intperf.bus)
    if kind not in ("memory", "kafka"):
        raise UsageError(f"--bus: expected 'memory' or 'kafka', got {kind!r}")
    if servers is not None and kind != "kafka":
        raise UsageError("--bootstrap-servers needs --bus kafka")
    return kind


def status_line(stats: ProcessorStats, prev: ProcessorStats | None, elapsed_s: float) -> str:
    """One line: rates since the last line, totals, lag and whether storing is paused."""
    dt = max(elapsed_s, 1e-9)
    rec = (stats.records - (prev.records if prev else 0)) / dt
    ev = (stats.events - (prev.events if prev else 0)) / dt
    lag = "?" if stats.lag is None else f"{stats.lag:,}"
    line = (f"{rec:,.0f} records/s  {ev:,.0f} events/s  windows stored {stats.windows_stored:,}"
            f"  dead letters {stats.dead_letters:,}  late {stats.late_events:,}  lag {lag}"
            f"  partitions {len(stats.partitions)}")
    if stats.storage_down_since_ms is not None:
        line += "  STORAGE DOWN (paused, nothing committed)"
    return line


def _alert_path(settings: Settings) -> AlertCallback:
    """Alerts go where the service sends them: the log, and ``intperf.webhooks``."""
    from intperf.service.alerts import AlertDispatcher, AlertSink, LogSink, WebhookSink
    from intperf.service.stream_runtime import alert_event

    sinks: list[AlertSink] = [LogSink()]
    if settings.intperf.webhooks:
        sinks.append(WebhookSink(settings.intperf.webhooks))
    dispatcher = AlertDispatcher(sinks)

    async def on_alert(alert: StreamAlert) -> None:
        await dispatcher.emit(alert_event(alert))

    return on_alert


async def _run(settings: Settings, kind: str, group: str, storage_url: str,
               status_every_s: float) -> ProcessorStats:
    from intperf.cli import err, out
    from intperf.store import Database, StreamRepository
    from intperf.stream.bus import make_bus
    from intperf.stream.processor_factory import build_processor

    stream = settings.intperf.stream
    if kind == "memory":
        err.print("[yellow]note:[/] the in-process bus carries only events published in this "
                  "process; use --bus kafka to process events from other processes")
    bus = make_bus("kafka" if kind == "kafka" else "memory",
                   bootstrap_servers=settings.intperf.kafka_bootstrap_servers,
                   client_id=f"intperf-stream-{group}")
    with Database(storage_url) as db:
        await asyncio.to_thread(db.migrate)
        async with bus:
            for topic in (stream.topic, stream.slow_queries_topic, stream.dead_letter_topic):
                await bus.ensure_topic(topic, stream.partitions)
            processor = build_processor(settings, bus, StreamRepository(db), group=group,
                                        publish_outputs=kind == "kafka",
                                        on_alert=_alert_path(settings))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, processor.request_stop)
            err.print(f"stream processor: group {group!r}, topic {stream.topic!r} on the "
                      f"{kind} bus, storage {db.url}; Ctrl-C stops it")
            task = asyncio.create_task(processor.run())
            prev: ProcessorStats | None = None
            t_prev = time.monotonic()
            tty = sys.stdout.isatty()
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=status_every_s)
                    now = time.monotonic()
                    stats = processor.stats()
                    line = status_line(stats, prev, now - t_prev)
                    out.print(line, highlight=tty, markup=False, soft_wrap=True)
                    prev, t_prev = stats, now
                await task
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            return processor.stats()


def stream_command(
    bus: Annotated[str | None, typer.Option(
        "--bus", help="memory or kafka (default: intperf.bus; kafka with "
                      "--bootstrap-servers)")] = None,
    bootstrap_servers: Annotated[str | None, typer.Option(
        "--bootstrap-servers", help="HOST:PORT[,HOST:PORT...] (default: "
                                    "intperf.kafka-bootstrap-servers)")] = None,
    config: ConfigOpt = None,
    group: Annotated[str | None, typer.Option(
        "--group", help="Consumer group (default: intperf.stream.group).")] = None,
    storage_url: Annotated[str | None, typer.Option(
        "--storage-url", help="Where windows and checkpoints go (default: "
                              "intperf.storage-url).")] = None,
    status_interval: Annotated[float, typer.Option(
        "--status-interval", min=0.1, help="Seconds between status lines.")] = 5.0,
) -> None:
    """Run a stream processor until SIGINT/SIGTERM (stores a final checkpoint, then exits)."""
    from intperf.cli import err
    from intperf.cli_service import settings_from

    settings = settings_from(config)
    kind = _bus_kind(settings, bus, bootstrap_servers)
    if bootstrap_servers is not None:
        if not bootstrap_servers.strip():
            raise UsageError("--bootstrap-servers: expected HOST:PORT[,HOST:PORT...]")
        settings = settings.model_copy(update={"intperf": settings.intperf.model_copy(
            update={"kafka_bootstrap_servers": bootstrap_servers})})
    chosen_group = group or settings.intperf.stream.group
    url = storage_url or settings.intperf.storage_url
    stats = asyncio.run(_run(settings, kind, chosen_group, url, status_interval))
    if stats.storage_down_since_ms is not None:
        raise StorageError("stopped while the storage was down: the final checkpoint was not "
                           "stored; the next run replays from the last one")
    err.print(f"stopped: {stats.records:,} records, {stats.events:,} events, "
              f"{stats.windows_stored:,} windows stored, {stats.dead_letters:,} dead letters; "
              "final checkpoint stored")
