"""The example application.yml shipped with the service loads, and its schedule parses."""

from __future__ import annotations

from pathlib import Path

import yaml

import intperf.service
from intperf.config import load_settings
from intperf.service.schedules import SuiteTest, parse_schedules

EXAMPLE = Path(next(iter(intperf.service.__path__))) / "examples" / "application.yml"


def test_example_loads_with_the_reference_keys() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert settings.server.port == 8105
    assert settings.spring.datasource.hikari.maximum_pool_size == 20
    assert settings.spring.redis.timeout == 2.0
    assert settings.spring.redis.cluster.nodes == "localhost:7000,localhost:7001,localhost:7002"
    testing = settings.performance.testing
    assert (testing.gatling.base_url, testing.gatling.max_users,
            testing.gatling.ramp_duration) == ("http://localhost:8080", 1000, 300.0)
    assert testing.jmeter.thread_groups == 5
    thresholds = settings.performance.monitoring.alert_thresholds
    assert (thresholds.response_time_99th, thresholds.error_rate,
            thresholds.throughput_min) == (2.0, 0.05, 100.0)
    assert settings.performance.optimization.auto_tune
    assert settings.intperf.storage_url.startswith("sqlite:")
    assert settings.intperf.allowed_targets == ["127.0.0.0/8", "::1/128", "localhost"]
    assert settings.intperf.webhooks == []
    assert settings.intperf.limits.max_duration == 3600.0


def test_example_reference_section_is_the_reference_verbatim() -> None:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert doc["performance"] == {
        "testing": {
            "gatling": {"base-url": "http://localhost:8080", "max-users": 1000,
                        "ramp-duration": "300s"},
            "jmeter": {"test-plan-path": "load-testing/jmeter-test-plan.jmx",
                       "thread-groups": 5}},
        "monitoring": {"metrics-interval": "30s",
                       "alert-thresholds": {"response-time-99th": "2000ms", "error-rate": "5%",
                                            "throughput-min": "100rps"}},
        "optimization": {"auto-tune": True, "cache-optimization": True,
                         "query-optimization": True}}


def test_example_schedule_is_the_reference_daily_suite() -> None:
    settings = load_settings(EXAMPLE, environ={})
    [schedule] = parse_schedules(settings.intperf.schedules)
    assert schedule.name == "daily-performance-suite"
    assert schedule.cron.text == "0 0 2 * * ?"
    assert schedule.cron.describe() == "at 02:00:00, every day (UTC)"
    assert schedule.enabled and schedule.compare_with_baseline
    assert schedule.tests == (
        SuiteTest("social-commerce-load-test", "social-commerce", 500, 600.0, 0.0, "GATLING"),
        SuiteTest("api-performance-test", "social-commerce", 200, 900.0, 0.0, "NATIVE"),
        SuiteTest("social-interaction-test", "social-commerce", 300, 480.0, 0.0, "GATLING"))
