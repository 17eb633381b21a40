"""JMeter plans translated and run against the demo shop: what the shop really received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from intperf.demo import DemoServer
from intperf.loadtest.jmeter import parse_jmx, translate
from intperf.loadtest.scenario import validate_scenario

from .loadtest.support import run, shop_call, total

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "jmx"


def _props(shop: DemoServer, **extra: str) -> dict[str, str]:
    parts = urlsplit(shop.url)
    return {"host": parts.hostname or "", "port": str(parts.port), **extra}


def _received(shop: DemoServer, run_id: str) -> list[dict[str, Any]]:
    items = shop_call(shop, "GET", "/__demo/requests?limit=1000")["items"]
    return [i for i in items if i["headers"].get("x-run") == run_id]


def test_shop_flow_sends_what_the_plan_says(demo_shop: DemoServer, tmp_path: Path) -> None:
    plan = parse_jmx(FIXTURES / "shop_flow.jmx", _props(demo_shop, run="flow-1"))
    doc, _ = translate(plan, data_dir=tmp_path)
    sc = validate_scenario(doc, source="shop_flow.jmx", base_dir=plan.base_dir)
    outcome = run(sc)
    assert total(outcome.series).failed == 0
    got = _received(demo_shop, "flow-1")
    assert [(r["method"], r["path"]) for r in got] == [
        ("POST", "/api/auth/login"), ("GET", "/api/products"), ("POST", "/api/cart/items"),
        ("POST", "/__demo/echo"), ("POST", "/__demo/echo")]
    login, search, cart, echo1, echo2 = got
    assert json.loads(login["body"]) == {"username": "user0007", "password": "secret"}
    assert login["headers"]["content-type"] == "application/json"
    assert parse_qs(search["query_string"]) == {"q": ["lamp"], "size": ["2"]}
    product_id = json.loads(cart["body"])["productId"]
    assert isinstance(product_id, int)
    assert cart["headers"]["authorization"].startswith("Bearer ")
    assert len(cart["headers"]["authorization"]) > len("Bearer ") + 8
    assert "session=" in cart["headers"]["cookie"]  # CookieManager: cookies kept
    form1, form2 = parse_qs(echo1["body"]), parse_qs(echo2["body"])
    assert form1["product"] == [str(product_id)] == form2["product"]
    assert form1["id"] != form2["id"]  # ${__UUID} is drawn per request
    assert echo1["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_basics_plan_against_the_shop(demo_shop: DemoServer, tmp_path: Path) -> None:
    plan = parse_jmx(FIXTURES / "basics.jmx",
                     _props(demo_shop, threads="1", loops="1", env="it-basics"))
    doc, _ = translate(plan, data_dir=tmp_path)
    doc["load"] = {"users": 1, "iterations": 1}
    sc = validate_scenario(doc, source="basics.jmx", base_dir=plan.base_dir)
    run(sc)
    items = shop_call(demo_shop, "GET", "/__demo/requests?limit=1000")["items"]
    got = [i for i in items if i["headers"].get("x-env") == "it-basics"]
    assert [(r["method"], r["path"]) for r in got] == [
        ("GET", "/api/products"), ("POST", "/__demo/echo"), ("PUT", "/__demo/echo")]
    search, form, raw = got
    query = parse_qs(search["query_string"])
    assert query["q"] == ["lamp"] and query["size"] == ["2"]
    assert query["tag"][0] == "a" and 1 <= int(query["tag"][1]) <= 9
    assert len(search["headers"]["x-trace"]) == 36
    assert "cookie" not in form["headers"]
    fields = parse_qs(form["body"])
    assert fields["who"] == ["nobody-${undefined_var}"]
    assert fields["at"][0].isdigit()
    assert json.loads(raw["body"]) == {"currency": "EUR", "fn": "${__machineName()}"}


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intperf", "jmeter", *args], cwd=cwd,
                          text=True, capture_output=True, timeout=120, check=False, env=env)


def test_cli_runs_the_reference_plan(demo_shop: DemoServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _cli(str(REPO / "load-testing" / "jmeter-test-plan.jmx"),
                "-J", f"base_url={demo_shop.url}", "-J", "duration=3", "-J", "ramp=1",
                "--quiet", "--processes", "1", "--out", str(out), cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    for name in ("summary.json", "junit.xml", "report.html"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    text = json.dumps(summary)
    for request in ("search products", "add to cart", "pay", "place order"):
        assert request in text  # "place order" is the TransactionController's window


def test_cli_strict_refuses_unsupported_elements(tmp_path: Path) -> None:
    proc = _cli(str(FIXTURES / "basics.jmx"), "--strict", "--out", str(tmp_path / "o"),
                cwd=tmp_path)
    assert proc.returncode == 2
    assert "Basics plan / Shoppers / groovy step (JSR223Sampler)" in proc.stderr
    assert "unsupported element(s) (--strict)" in proc.stderr


def test_cli_refuses_doctype_and_bad_properties(tmp_path: Path) -> None:
    proc = _cli(str(FIXTURES / "doctype.jmx"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "DOCTYPE/ENTITY" in proc.stderr
    proc = _cli(str(FIXTURES / "basics.jmx"), "-J", "novalue", cwd=tmp_path)
    assert proc.returncode == 2
    assert "name=value" in proc.stderr


def test_cli_translate_only(tmp_path: Path) -> None:
    proc = _cli(str(FIXTURES / "two_groups.jmx"), "--translate-only", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: Readers" in proc.stdout
    assert "pacing: 2.0" in proc.stdout


def test_cli_engine_jmeter_without_jmeter(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "COLUMNS": "200"}
    plan = str(REPO / "load-testing" / "jmeter-test-plan.jmx")
    proc = _cli(plan, "--engine", "jmeter", "--out", str(tmp_path / "o"), cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    message = " ".join(proc.stderr.split())
    assert "JMeter is not installed (looked for `jmeter` on PATH); use the native engine " \
           "(default) or --jmeter-bin" in message
    proc = _cli(plan, "--engine", "jmeter", "--jmeter-bin", str(empty / "jmeter"),
                "--out", str(tmp_path / "o"), cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "--jmeter-bin" in proc.stderr
    assert not (tmp_path / "o").exists()
