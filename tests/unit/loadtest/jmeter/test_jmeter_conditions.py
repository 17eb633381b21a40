"""IfController conditions translated into group conditions; what stays unsupported."""

from __future__ import annotations

import pytest

from intperf.loadtest.conditions import parse_condition
from intperf.loadtest.jmeter.conditions import IfCondition, if_condition
from intperf.loadtest.jmeter.functions import Rewriter, whole_call
from intperf.loadtest.jmeter.requests import NotExpressible


def translate(raw: str, *, use_expression: bool = False,
              notes: list[str] | None = None) -> IfCondition:
    rw = Rewriter({"limit": "3"}, {"status", "count", "token"})
    return if_condition(raw, use_expression=use_expression, rw=rw, where="P / G / if",
                        notes=[] if notes is None else notes)


@pytest.mark.parametrize(
    ("raw", "use_expression", "expected"),
    [
        ('${__jexl3("${status}" == "PAID")}', True, '"${status}" == "PAID"'),
        ('${__jexl3("${status}" == "PAID")}', False, '"${status}" == "PAID"'),
        ("${__jexl2(${count} > 0)}", True, "${count} > 0"),
        ("${__jexl3(${count} > 0 && ${count} <= ${__P(limit)})}", True,
         "${count} > 0 && ${count} <= 3"),
        ("${__jexl3(${count} >= 1 || (${count} != -1 && !false))}", True,
         "${count} >= 1 || (${count} != -1 && (not false))"),
        ('${__jexl3(vars.get("status") ne "VOID" and not (${count} lt 2))}', True,
         '${status} != "VOID" && (not (${count} < 2))'),
        ("${__jexl3(${count} eq 1 or ${count} ge 5 or ${count} le 0 or ${count} gt 9)}", True,
         "${count} == 1 || ${count} >= 5 || ${count} <= 0 || ${count} > 9"),
        ("${JMeterThread.last_sample_ok}", True, "last_ok"),
        ("${JMeterThread.last_sample_ok}", False, "last_ok"),
        ("${__jexl3(!${JMeterThread.last_sample_ok})}", True, "(not last_ok)"),
        ('"${JMeterThread.last_sample_ok}" == "true"', False, 'last_ok == "true"'),
        ('"${status}" === \'PAID\' && ${count} !== 0', False,
         '"${status}" == "PAID" && ${count} != 0'),
        ("${token}", True, "${token}"),
        ('${__jexl3(!(${count} > 1) == true)}', True, "(not (${count} > 1)) == true"),
        ("${__jexl3('say \"hi\"' != \"${status}\")}", True, '"say \\"hi\\"" != "${status}"'),
    ],
)
def test_translated(raw: str, use_expression: bool, expected: str) -> None:
    cond = translate(raw, use_expression=use_expression)
    assert cond == IfCondition(expected)
    parse_condition(expected)  # a valid intperf condition


@pytest.mark.parametrize(
    ("raw", "use_expression", "expected"),
    [
        ("true", False, True),
        ("FALSE", True, False),
        ("${__jexl3(true)}", True, True),
        ("${__jexl3(1 > 2)}", True, False),
        ("${__groovy(true)}", True, True),
        ("${__groovy(false)}", True, False),
        ('${__jexl3("${__P(limit)}" == "3")}', True, True),
    ],
)
def test_constants_are_folded(raw: str, use_expression: bool, expected: bool) -> None:
    assert translate(raw, use_expression=use_expression) == IfCondition(None, expected)


def test_undefined_variables_compare_as_literal_text_like_jmeter() -> None:
    notes: list[str] = []
    assert translate('${__jexl3("${nope}" != "")}', notes=notes) == IfCondition(None, True)
    assert notes == ["P / G / if: ${nope} is not defined by the plan; like JMeter, the condition "
                     "compares the literal text"]


def test_result_variable_is_noted() -> None:
    notes: list[str] = []
    translate("${__jexl3(${count} > 1,result)}", use_expression=True, notes=notes)
    assert "does not store its result in 'result'" in notes[0]


@pytest.mark.parametrize(
    ("raw", "use_expression", "reason"),
    [
        ('${__groovy(vars.get("x") != null)}', True, "function __groovy is not supported"),
        ("${__jexl3(${count}.size() > 1)}", True, "'.' is outside the supported subset"),
        ("${__jexl3(x > 1)}", True, "'x' is outside the supported subset"),
        ('${__jexl3(${status} =~ "P.*")}', True,
         "JEXL's '=~' (regex match or 'in') is not supported"),
        ("${__jexl3(${nope} > 1)}", True, "${nope} is not a variable of the plan"),
        ('${__jexl3(vars.get("nope") == 1)}', True, "'nope' is not a variable of the plan"),
        ("${__jexl3(${count} == null)}", True, "'null' is outside the supported subset"),
        ('${__jexl3("x${JMeterThread.last_sample_ok}" == "x")}', True,
         "JMeterThread.last_sample_ok inside other text"),
        ("${__jexl3(${count} > )}", True, "cannot be translated"),
        ("${__jexl3((${count} > 1)}", True, "unclosed '('"),
        ("${__jexl3(${count} > 1))}", True, "unbalanced ')'"),
        ('${__jexl3("abc)}', True, "unclosed string"),
        ("${a}${b}", True, "only ${__jexl3(...)}, a ${variable} or true/false"),
        ("${__jexl3()}", True, "without an expression"),
        ("   ", False, "empty condition"),
    ],
)
def test_unsupported(raw: str, use_expression: bool, reason: str) -> None:
    with pytest.raises(NotExpressible) as e:
        translate(raw, use_expression=use_expression)
    assert reason in str(e.value)


def test_whole_call() -> None:
    assert whole_call('${__jexl3("a" == "b")}') == ("__jexl3", ['"a" == "b"'])
    assert whole_call(" ${__jexl3(${x} > 1, out)} ") == ("__jexl3", ["${x} > 1", " out"])
    assert whole_call("${x}") is None
    assert whole_call("${__jexl3(1)} and more") is None
    assert whole_call("${__jexl3(1)") is None
