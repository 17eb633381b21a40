"""Group steps: validation with locations, and their compilation into flat steps with jumps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from intperf.errors import ScenarioError
from intperf.loadtest.flow import Branch, TransactionStep
from intperf.loadtest.plan import (
    STEP_IF,
    STEP_REQUEST,
    STEP_THINK,
    STEP_TX_BEGIN,
    STEP_TX_END,
    CompiledRequest,
    compile_plan,
)
from intperf.loadtest.scenario import GroupStep, Scenario, validate_scenario


def build(steps: list[Any], **extra: Any) -> Scenario:
    doc = {"name": "g", "base_url": "http://127.0.0.1:1",
           "journeys": [{"name": "j", "steps": steps}], **extra}
    return validate_scenario(doc, source="g.yaml", base_dir=Path.cwd())


def problems(steps: list[Any], **extra: Any) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as e:
        build(steps, **extra)
    return e.value.problems


def req(name: str, **more: Any) -> dict[str, Any]:
    return {"request": {"name": name, "path": f"/{name}", **more}}


def test_a_group_step_validates() -> None:
    sc = build([{"group": {"name": "checkout", "if": '"${s}" == "PAID" and last_ok',
                           "transaction": True, "steps": [req("a"), {"think": "1s"}]}}],
               variables={"s": "x"})
    step = sc.journeys[0].steps[0]
    assert isinstance(step, GroupStep)
    assert step.group.transaction is not None
    assert step.group.transaction.include_think_time is False
    assert step.group.compiled_condition is not None
    assert step.group.compiled_condition.uses_last_ok


@pytest.mark.parametrize(
    ("steps", "location", "message"),
    [
        ([{"group": {"if": "(${v} == 1))", "steps": [req("a")]}}],
         "journeys[0].steps[0].group.if", "unexpected ')' (no '(' to close) at column 12"),
        ([req("x"), {"group": {"if": "status == 1", "steps": [req("a")]}}],
         "journeys[0].steps[1].group.if", "unknown name 'status': write ${status}"),
        ([{"group": {"steps": [req("a")], "transaction": True}}],
         "journeys[0].steps[0].group", "a transaction needs the group's 'name'"),
        ([{"group": {"steps": [req("a")], "if_each_step": True}}],
         "journeys[0].steps[0].group", "'if_each_step' needs an 'if' condition"),
        ([{"group": {"steps": []}}], "journeys[0].steps[0].group.steps",
         "needs at least 1 item(s), got 0"),
        ([{"group": {"name": "n", "steps": [req("a")], "transaction": {"include_think": 1}}}],
         "journeys[0].steps[0].group.transaction.include_think",
         "did you mean 'include_think_time'?"),
        ([{"group": {"steps": [{"group": {"steps": [{"request": {"path": "x"}}]}}]}}],
         "journeys[0].steps[0].group.steps[0].group.steps[0].request.path", "x"),
        ([{"group": {"steps": [req("a")], "on_failure": "skip"}}],
         "journeys[0].steps[0].group.on_failure", "use one of end_iteration, continue"),
        ([{"group": {"if": "${nope} == 1", "steps": [req("a")]}}],
         "journeys[0].steps[0].group.if", "unknown variable '${nope}'"),
        ([{"group": {"steps": [{"feed": "people"}]}}],
         "journeys[0].steps[0].group.steps[0].feed", "unknown feeder 'people'"),
        ([{"group": {"steps": [req("a", query={"q": "${v2}"})]}}],
         "journeys[0].steps[0].group.steps[0].request.query.q", "unknown variable '${v2}'"),
        ([{"grop": {"steps": [req("a")]}}], "journeys[0].steps[0]", "did you mean 'group'?"),
    ],
)
def test_group_problems_have_locations(steps: list[Any], location: str, message: str) -> None:
    found = problems(steps, variables={"v": "1"})
    assert any(loc == f"g.yaml:{location}" and message in msg for loc, msg in found), found


def test_variables_set_inside_groups_are_known_everywhere() -> None:
    build([{"group": {"if": "${token} != \"\"", "steps": [
        req("login", extract=[{"var": "token", "jsonpath": "$.t"}])]}},
        req("cart", headers={"Authorization": "Bearer ${token}"})])


def kinds(sc: Scenario) -> list[tuple[int, Any]]:
    return compile_plan(sc).journeys[0].steps


def test_without_groups_nothing_changes() -> None:
    steps = kinds(build([req("a"), {"think": 1}, req("b")]))
    assert [k for k, _ in steps] == [STEP_REQUEST, STEP_THINK, STEP_REQUEST]


def test_groups_compile_to_flat_steps_with_jumps() -> None:
    sc = build([
        req("a"),
        {"group": {"name": "tx", "if": "last_ok", "transaction": True, "steps": [
            req("b"),
            {"group": {"if": "${v} == 1", "steps": [req("c")]}},
            {"think": 1},
        ]}},
        req("d"),
    ], variables={"v": "1"})
    plan = compile_plan(sc)
    steps = plan.journeys[0].steps
    assert [k for k, _ in steps] == [
        STEP_REQUEST,  # 0 a
        STEP_IF,  # 1 -> 8
        STEP_TX_BEGIN,  # 2
        STEP_REQUEST,  # 3 b
        STEP_IF,  # 4 -> 6
        STEP_REQUEST,  # 5 c
        STEP_THINK,  # 6
        STEP_TX_END,  # 7
        STEP_REQUEST,  # 8 d
    ]
    assert cast(Branch, steps[1][1]).skip_to == 8
    assert cast(Branch, steps[4][1]).skip_to == 6
    tx = cast(TransactionStep, steps[2][1])
    assert plan.request_names[tx.index] == "tx"
    assert plan.request_names == ["a", "tx", "b", "c", "d"]
    assert [r.name for r in plan.requests()] == ["a", "b", "c", "d"]


def test_if_each_step_rechecks_before_every_step() -> None:
    steps = kinds(build([{"group": {
        "name": "t", "if": "last_ok", "if_each_step": True, "transaction": True,
        "steps": [req("a"), req("b"), {"think": 0}]}}]))
    assert [k for k, _ in steps] == [STEP_IF, STEP_TX_BEGIN, STEP_REQUEST, STEP_IF,
                                     STEP_REQUEST, STEP_IF, STEP_THINK, STEP_TX_END]
    assert cast(Branch, steps[0][1]).skip_to == 8  # past the transaction
    assert cast(Branch, steps[3][1]).skip_to == 7  # to TX_END: the transaction is recorded
    assert cast(Branch, steps[5][1]).skip_to == 7


def test_on_failure_is_inherited_and_overridden() -> None:
    sc = build([
        req("a"),
        {"group": {"on_failure": "continue", "steps": [
            req("b"),
            req("c", on_failure="end_iteration"),
            {"group": {"steps": [req("d")]}},
            {"group": {"on_failure": "end_iteration", "steps": [req("e")]}},
        ]}},
        req("f", on_failure="continue"),
    ])
    flags = {r.name: r.continue_on_failure for r in compile_plan(sc).requests()}
    assert flags == {"a": False, "b": True, "c": False, "d": True, "e": False, "f": True}


def test_url_checks_make_the_user_track_the_url() -> None:
    sc = build([req("a", checks=[{"url_contains": "/a"}]), req("b")])
    a, b = cast(list[CompiledRequest], compile_plan(sc).requests())
    assert a.track_url and not b.track_url
