"""Helpers for engine integration tests: build scenarios from dicts and run them in-process."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from intperf.demo import DemoServer
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.criteria import Criterion, parse_all
from intperf.loadtest.engine import Engine, WorkerShare
from intperf.loadtest.plan import compile_plan
from intperf.loadtest.results import RequestWindow, SecondWindow, TimeSeries
from intperf.loadtest.runner import LoadTest, Progress, RunOutcome
from intperf.loadtest.scenario import Scenario, validate_scenario


def shop_call(shop: DemoServer, method: str, path: str, body: Any = None) -> Any:
    """Call the shop's control endpoints; returns parsed JSON (or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        shop.url + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def scenario(
    base_url: str,
    steps: list[dict[str, Any]],
    *,
    load: dict[str, Any] | None = None,
    base_dir: Path | None = None,
    **extra: Any,
) -> Scenario:
    """A one-journey scenario."""
    doc: dict[str, Any] = {
        "name": "t",
        "base_url": base_url,
        "load": load or {"users": 1, "iterations": 1},
        "journeys": [{"name": "j", "steps": steps}],
        **extra,
    }
    return validate_scenario(doc, source="test.yaml", base_dir=base_dir or Path.cwd())


#: What :func:`stub_resolver` answers: tests never resolve a name through real DNS.
STUB_DNS: dict[str, list[str]] = {
    "shop.test": ["127.0.0.1"],
    "evil.test": ["10.0.0.1"],
    "mixed.test": ["127.0.0.1", "10.0.0.1"],
}


def stub_resolver(host: str) -> list[str]:
    """A picklable stub resolver (module-level, so worker processes can use it)."""
    try:
        return list(STUB_DNS[host])
    except KeyError:
        raise OSError(f"stub resolver: unknown host {host}") from None


def run_engine(sc: Scenario, *, policy: TargetPolicy | None = None) -> TimeSeries:
    """Run one worker directly (no preflight: for unreachable-target tests)."""
    return run_engine_with(sc, policy=policy)[0]


def run_engine_with(
    sc: Scenario, *, policy: TargetPolicy | None = None
) -> tuple[TimeSeries, Engine]:
    """Like :func:`run_engine`, also returning the engine (connection counts)."""
    series = TimeSeries()
    engine = Engine(
        compile_plan(sc, seed=1), share=WorkerShare(0, 1, 1), on_second=series.add, policy=policy
    )

    async def main() -> None:
        await engine.run()

    uvloop.run(main())
    return series, engine


def run(
    sc: Scenario,
    criteria: list[str] | None = None,
    *,
    processes: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
    policy: TargetPolicy | None = None,
) -> RunOutcome:
    """Run through the runner (policy check, preflight, merging, criteria)."""
    crit: list[Criterion] = parse_all(criteria or [])
    return LoadTest(
        sc, crit, processes=processes, seed=1, on_progress=on_progress, policy=policy
    ).run()


def total(series: TimeSeries, name: str | None = None) -> RequestWindow:
    """All seconds merged, for one request name or all."""
    return series.aggregate(None if name is None else [name])


def windows(series: TimeSeries) -> list[SecondWindow]:
    return [series.seconds[s] for s in sorted(series.seconds)]


__all__ = [
    "STUB_DNS",
    "asyncio",
    "run",
    "run_engine",
    "scenario",
    "shop_call",
    "stub_resolver",
    "total",
    "windows",
]
