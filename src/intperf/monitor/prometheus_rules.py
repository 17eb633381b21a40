"""Prometheus recording and alerting rules for the metrics of ``GET /metrics`` (pure).

Threshold alerts come from ``performance.monitoring.alert-thresholds``; the SLO alerts are the
multiwindow, multi-burn-rate alerts of the Google SRE workbook, chapter 5 ("Alerting on
SLOs"): an alert fires when the error budget burns faster than a factor over a long window
**and** a short one (a twelfth of it), so it fires quickly and resets quickly:
14.4x over 1h and 5m (2% of a 30-day budget in an hour) and 6x over 6h and 30m (5% in six
hours) page; 1x over 3d and 6h (10% in three days) opens a ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from intperf.config import Settings
from intperf.monitor.metrics_live import latency_bounds, le_label

__all__ = [
    "BURN_RATE_ALERTS",
    "BurnRateAlert",
    "le_label",
    "prometheus_rules",
    "required_bounds",
    "rules_yaml",
]

LIVE = "intperf_live_response_time_seconds"
ERRORS = "intperf_live_errors_total"


@dataclass(frozen=True, slots=True)
class BurnRateAlert:
    """One multiwindow alert: ``factor`` times the budget rate over both windows."""

    factor: float
    long_window: str
    short_window: str
    severity: str
    action: str


#: The SRE workbook's recommended pairs (table 5-8) for a 30-day SLO.
BURN_RATE_ALERTS: tuple[BurnRateAlert, ...] = (
    BurnRateAlert(14.4, "1h", "5m", "critical", "page"),
    BurnRateAlert(6.0, "6h", "30m", "critical", "page"),
    BurnRateAlert(1.0, "3d", "6h", "warning", "ticket"),
)


def _num(value: float) -> str:
    """A number in PromQL without float noise (``0.001``, not ``0.0010000000000000009``)."""
    return f"{value:.10g}"


def _duration(seconds: float) -> str:
    """A Prometheus duration (``30s``, ``5m``)."""
    s = max(1, round(seconds))
    for unit, size in (("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def _windows() -> list[str]:
    return sorted({w for a in BURN_RATE_ALERTS for w in (a.long_window, a.short_window)},
                  key=lambda w: int(w[:-1]) * {"m": 60, "h": 3600, "d": 86400}[w[-1]])


def _recording(settings: Settings) -> dict[str, Any]:
    rate = "5m"
    rules: list[dict[str, Any]] = [
        {"record": "intperf:live_requests:rate5m",
         "expr": f"sum by (service) (rate({LIVE}_count[{rate}]))"},
        {"record": "intperf:live_errors:rate5m",
         "expr": f"sum by (service) (rate({ERRORS}[{rate}]))"},
        {"record": "intperf:live_error_ratio:rate5m",
         "expr": "intperf:live_errors:rate5m / intperf:live_requests:rate5m"},
    ]
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        rules.append({"record": f"intperf:live_response_time_seconds:{name}_5m",
                      "expr": f"histogram_quantile({q}, sum by (service, le) "
                              f"(rate({LIVE}_bucket[{rate}])))"})
    rules += [
        {"record": "intperf:http_requests:rate5m",
         "expr": "sum by (route, method, status) (rate(intperf_http_requests_total[5m]))"},
        {"record": "intperf:http_request_duration_seconds:p99_5m",
         "expr": "histogram_quantile(0.99, sum by (route, method, le) "
                 "(rate(intperf_http_request_duration_seconds_bucket[5m])))"},
    ]
    return {"name": "intperf-recording",
            "interval": _duration(settings.performance.monitoring.metrics_interval),
            "rules": rules}


def _slo_recording(settings: Settings) -> dict[str, Any]:
    le = le_label(settings.intperf.slo.latency_threshold)
    rules: list[dict[str, Any]] = []
    for w in _windows():
        total = f"sum by (service) (rate({LIVE}_count[{w}]))"
        rules.append({"record": f"intperf:slo_availability_errors:ratio_rate{w}",
                      "expr": f"sum by (service) (rate({ERRORS}[{w}])) / {total}"})
        rules.append({"record": f"intperf:slo_latency_errors:ratio_rate{w}",
                      "expr": f"1 - (sum by (service) (rate({LIVE}_bucket{{le=\"{le}\"}}"
                              f"[{w}])) / {total})"})
    return {"name": "intperf-slo-recording",
            "interval": _duration(settings.performance.monitoring.metrics_interval),
            "rules": rules}


def _slo_alerts(settings: Settings) -> dict[str, Any]:
    slo = settings.intperf.slo
    rules: list[dict[str, Any]] = []
    objectives = (
        ("Availability", "availability", slo.availability_objective,
         "requests failing"),
        ("Latency", "latency", slo.latency_objective,
         f"requests slower than {_num(slo.latency_threshold)}s"),
    )
    for title, sli, objective, bad in objectives:
        budget = 1.0 - objective
        for a in BURN_RATE_ALERTS:
            threshold = f"({_num(a.factor)} * {_num(budget)})"
            series = f"intperf:slo_{sli}_errors:ratio_rate"
            rules.append({
                "alert": f"Intperf{title}BudgetBurn{a.long_window}",
                "expr": f"{series}{a.long_window} > {threshold} "
                        f"and {series}{a.short_window} > {threshold}",
                "labels": {"severity": a.severity, "action": a.action, "slo": sli,
                           "long_window": a.long_window, "short_window": a.short_window,
                           "burn_rate": _num(a.factor)},
                "annotations": {
                    "summary": f"{{{{ $labels.service }}}}: {sli} error budget burning "
                               f"{_num(a.factor)}x too fast",
                    "description": f"{bad} over {a.long_window} and {a.short_window} exceed "
                                   f"{_num(a.factor)} times the budget of a "
                                   f"{_num(objective * 100)}% objective "
                                   f"({slo.period_days}-day SLO).",
                },
            })
    return {"name": "intperf-slo-alerts", "rules": rules}


def _threshold_alerts(settings: Settings) -> dict[str, Any]:
    t = settings.performance.monitoring.alert_thresholds
    wait = _duration(max(300.0, 2 * settings.performance.monitoring.metrics_interval))
    rules = [
        {"alert": "IntperfResponseTime99thHigh",
         "expr": f"intperf:live_response_time_seconds:p99_5m > {_num(t.response_time_99th)}",
         "for": wait,
         "labels": {"severity": "warning", "threshold": "response-time-99th"},
         "annotations": {
             "summary": "{{ $labels.service }}: p99 response time above "
                        f"{_num(t.response_time_99th)}s",
             "description": "The 99th percentile over 5m is {{ $value | humanizeDuration }} "
                            "(performance.monitoring.alert-thresholds.response-time-99th)."}},
        {"alert": "IntperfErrorRateHigh",
         "expr": f"intperf:live_error_ratio:rate5m > {_num(t.error_rate)}",
         "for": wait,
         "labels": {"severity": "warning", "threshold": "error-rate"},
         "annotations": {
             "summary": "{{ $labels.service }}: error rate above "
                        f"{_num(t.error_rate * 100)}%",
             "description": "{{ $value | humanizePercentage }} of requests failed over 5m "
                            "(performance.monitoring.alert-thresholds.error-rate)."}},
        {"alert": "IntperfThroughputLow",
         "expr": f"intperf:live_requests:rate5m < {_num(t.throughput_min)}",
         "for": wait,
         "labels": {"severity": "warning", "threshold": "throughput-min"},
         "annotations": {
             "summary": "{{ $labels.service }}: throughput below "
                        f"{_num(t.throughput_min)} requests/s",
             "description": "{{ $value | humanize }} requests/s over 5m "
                            "(performance.monitoring.alert-thresholds.throughput-min)."}},
    ]
    return {"name": "intperf-thresholds", "rules": rules}


def _platform_alerts() -> dict[str, Any]:
    rules = [
        {"alert": "IntperfCircuitBreakerOpen",
         "expr": 'intperf_circuit_breaker_state{state="open"} == 1',
         "for": "5m",
         "labels": {"severity": "warning"},
         "annotations": {"summary": "Circuit breaker {{ $labels.name }} has been open for 5m"}},
        {"alert": "IntperfRunQueueFull",
         "expr": "intperf_runs_queued >= intperf_run_queue_capacity "
                 "and intperf_run_queue_capacity > 0",
         "for": "10m",
         "labels": {"severity": "warning"},
         "annotations": {"summary": "The run queue has been full for 10m: submissions "
                                    "are refused with 503"}},
    ]
    return {"name": "intperf-platform", "rules": rules}


def prometheus_rules(settings: Settings) -> dict[str, Any]:
    """The rule file (``groups``) for ``settings``'s thresholds and SLOs."""
    return {"groups": [_recording(settings), _slo_recording(settings),
                       _threshold_alerts(settings), _slo_alerts(settings), _platform_alerts()]}


def rules_yaml(settings: Settings) -> str:
    """:func:`prometheus_rules` as YAML, with a header saying where it came from."""
    body = yaml.safe_dump(prometheus_rules(settings), sort_keys=False, width=1000,
                          allow_unicode=True)
    return ("# Generated by `intperf export prometheus-rules` (docs/monitoring.md).\n"
            "# Check with: promtool check rules FILE\n" + body)


def required_bounds(settings: Settings) -> Sequence[float]:
    """The ``le`` bounds the rules read (all present on /metrics: metrics_live adds them)."""
    return latency_bounds((settings.performance.monitoring.alert_thresholds.response_time_99th,
                           settings.intperf.slo.latency_threshold))
