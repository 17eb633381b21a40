"""``intperf cache analyze``: analyze a Redis (read-only) and print INFO deltas, key patterns,
big/hot keys, SLOWLOG and recommendations as a Rich report or JSON (docs/cache.md).

Exit codes: 0 the analysis ran (whatever it found), 2 bad input, 3 Redis is unreachable or
failed (the message names the URL with its password redacted).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from intperf.errors import UsageError

if TYPE_CHECKING:
    from intperf.cache.analyzer.report import RedisAnalysis

cache_app = typer.Typer(help="Analyze Redis caches: hit ratio, key patterns, TTLs, memory.",
                        no_args_is_help=True)

out = Console(width=None if sys.stdout.isatty() else 160)
_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


@cache_app.command("analyze")
def analyze_command(
    redis_url: Annotated[str, typer.Option(
        "--redis", help="redis:// or rediss:// URL; a cluster is detected from INFO.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    interval: Annotated[str, typer.Option(
        help="Measure INFO counters over this long, e.g. 5s.")] = "5s",
    sample: Annotated[int, typer.Option(help="Sample at most this many keys.")] = 10_000,
    scan_rate: Annotated[float, typer.Option(
        help="Visit at most this many keys per second while sampling.")] = 5_000.0,
    top: Annotated[int, typer.Option(help="Big/hot keys to list.")] = 10,
) -> None:
    """Analyze a Redis (read-only) and report what to change, with the evidence."""
    from intperf.cache.analyzer.analyze import analyze_redis
    from intperf.units import parse_duration

    try:
        interval_s = parse_duration(interval)
    except ValueError as exc:
        raise UsageError(f"--interval: {exc}") from None
    if not 0 < interval_s <= 3600:
        raise UsageError("--interval: between 0s (exclusive) and 1h")
    if sample < 1 or top < 1 or scan_rate <= 0:
        raise UsageError("--sample, --top and --scan-rate must be positive")
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError("--redis: expected a redis://, rediss:// or unix:// URL")
    report = asyncio.run(analyze_redis(redis_url, interval_s=interval_s, sample=sample,
                                       scan_rate=scan_rate, top=top))
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        render(report, out)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render(report: RedisAnalysis, console: Console) -> None:
    """The human report."""
    i = report.info
    kind = f"cluster, {len(report.nodes)} primaries" if report.cluster else "single node"
    console.print(f"[bold]Redis[/] {escape(report.url)} ({kind})")
    console.print(f"over {i.interval_s:g}s: hit ratio {_pct(i.hit_ratio)} ({i.hits} hits, "
                  f"{i.misses} misses), {i.ops_per_s:.0f} ops/s, {i.evictions_per_s:.1f} "
                  f"evictions/s, {i.expirations_per_s:.1f} expirations/s")
    console.print(f"memory {i.used_memory} B of maxmemory {report.maxmemory} "
                  f"({escape(str(report.policy))}), fragmentation {i.fragmentation_ratio}, "
                  f"{i.connected_clients} clients, {i.rejected_connections} rejected")
    table = Table("pattern", "keys", "no TTL", "memory (sampled)", "idle p90 s",
                  title=f"{report.sampled} of {report.keyspace_keys} keys sampled")
    for p in report.patterns[:20]:
        table.add_row(escape(p.pattern), str(p.keys), str(p.no_ttl), str(p.memory_bytes),
                      "" if p.idle_p90_s is None else str(p.idle_p90_s))
    console.print(table)
    console.print("TTL: " + ", ".join(f"{k} {v}" for k, v in report.ttl_histogram.items()))
    if report.big_keys:
        console.print("big keys: " + ", ".join(
            f"{escape(s.key)} ({s.type}, {s.memory_bytes} B)" for s in report.big_keys))
    if report.hot_keys:
        console.print("hot keys: " + ", ".join(
            f"{escape(s.key)} (freq {s.freq})" for s in report.hot_keys))
    for e in report.slowlog[:10]:
        console.print(f"slowlog: {e['duration_us']} µs {escape(str(e['command']))}")
    for r in report.recommendations:
        style = _STYLE[r.severity]
        console.print(f"[{style}]{r.severity}[/] {escape(r.title)}"
                      + (f" — {escape(r.action)}" if r.action else ""), highlight=False)
    for n in report.notes:
        console.print(f"[dim]note: {escape(n)}[/]")
