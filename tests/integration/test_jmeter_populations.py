"""JMeter thread groups run as populations: what the demo shop received from each group."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from intperf.demo import DemoServer
from intperf.loadtest.jmeter import parse_jmx, translate
from intperf.loadtest.scenario import validate_scenario

from .loadtest.support import run, shop_call, total

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
PLAN = REPO / "tests" / "fixtures" / "jmx" / "populations.jmx"


def _props(shop: DemoServer, run_id: str, **extra: str) -> dict[str, str]:
    parts = urlsplit(shop.url)
    return {"host": parts.hostname or "", "port": str(parts.port), "run": run_id, **extra}


def _received(shop: DemoServer, run_id: str) -> list[dict[str, Any]]:
    items = shop_call(shop, "GET", "/__demo/requests?path=/__demo/echo")["items"]
    return [i for i in items if i["headers"].get("x-run") == run_id]


def _by_group(items: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """For each X-Group: requests per thread (X-Thread, intperf's user number)."""
    out: dict[str, Counter[str]] = {}
    for i in items:
        out.setdefault(i["headers"]["x-group"], Counter())[i["headers"]["x-thread"]] += 1
    return out


def _when(item: dict[str, Any]) -> float:
    return datetime.fromisoformat(item["received_at"].replace("Z", "+00:00")).timestamp()


def _check(items: list[dict[str, Any]], browsers: int, browser_loops: int) -> None:
    groups = _by_group(items)
    assert sorted(groups["browsers"].values()) == [browser_loops] * browsers
    assert list(groups["buyers"].values()) == [4]  # 1 thread, 4 loops
    assert sum(groups["arrivals"].values()) == 4  # rate(4/sec) for 1 s
    assert len(groups["arrivals"]) == 4
    assert {i["method"] for i in items if i["headers"]["x-group"] == "buyers"} == {"POST"}
    assert set(groups) == {"browsers", "buyers", "arrivals"}  # the disabled group never ran
    first = {g: min(_when(i) for i in items if i["headers"]["x-group"] == g) for g in groups}
    assert first["buyers"] - first["browsers"] >= 0.9  # the buyers' start-up delay of 1 s


def test_thread_groups_run_side_by_side(demo_shop: DemoServer, tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex
    plan = parse_jmx(PLAN, _props(demo_shop, run_id, browsers="5", browser_loops="3"))
    doc, warnings = translate(plan, data_dir=tmp_path)
    assert warnings == []
    sc = validate_scenario(doc, source=str(PLAN), base_dir=plan.base_dir)
    outcome = run(sc)
    assert total(outcome.series).failed == 0
    _check(_received(demo_shop, run_id), browsers=5, browser_loops=3)


def test_cli_runs_thread_groups_in_two_processes(demo_shop: DemoServer, tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex
    props = [f"-J{k}={v}" for k, v in _props(demo_shop, run_id, browsers="4").items()]
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "intperf", "jmeter", str(PLAN), *props,
                           "--processes", "2", "--quiet", "--out", str(out)],
                          cwd=tmp_path, text=True, capture_output=True, timeout=120, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    assert "warning" not in proc.stderr
    _check(_received(demo_shop, run_id), browsers=4, browser_loops=2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["model"] == "mixed"
    assert summary["global"]["requests"] == 4 * 2 + 4 + 4


def test_reference_plan_runs_three_populations(demo_shop: DemoServer, tmp_path: Path) -> None:
    plan = parse_jmx(REPO / "load-testing" / "jmeter-test-plan.jmx",
                     {"base_url": demo_shop.url, "duration": "2", "ramp": "0",
                      "search_threads": "2", "order_threads": "1", "payment_threads": "1"})
    doc, _ = translate(plan, data_dir=tmp_path)
    sc = validate_scenario(doc, source="jmeter-test-plan.jmx", base_dir=plan.base_dir)
    assert [(j.name, j.load.users if j.load else None) for j in sc.journeys] == [
        ("ProductSearch", 2), ("OrderCreation", 1), ("PaymentProcessing", 1)]
    outcome = run(sc)
    names = outcome.series.request_names
    assert {"search products", "add to cart", "pay"} <= set(names)
    assert max(s.active_users for s in outcome.series.seconds.values()) == 4
    assert 1.9 <= outcome.duration_s <= 2.5
