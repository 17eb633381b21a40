"""A Grafana dashboard over the metrics of ``GET /metrics``, and provisioning files (pure).

The dashboard reads the raw metrics (not the recording rules), so it works on a Prometheus
without intperf's rules. ``schemaVersion`` 39 is what Grafana 10.4 and 11.0 write; later
versions migrate it when loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "DASHBOARD_UID",
    "DATASOURCE_UID",
    "SCHEMA_VERSION",
    "Panel",
    "dashboard",
    "dashboard_provider_yaml",
    "datasource_yaml",
    "panels",
]

SCHEMA_VERSION = 39
DASHBOARD_UID = "intperf-overview"
DATASOURCE_UID = "intperf-prometheus"
_DS = {"type": "prometheus", "uid": "${datasource}"}
_SVC = 'service=~"$service"'
_RATE = "$__rate_interval"
_LIVE = "intperf_live_response_time_seconds"


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: its kind, title, queries (PromQL, legend) and place on the 24-wide grid."""

    kind: str
    title: str
    queries: tuple[tuple[str, str], ...]
    x: int
    y: int
    w: int
    h: int
    unit: str = "short"
    description: str = ""


def panels() -> list[Panel]:
    """The dashboard's panels, top to bottom."""
    q = _latency_queries()
    return [
        Panel("stat", "Running tests", (("sum(intperf_runs_running)", "running"),), 0, 0, 4, 4),
        Panel("stat", "Queued runs", (("sum(intperf_runs_queued)", "queued"),), 4, 0, 4, 4),
        Panel("stat", "Alerts firing", (("sum(intperf_alerts_firing)", "firing"),), 8, 0, 4, 4,
              description="Firing and unacknowledged alerts of intperf's alert manager"),
        Panel("stat", "Open circuit breakers",
              (('sum(intperf_circuit_breaker_state{state="open"})', "open"),), 12, 0, 4, 4),
        Panel("stat", "Live services",
              (("count(count by (service) (intperf_live_response_time_seconds_count))",
                "services"),), 16, 0, 4, 4),
        Panel("stat", "Service p99 (HTTP)",
              (("histogram_quantile(0.99, sum by (le) "
                f"(rate(intperf_http_request_duration_seconds_bucket[{_RATE}])))", "p99"),),
              20, 0, 4, 4, unit="s"),
        Panel("timeseries", "Response time quantiles (live)", q, 0, 4, 12, 8, unit="s",
              description="From the live analytics histograms (1% bucket error, "
                          "bucket bounds per docs/monitoring.md)"),
        Panel("timeseries", "Error ratio (live)",
              ((f"sum by (service) (rate(intperf_live_errors_total{{{_SVC}}}[{_RATE}])) / "
                f"sum by (service) (rate({_LIVE}_count{{{_SVC}}}[{_RATE}]))",
                "{{service}}"),), 12, 4, 12, 8, unit="percentunit"),
        Panel("timeseries", "Throughput (live)",
              ((f"sum by (service) (rate({_LIVE}_count{{{_SVC}}}[{_RATE}]))", "{{service}}"),
               (f"intperf_live_throughput_requests_per_second{{{_SVC}}}",
                "{{service}} (latest window)")), 0, 12, 12, 8, unit="reqps"),
        Panel("timeseries", "Cache hit ratio",
              (("intperf_cache_hit_ratio", "{{region}}"),), 12, 12, 12, 8, unit="percentunit"),
        Panel("timeseries", "Business: orders and payments",
              ((f"intperf_business_orders_created{{{_SVC}}}", "{{service}} orders/window"),
               (f"intperf_business_payment_success_ratio{{{_SVC}}}",
                "{{service}} payment success")), 0, 20, 12, 8),
        Panel("timeseries", "Circuit breakers (1 = in that state)",
              (('max by (name, state) (intperf_circuit_breaker_state{state!="closed"})',
                "{{name}} {{state}}"),), 12, 20, 12, 8),
        Panel("timeseries", "Running load tests: requests/s and active users",
              (("intperf_run_throughput_requests_per_second", "{{scenario}} {{run_id}} rps"),
               ("intperf_run_active_users", "{{scenario}} {{run_id}} users"),
               ("rate(intperf_run_errors_total[1m])", "{{scenario}} {{run_id}} errors/s")),
              0, 28, 12, 8),
        Panel("timeseries", "Runs by status",
              (("sum by (status) (intperf_runs)", "{{status}}"),), 12, 28, 12, 8),
        Panel("timeseries", "Alerts firing by severity",
              (("sum by (severity) (intperf_alerts_firing)", "{{severity}}"),), 0, 36, 12, 8),
        Panel("timeseries", "intperf service: requests/s by route",
              ((f"sum by (route, status) (rate(intperf_http_requests_total[{_RATE}]))",
                "{{route}} {{status}}"),), 12, 36, 12, 8, unit="reqps"),
    ]


def _latency_queries() -> tuple[tuple[str, str], ...]:
    return tuple(
        (f"histogram_quantile({q}, sum by (service, le) "
         f"(rate({_LIVE}_bucket{{{_SVC}}}[{_RATE}])))", f"{{{{service}}}} p{name}")
        for q, name in ((0.5, "50"), (0.95, "95"), (0.99, "99")))


def _panel_json(p: Panel, pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": pid, "type": p.kind, "title": p.title, "datasource": _DS,
        "gridPos": {"x": p.x, "y": p.y, "w": p.w, "h": p.h},
        "targets": [{"refId": chr(ord("A") + i), "datasource": _DS, "expr": expr,
                     "legendFormat": legend, "range": True}
                    for i, (expr, legend) in enumerate(p.queries)],
        "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }
    if p.kind == "stat":
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False},
                          "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    if p.description:
        out["description"] = p.description
    return out


def dashboard(title: str = "intperf overview") -> dict[str, Any]:
    """The dashboard model (import it, or provision it with :func:`dashboard_provider_yaml`)."""
    return {
        "uid": DASHBOARD_UID,
        "title": title,
        "tags": ["intperf", "performance"],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
            {"name": "service", "label": "Service", "type": "query", "datasource": _DS,
             "query": {"query": f"label_values({_LIVE}_count, service)", "refId": "service"},
             "definition": f"label_values({_LIVE}_count, service)",
             "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
             "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
             "sort": 1, "hide": 0},
        ]},
        "annotations": {"list": []},
        "panels": [_panel_json(p, i + 1) for i, p in enumerate(panels())],
    }


def datasource_yaml(prometheus_url: str = "http://127.0.0.1:9090") -> str:
    """Grafana datasource provisioning for the Prometheus that scrapes intperf."""
    return yaml.safe_dump({"apiVersion": 1, "datasources": [{
        "name": "intperf Prometheus", "type": "prometheus", "uid": DATASOURCE_UID,
        "access": "proxy", "url": prometheus_url, "isDefault": False, "editable": True,
        "jsonData": {"timeInterval": "30s"}}]}, sort_keys=False)


def dashboard_provider_yaml(dashboards_path: str) -> str:
    """Grafana dashboard provider that loads the JSON files under ``dashboards_path``."""
    return yaml.safe_dump({"apiVersion": 1, "providers": [{
        "name": "intperf", "orgId": 1, "folder": "intperf", "type": "file",
        "disableDeletion": False, "updateIntervalSeconds": 60, "allowUiUpdates": True,
        "options": {"path": dashboards_path, "foldersFromFilesStructure": False}}]},
        sort_keys=False)
