"""The condition language of group steps: parsing, errors with columns, evaluation."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.loadtest.conditions import (
    And,
    Compare,
    ConditionSyntaxError,
    LastOk,
    Literal,
    Node,
    Not,
    Or,
    Ref,
    Text,
    parse_condition,
)
from intperf.loadtest.templating import BuiltinContext, Template

CTX = BuiltinContext(rng=random.Random(1), user_id=7, iteration=3)


def holds(text: str, last_ok: bool = True, **variables: str) -> bool:
    return parse_condition(text).evaluate(variables, CTX, last_ok)


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ('"${status}" == "PAID"', {"status": "PAID"}, True),
        ('"${status}" == "PAID"', {"status": "paid"}, False),
        ("${count} > 0", {"count": "5"}, True),
        ("${count} > 0", {"count": "-1"}, False),
        ("${count} >= 10", {"count": "9"}, False),  # numbers, not text: "9" > "10" as text
        ('"${count}" >= "10"', {"count": "9"}, True),  # quoted: compared as text
        ("${count} == 5", {"count": "5.0"}, True),
        ("${count} == 5", {"count": "five"}, False),
        ("${count} != 5", {"count": "five"}, True),
        ("${count} < 5", {"count": "five"}, False),
        ("${a} == ${b}", {"a": "007", "b": "7"}, True),
        ('${a} == "7"', {"a": "007"}, True),  # a number and a text: the text is read
        ('"${a}" == "7"', {"a": "007"}, False),  # two texts
        ("${a} < ${b}", {"a": "abc", "b": "abd"}, True),
        ('${flag}', {"flag": "TRUE"}, True),
        ('${flag}', {"flag": "yes"}, False),
        ("${flag} == true", {"flag": "True"}, True),
        ("not ${flag}", {"flag": "false"}, True),
        ('${missing} == ""', {}, True),  # not set yet: empty text
        ("${a} == 1 && ${b} == 2 || ${c} == 3", {"a": "1", "b": "0", "c": "3"}, True),
        ("${a} == 1 and (${b} == 2 or ${c} == 3)", {"a": "0", "b": "2", "c": "3"}, False),
        ("!(${a} == 1) and ${a} != 2", {"a": "3"}, True),
        ('"${a}-${b}" == "x-y"', {"a": "x", "b": "y"}, True),
        ("'single' == \"single\"", {}, True),
        (r'"say \"hi\"" == "say \"hi\""', {}, True),
        ("${userId} == 7 and ${iteration} == 3", {}, True),
        ("${randomInt(1,1)} == 1", {}, True),
        ("true and not false", {}, True),
        ("(((true)))", {}, True),
        ("1.5e1 == 15", {}, True),
        ("${n} > -2", {"n": "-1"}, True),
    ],
)
def test_evaluation(text: str, variables: dict[str, str], expected: bool) -> None:
    assert holds(text, **variables) is expected


def test_last_ok() -> None:
    assert holds("last_ok", last_ok=True)
    assert not holds("last_ok", last_ok=False)
    assert holds("not last_ok", last_ok=False)
    assert holds('last_ok == "true"', last_ok=True)
    assert holds('last_ok == "FALSE"', last_ok=False)
    assert not holds("last_ok == 1", last_ok=True)  # a boolean is not a number
    assert not holds("last_ok < true")
    c = parse_condition('last_ok and "${a}" == ${b}')
    assert c.uses_last_ok
    assert c.variables == frozenset({"a", "b"})
    assert not parse_condition("${a} == 1").uses_last_ok


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(${a} == 1))", "unexpected ')' (no '(' to close) at column 12"),
        ("${a} == 1)", "unexpected ')' (no '(' to close) at column 10"),
        ("(${a} == 1", "unclosed '(': add ')' at column 11"),
        ("${a} = 1", "use '==' to compare ('=' alone is no operator) at column 6"),
        ("${a} & ${b}", "use '&&' (or 'and') at column 6"),
        ("${a} | ${b}", "use '||' (or 'or') at column 6"),
        ("status == 1", "unknown name 'status': write ${status} for a variable"),
        ("${a} ==", "unexpected end of the condition at column 8"),
        ("== 1", "unexpected '=='; a value is missing before it at column 1"),
        ("and true", "unexpected 'and'; a value is missing before it at column 1"),
        ("5", "a number alone is not a condition; compare it (e.g. ${count} > 5) at column 1"),
        ("${a} < 1 < 2", "comparisons cannot be chained; join them with 'and' at column 10"),
        ('"abc', 'unclosed text: add the closing " at column 1'),
        ("${a", "unclosed '${': close it with '}' at column 1"),
        ("${a b}", "invalid reference '${a b}'"),
        ('"${nope(1)}" == ""', "unknown function 'nope' (known: randomInt(...)) at column 2"),
        ("true true", "unexpected 'true'; join conditions with 'and' or 'or' at column 6"),
        ("", "empty condition at column 1"),
        ("   ", "empty condition at column 1"),
        ("${a} == 1 @", "unexpected '@' at column 11"),
        ("${a} -1", "unexpected '-' at column 6"),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError) as e:
        parse_condition(text)
    assert message in str(e.value)


def test_canonical_text() -> None:
    c = parse_condition("!${a}==1 && (${b}||last_ok) || 'x'!=\"y\"")
    assert str(c) == 'not ${a} == 1 and (${b} or last_ok) or "x" != "y"'
    assert str(parse_condition(str(c))) == str(c)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ConditionSyntaxError, match="nested too deeply"):
        parse_condition("(" * 200 + "true" + ")" * 200)


# --- properties ------------------------------------------------------------------------------
NAMES = ("a", "b", "c")
VALUES = st.sampled_from(["", "0", "7", "007", "-3", "1.5", "PAID", "paid", "true", "False",
                          "abc", " 2 "])
_SAFE = st.text(alphabet="abcPAID 01.-\"'\\", max_size=6)


@st.composite
def templates(draw: st.DrawFn) -> Template:
    parts = draw(st.lists(st.one_of(_SAFE, st.sampled_from([f"${{{n}}}" for n in NAMES])),
                          max_size=3))
    return Template.compile("".join(parts))


def leaves() -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(LastOk),
        st.builds(Literal, st.booleans()),
        st.builds(Text, templates()),
        st.builds(Ref, st.sampled_from([Template.compile(f"${{{n}}}") for n in NAMES])),
    )


def operands(conditions: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    numbers = st.builds(Literal, st.integers(-5, 10).map(float)
                        | st.sampled_from([0.5, 1.5, -2.25]))
    return st.one_of(leaves(), numbers, conditions)


def trees() -> st.SearchStrategy[Node]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.builds(And, inner, inner),
            st.builds(Or, inner, inner),
            st.builds(Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                      operands(inner), operands(inner)),
        ),
        max_leaves=12,
    )


_NUM = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*")


def _render(t: Template, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), t.text)


def reference(node: Node, env: dict[str, str], last_ok: bool) -> Any:
    """An independent evaluator written from the documented rules."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, LastOk):
        return last_ok
    if isinstance(node, Text):
        return _render(node.template, env)
    if isinstance(node, Ref):
        text = _render(node.template, env)
        return float(text) if _NUM.fullmatch(text) else text
    if isinstance(node, Not):
        return not truth(reference(node.operand, env, last_ok))
    if isinstance(node, And):
        return truth(reference(node.left, env, last_ok)) and truth(
            reference(node.right, env, last_ok))
    if isinstance(node, Or):
        return truth(reference(node.left, env, last_ok)) or truth(
            reference(node.right, env, last_ok))
    assert isinstance(node, Compare)
    a, b = reference(node.left, env, last_ok), reference(node.right, env, last_ok)
    eq_ops = node.op in ("==", "!=")
    if isinstance(a, bool) or isinstance(b, bool):
        if not eq_ops or isinstance(a, float) or isinstance(b, float):
            return node.op == "!="
        same = str(a).strip().lower() == str(b).strip().lower()
        return same if node.op == "==" else not same
    if isinstance(a, float) != isinstance(b, float):
        text = a if isinstance(a, str) else b
        if not _NUM.fullmatch(text):
            return node.op == "!="
        a, b = float(a), float(b)
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
            ">=": a >= b}[node.op]


def truth(v: Any) -> bool:
    return v if isinstance(v, bool) else isinstance(v, str) and v.strip().lower() == "true"


def _is_lone_number(node: Node) -> bool:
    return isinstance(node, Literal) and not isinstance(node.value, bool)


@settings(max_examples=400)
@given(trees(), st.dictionaries(st.sampled_from(NAMES), VALUES), st.booleans())
def test_printed_trees_parse_back_and_evaluate_as_documented(
    tree: Node, env: dict[str, str], last_ok: bool
) -> None:
    text = str(tree)
    condition = parse_condition(text)
    assert str(condition) == text
    assert condition.evaluate(env, CTX, last_ok) == truth(reference(tree, env, last_ok))


@given(trees())
def test_spacing_and_spelling_do_not_matter(tree: Node) -> None:
    text = str(tree)
    symbolic = (text.replace(" and ", "&&").replace(" or ", " || ").replace("not ", "!")
                .replace(" == ", "=="))
    if symbolic.count('"') == 0:  # keywords inside quoted text must stay as they are
        assert str(parse_condition(symbolic)) == text
    assert str(parse_condition(f"  ( {text} )  ")) == text


@settings(max_examples=500)
@given(st.text(alphabet='${}()"\'!=<>&|abn ot1.-_\\', max_size=30))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionSyntaxError as e:
        assert 0 <= e.position <= len(text)
