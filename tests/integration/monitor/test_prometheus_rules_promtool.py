"""The exported rules through Prometheus' own checker and rule unit tester (promtool)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from intperf.cli import app
from intperf.config import load_settings
from intperf.monitor.prometheus_rules import prometheus_rules

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path(PROMTOOL).exists(),
                                 reason="promtool missing (Debian package prometheus)")]

SERIES = "intperf_live_response_time_seconds"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def _export(tmp_path: Path) -> Path:
    out = tmp_path / "rules.yml"
    result = CliRunner().invoke(app, ["export", "prometheus-rules", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_exported_rules_pass_promtool_check(tmp_path: Path) -> None:
    out = _export(tmp_path)
    r = _promtool("check", "rules", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def _expected(alert: str, service: str) -> dict[str, Any]:
    """Labels and annotations the rule file gives ``alert`` for ``service``."""
    rules = prometheus_rules(load_settings(environ={}))
    [rule] = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alert]
    annotations = {k: v.replace("{{ $labels.service }}", service)
                   for k, v in rule["annotations"].items()}
    return {"exp_labels": {**rule["labels"], "service": service},
            "exp_annotations": annotations}


def _test_file(tmp_path: Path, rules: Path, error_per_minute: float,
               expectations: list[dict[str, Any]], fast_per_minute: int = 1000) -> Path:
    """3 hours of a service serving 1000 requests/min, some slow, some failing."""
    svc = '{service="shop"}'
    doc = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": f"{SERIES}_count{svc}", "values": "0+1000x180"},
                {"series": f'{SERIES}_bucket{{service="shop",le="0.5"}}',
                 "values": f"0+{fast_per_minute}x180"},
                {"series": f'{SERIES}_bucket{{service="shop",le="+Inf"}}', "values": "0+1000x180"},
                {"series": f"intperf_live_errors_total{svc}",
                 "values": f"0+{error_per_minute}x180"},
            ],
            "alert_rule_test": expectations,
        }],
    }
    path = tmp_path / f"test-{error_per_minute}-{fast_per_minute}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_fast_burn_pages_for_a_failing_service(tmp_path: Path) -> None:
    rules = _export(tmp_path)
    # 2% of requests fail: 20x the 0.1% budget, above 14.4 on both 1h and 5m.
    expectations = [
        {"eval_time": "70m", "alertname": "IntperfAvailabilityBudgetBurn1h",
         "exp_alerts": [_expected("IntperfAvailabilityBudgetBurn1h", "shop")]},
        {"eval_time": "70m", "alertname": "IntperfAvailabilityBudgetBurn6h",
         "exp_alerts": [_expected("IntperfAvailabilityBudgetBurn6h", "shop")]},
        {"eval_time": "70m", "alertname": "IntperfLatencyBudgetBurn1h", "exp_alerts": []},
    ]
    r = _promtool("test", "rules", str(_test_file(tmp_path, rules, 20, expectations)))
    assert r.returncode == 0, r.stdout + r.stderr


def test_slow_requests_burn_the_latency_budget(tmp_path: Path) -> None:
    rules = _export(tmp_path)
    # 10% of requests slower than 0.5s: 10x the 1% budget (pages at 6x, not at 14.4x).
    expectations = [
        {"eval_time": "70m", "alertname": "IntperfLatencyBudgetBurn6h",
         "exp_alerts": [_expected("IntperfLatencyBudgetBurn6h", "shop")]},
        {"eval_time": "70m", "alertname": "IntperfLatencyBudgetBurn1h", "exp_alerts": []},
        {"eval_time": "70m", "alertname": "IntperfAvailabilityBudgetBurn1h", "exp_alerts": []},
    ]
    path = _test_file(tmp_path, rules, 0, expectations, fast_per_minute=900)
    r = _promtool("test", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_healthy_service_fires_no_burn_rate_alert(tmp_path: Path) -> None:
    rules = _export(tmp_path)
    # 0.05% of requests fail: half the budget, nothing fires at any window.
    expectations = [{"eval_time": t, "alertname": name, "exp_alerts": []}
                    for t in ("10m", "70m", "170m")
                    for name in (f"Intperf{s}BudgetBurn{w}" for s in ("Availability", "Latency")
                                 for w in ("1h", "6h", "3d"))]
    r = _promtool("test", "rules", str(_test_file(tmp_path, rules, 0.5, expectations)))
    assert r.returncode == 0, r.stdout + r.stderr
    # And the same test file with a burning series does fail: the expectations bite.
    r = _promtool("test", "rules", str(_test_file(tmp_path, rules, 20, expectations)))
    assert r.returncode != 0


def test_rules_to_stdout() -> None:
    result = CliRunner().invoke(app, ["export", "prometheus-rules"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["groups"]


def test_threshold_alerts_fire_on_the_reference_thresholds(tmp_path: Path) -> None:
    """p99 above 2000ms, 10% errors (> 5%) and 16.7 requests/s (< 100rps) all fire."""
    rules = _export(tmp_path)
    svc = '{service="shop"}'
    series = [
        {"series": f"{SERIES}_count{svc}", "values": "0+1000x30"},
        {"series": f'{SERIES}_bucket{{service="shop",le="2.0"}}', "values": "0+0x30"},
        {"series": f'{SERIES}_bucket{{service="shop",le="2.5"}}', "values": "0+1000x30"},
        {"series": f'{SERIES}_bucket{{service="shop",le="+Inf"}}', "values": "0+1000x30"},
        {"series": f"intperf_live_errors_total{svc}", "values": "0+100x30"},
    ]
    # Every request in (2.0, 2.5]: histogram_quantile interpolates 2.0 + 0.99 * 0.5 = 2.495 s.
    values = {"IntperfResponseTime99thHigh": "2.495s", "IntperfErrorRateHigh": "10%",
              "IntperfThroughputLow": "16.67"}
    expectations = []
    for alert, shown in values.items():
        exp = _expected(alert, "shop")
        exp["exp_annotations"] = {k: v.replace(v[v.find("{{ $value"):v.find("}}") + 2], shown)
                                  if "{{ $value" in v else v
                                  for k, v in exp["exp_annotations"].items()}
        expectations.append({"eval_time": "20m", "alertname": alert, "exp_alerts": [exp]})
        expectations.append({"eval_time": "4m", "alertname": alert, "exp_alerts": []})  # `for`
    doc = {"rule_files": [str(rules)], "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series,
                      "alert_rule_test": expectations}]}
    path = tmp_path / "thresholds.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = _promtool("test", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
