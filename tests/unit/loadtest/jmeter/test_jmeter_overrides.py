"""Thread-group overrides (the ``jmeter-test`` API) applied to the parsed reference plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.config import load_settings
from intperf.errors import UsageError
from intperf.loadtest.jmeter import JmxError, parse_jmx, translate, translate_plan
from intperf.loadtest.jmeter.overrides import GroupOverride, apply_overrides, thread_group_names
from intperf.service.runspec import JMeterTestRequest, build_jmeter_scenario, resolve_test_plan

PLANS = Path(__file__).parents[4] / "load-testing"
PLAN = PLANS / "jmeter-test-plan.jmx"


def test_overrides_reach_their_own_population(tmp_path: Path) -> None:
    plan = parse_jmx(PLAN, {"ramp": "5"})
    assert thread_group_names(plan) == ["ProductSearch", "OrderCreation", "PaymentProcessing"]
    changed = apply_overrides(plan, [GroupOverride("ProductSearch", 200, 300.0),
                                     GroupOverride("OrderCreation", 50, 120.0, ramp_up=10.0),
                                     GroupOverride("PaymentProcessing", users=30)])
    doc, _ = translate(changed, data_dir=tmp_path)
    # JMeter's scheduler duration includes the ramp-up; each group keeps its own.
    assert [j["load"] for j in doc["journeys"]] == [
        {"users": 200, "ramp_up": 5, "duration": 295},
        {"users": 50, "ramp_up": 10, "duration": 110},
        {"users": 30, "ramp_up": 5, "duration": 55}]
    # The original plan is untouched.
    doc, _ = translate(plan, data_dir=tmp_path)
    assert [j["load"]["users"] for j in doc["journeys"]] == [6, 3, 1]


def test_no_overrides_is_the_plan() -> None:
    plan = parse_jmx(PLAN)
    assert apply_overrides(plan, []) is plan


@pytest.mark.parametrize(("overrides", "message"), [
    ([GroupOverride("Checkout", 1)], "threadGroups[0].name: the plan has no thread group"),
    ([GroupOverride("ProductSearch", 1), GroupOverride("ProductSearch", 2)],
     "threadGroups[1].name: thread group 'ProductSearch' is given twice"),
    ([GroupOverride("ProductSearch", 0)], "threadGroups[0].users"),
    ([GroupOverride("ProductSearch", duration=-1.0)], "threadGroups[0].duration"),
])
def test_bad_overrides(overrides: list[GroupOverride], message: str) -> None:
    with pytest.raises(JmxError) as info:
        apply_overrides(parse_jmx(PLAN), overrides)
    assert str(info.value).startswith(message)


def test_data_outside_the_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JmxError, match="outside"):
        translate_plan(parse_jmx(PLAN), data_dir=tmp_path, data_root=tmp_path)


def test_resolve_test_plan(tmp_path: Path) -> None:
    (tmp_path / "a.jmx").write_text("<x/>")
    assert resolve_test_plan("a", tmp_path) == tmp_path / "a.jmx"
    assert resolve_test_plan("a.jmx", tmp_path) == tmp_path / "a.jmx"
    for bad in ("../a", "x/a", "..", ".hidden", "a\\b"):
        with pytest.raises(UsageError, match="not a test plan name"):
            resolve_test_plan(bad, tmp_path)
    with pytest.raises(UsageError, match="known: a "):
        resolve_test_plan("b", tmp_path)


def test_build_jmeter_scenario(tmp_path: Path) -> None:
    settings = load_settings(environ={"INTPERF_INTPERF__TEST_PLAN_DIR": str(PLANS)})
    req = JMeterTestRequest.model_validate({
        "testPlan": "jmeter-test-plan", "properties": {"ramp": "0"},
        "threadGroups": [{"name": "OrderCreation", "users": 4, "duration": "30s"}],
        "baseUrl": "http://127.0.0.1:9/"})
    sc = build_jmeter_scenario(req, settings, tmp_path)
    assert sc.name == "jmeter-test-plan"
    assert sc.base_url == "http://127.0.0.1:9"
    loads = {j.name: j.load for j in sc.journeys}
    assert loads["OrderCreation"] is not None and loads["PaymentProcessing"] is not None
    assert (loads["OrderCreation"].users, loads["OrderCreation"].duration) == (4, 30)
    assert (loads["PaymentProcessing"].users, loads["PaymentProcessing"].duration) == (1, 60)
    assert (tmp_path / "users.csv").is_file()
