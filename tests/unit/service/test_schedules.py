"""parse_schedules: the configuration form, kebab or snake keys, errors naming their path."""

from __future__ import annotations

from typing import Any

import pytest

from intperf.errors import UsageError
from intperf.service.cron import CronExpression
from intperf.service.schedules import Schedule, SuiteTest, parse_schedules


def suite(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "daily-performance-suite",
        "cron": "0 0 2 * * ?",
        "tests": [
            {"name": "social-commerce-load-test", "scenario": "social-commerce", "users": 500,
             "duration": "10m", "ramp-up": "60s", "test-type": "GATLING"},
            {"name": "api-performance-test", "scenario": "social-commerce", "users": 200,
             "duration": "15m"},
        ],
    }
    doc.update(overrides)
    return doc


def problem(config: list[dict[str, Any]]) -> str:
    with pytest.raises(UsageError) as info:
        parse_schedules(config)
    return str(info.value)


def test_a_suite_parses_into_frozen_values() -> None:
    [schedule] = parse_schedules([suite()])
    assert schedule == Schedule(
        id="daily-performance-suite", name="daily-performance-suite",
        cron=CronExpression.parse("0 0 2 * * ?"),
        tests=(SuiteTest("social-commerce-load-test", "social-commerce", 500, 600.0, 60.0,
                         "GATLING"),
               SuiteTest("api-performance-test", "social-commerce", 200, 900.0, 0.0, "NATIVE")),
        enabled=True, compare_with_baseline=True)
    with pytest.raises(AttributeError):
        schedule.name = "x"  # type: ignore[misc]


def test_snake_keys_ids_time_zones_and_flags() -> None:
    [schedule] = parse_schedules([{
        "name": "nightly", "id": "n1", "cron": "@daily", "timezone": "Europe/Paris",
        "enabled": False, "compare_with_baseline": False,
        "tests": [{"name": "t", "scenario": "social-commerce", "users": 3, "duration": 30,
                   "ramp_up": 5, "test_type": "gatling", "base_url": "http://127.0.0.1:8080"}],
    }])
    assert schedule.id == "n1"
    assert not schedule.enabled and not schedule.compare_with_baseline
    assert str(schedule.cron.tz) == "Europe/Paris"
    assert schedule.tests[0] == SuiteTest("t", "social-commerce", 3, 30.0, 5.0, "GATLING",
                                          "http://127.0.0.1:8080")


def test_empty_configuration() -> None:
    assert parse_schedules([]) == []
    assert parse_schedules(None) == []


@pytest.mark.parametrize(("doc", "message"), [
    (suite(tests=[{"name": "a", "scenario": "s", "users": 1, "duration": 1},
                  {"name": "b", "scenario": "s", "users": 0, "duration": 1}]),
     "intperf.schedules[0].tests[1].users: Input should be greater than or equal to 1"),
    (suite(tests=[{"name": "a", "scenario": "s", "users": 1, "duration": "soon"}]),
     "intperf.schedules[0].tests[0].duration:"),
    (suite(tests=[{"name": "a", "scenario": "s", "users": 1, "duration": 0}]),
     "intperf.schedules[0].tests[0].duration:"),
    (suite(tests=[{"name": "a", "scenario": "s", "users": 1, "duration": 1,
                   "test-type": "JMETER"}]),
     "intperf.schedules[0].tests[0].test-type:"),
    (suite(tests=[{"name": "a", "scenario": "s", "users": 1, "duration": 1, "usres": 2}]),
     "intperf.schedules[0].tests[0].usres: Extra inputs are not permitted"),
    (suite(tests=[]), "intperf.schedules[0].tests:"),
    (suite(cron="0 0 2 * * 8"), "intperf.schedules[0].cron: cron expression '0 0 2 * * 8': "
                                "day-of-week field '8': out of range 1-7"),
    (suite(timezone="Nowhere/City"), "intperf.schedules[0].timezone: time zone"),
    ({"cron": "@daily", "tests": []}, "intperf.schedules[0].name: Field required"),
    (suite(tests=[{"name": "a", "scenario": "s", "users": 1, "duration": 1},
                  {"name": "a", "scenario": "s", "users": 1, "duration": 1}]),
     "intperf.schedules[0].tests[1].name: 'a' appears twice"),
])
def test_problems_name_their_path(doc: dict[str, Any], message: str) -> None:
    assert message in problem([doc])


def test_every_problem_is_reported_and_names_must_be_unique() -> None:
    text = problem([suite(), suite(), suite(cron="nope")])
    assert "intperf.schedules[1].name: 'daily-performance-suite' is already used" in text
    assert "intperf.schedules[2].cron:" in text


def test_a_schedule_that_is_not_a_mapping() -> None:
    assert "intperf.schedules[0]" in problem(["0 0 2 * * ?"])  # type: ignore[list-item]
