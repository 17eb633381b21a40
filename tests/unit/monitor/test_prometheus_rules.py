"""The rule builder: thresholds from the configuration, SLO burn-rate pairs (pure)."""

from __future__ import annotations

import yaml

from intperf.config import load_settings
from intperf.monitor.prometheus_rules import (
    BURN_RATE_ALERTS,
    prometheus_rules,
    required_bounds,
    rules_yaml,
)


def _alerts(settings_env: dict[str, str] | None = None) -> dict[str, dict]:
    rules = prometheus_rules(load_settings(environ=settings_env or {}))
    return {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}


def test_thresholds_come_from_the_configuration() -> None:
    alerts = _alerts({
        "INTPERF_PERFORMANCE__MONITORING__ALERT_THRESHOLDS__RESPONSE_TIME_99TH": "1500ms",
        "INTPERF_PERFORMANCE__MONITORING__ALERT_THRESHOLDS__ERROR_RATE": "2%",
        "INTPERF_PERFORMANCE__MONITORING__ALERT_THRESHOLDS__THROUGHPUT_MIN": "50rps"})
    assert alerts["IntperfResponseTime99thHigh"]["expr"].endswith("p99_5m > 1.5")
    assert alerts["IntperfErrorRateHigh"]["expr"].endswith("> 0.02")
    assert alerts["IntperfThroughputLow"]["expr"].endswith("< 50")


def test_burn_rate_pairs_per_slo() -> None:
    alerts = _alerts({"INTPERF_INTPERF__SLO__AVAILABILITY_OBJECTIVE": "99.5%",
                      "INTPERF_INTPERF__SLO__LATENCY_THRESHOLD": "300ms"})
    for sli in ("Availability", "Latency"):
        for a in BURN_RATE_ALERTS:
            rule = alerts[f"Intperf{sli}BudgetBurn{a.long_window}"]
            long_s, short_s = rule["expr"].split(" and ")
            assert long_s.split(" > ")[0].endswith(f"ratio_rate{a.long_window}")
            assert short_s.split(" > ")[0].endswith(f"ratio_rate{a.short_window}")
            assert rule["labels"]["action"] == a.action
    assert "(14.4 * 0.005)" in alerts["IntperfAvailabilityBudgetBurn1h"]["expr"]
    assert "(1 * 0.01)" in alerts["IntperfLatencyBudgetBurn3d"]["expr"]


def test_latency_slo_reads_a_bucket_the_metrics_expose() -> None:
    settings = load_settings(environ={"INTPERF_INTPERF__SLO__LATENCY_THRESHOLD": "300ms"})
    text = rules_yaml(settings)
    assert 'le="0.3"' in text
    assert 0.3 in required_bounds(settings)
    assert yaml.safe_load(text)["groups"][0]["interval"] == "30s"
