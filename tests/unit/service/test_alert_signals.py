"""Sources into the alert manager: stream alerts and run events as signals, the payment success
watch, the policy from ``intperf.alerting``, and a group as a notification."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from intperf.config import load_settings
from intperf.monitor.alert_manager import policy_from_settings
from intperf.monitor.alert_model import Dispatch
from intperf.monitor.alert_render import notification_of
from intperf.service.alerts import AlertEvent, payment_success_watch, signal_of
from intperf.service.stream_runtime import alert_event
from intperf.store.alert_repository import AlertRecord
from intperf.stream.topologies import StreamAlert

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "rule", "label"), [
    ("response-time-p99", "response-time-99th", "service"),
    ("error-rate", "error-rate", "service"),
    ("throughput-min", "throughput-min", "service"),
    ("cache-miss-storm", "cache-miss-storm", "region"),
])
def test_stream_alerts_fire_and_resolve_by_key(kind: str, rule: str, label: str) -> None:
    fire = signal_of(alert_event(StreamAlert(kind, "critical", "shop", "too slow",
                                             {"observed": 3.0}, 1_700_000_000_000)))
    assert (fire.rule, dict(fire.labels), fire.active, fire.severity) == (
        rule, {label: "shop"}, True, "critical")
    assert "resolved" not in fire.details
    clear = signal_of(alert_event(StreamAlert(kind, "info", "shop", "ok", {},
                                              1_700_000_060_000, resolved=True)))
    assert clear.active is False and clear.fingerprint == fire.fingerprint


def test_run_events_become_run_rules() -> None:
    old = signal_of(AlertEvent("regression", "warning", "slower", {"baseline": "b"}, "r1",
                               labels={"scenario": "shop"}))
    assert (old.rule, dict(old.labels), old.run_id) == ("run.regression", {"scenario": "shop"},
                                                        "r1")
    ok = signal_of(AlertEvent("run.failed", "warning", "passed", labels={"scenario": "shop"},
                              resolved=True))
    assert (ok.rule, ok.active) == ("run.failed", False)


async def test_payment_success_watch_fires_below_threshold_and_resolves() -> None:
    batches: list[list[Mapping[str, Any]]] = [
        [{"service": "pay", "end_ms": 60_000, "payment_success_rate": 0.99},
         {"service": "pay", "end_ms": 120_000, "payment_success_rate": 0.80},
         {"service": "cart", "end_ms": 120_000, "payment_success_rate": None}],
        [],
        [{"service": "pay", "end_ms": 180_000, "payment_success_rate": 0.97}],
    ]
    asked: list[int] = []

    async def windows(since_ms: int) -> Sequence[Mapping[str, Any]]:
        asked.append(since_ms)
        return batches.pop(0)

    watch = payment_success_watch(windows, 0.95)
    [first] = await watch(NOW)
    assert (first.rule, dict(first.labels), first.active) == (
        "payment-success-rate", {"service": "pay"}, True)
    assert first.details["observed"] == 0.80 and first.severity == "warning"
    assert await watch(NOW) == []
    [second] = await watch(NOW)
    assert second.active is False
    assert asked == [0, 120_000, 120_000]


def test_policy_from_settings_defaults_and_escalation_channels() -> None:
    s = load_settings(environ={})
    p = policy_from_settings(s, ["log"])
    assert (p.receivers, p.group_by, p.group_wait_s) == (("log",), ("alertname",), 10.0)
    s = load_settings(environ={"INTPERF_INTPERF__ALERTING__CHANNELS": (
        '[{"name": "log", "type": "log"}, {"name": "mail", "type": "email", '
        '"host": "127.0.0.1", "from": "a@b.test", "to": ["c@d.test"]}]'),
        "INTPERF_INTPERF__ALERTING__ESCALATION": '[{"channel": "mail", "after": "15m"}]',
        "INTPERF_INTPERF__ALERTING__RULES": '[{"name": "error-rate", "for": "2m", '
                                            '"severity": "critical"}]'})
    p = policy_from_settings(s, ["log", "mail"])
    assert p.receivers == ("log",)
    assert p.escalation[0].after_s == 900.0
    assert p.rule("error-rate").for_s == 120.0 and p.rule("error-rate").severity == "critical"
    with pytest.raises(Exception, match="unknown channel"):
        load_settings(environ={"INTPERF_INTPERF__ALERTING__CHANNELS": '[{"name": "log", '
                                                                      '"type": "log"}]',
                               "INTPERF_INTPERF__ALERTING__RECEIVERS": '["pager"]'})


def test_a_group_notification() -> None:
    def alert(service: str, state: str, severity: str) -> AlertRecord:
        return AlertRecord(service, service, "error-rate", severity, state, f"{service} bad",
                           {"service": service}, {}, None, '{alertname="error-rate"}', NOW,
                           NOW)

    n = notification_of(Dispatch('{alertname="error-rate"}', "firing", ("log",),
                                 (alert("api", "firing", "critical"),
                                  alert("web", "resolved", "warning")), NOW))
    assert n.subject == '[FIRING:1] {alertname="error-rate"}'
    assert n.severity == "critical"
    assert n.text.splitlines() == ["FIRING [critical] api bad", "RESOLVED [warning] web bad"]
    assert n.payload["status"] == "firing" and len(n.payload["alerts"]) == 2
