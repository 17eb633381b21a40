"""Tests of ``${...}`` templates: parsing, escapes, built-ins, errors and round-trip properties."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from intperf.errors import IntperfError, UsageError
from intperf.loadtest.templating import (
    BuiltinContext,
    MissingVariableError,
    Template,
    TemplateSyntaxError,
)


def ctx(seed: int = 1, user_id: int = 7, iteration: int = 3) -> BuiltinContext:
    return BuiltinContext(random.Random(seed), user_id, iteration)


def test_static_text_is_stored_once() -> None:
    t = Template.compile("/api/products")
    assert t.is_static
    assert t.variables == frozenset()
    assert t.render({}, ctx()) is t.static_text


def test_variable_substitution() -> None:
    t = Template.compile("/users/${id}/posts/${post}")
    assert not t.is_static
    assert t.variables == {"id", "post"}
    assert t.render({"id": "42", "post": "9"}, ctx()) == "/users/42/posts/9"


def test_whitespace_inside_braces_is_allowed() -> None:
    assert Template.compile("${ id }").render({"id": "x"}, ctx()) == "x"


def test_builtins() -> None:
    t = Template.compile("${userId}-${iteration}")
    assert t.render({}, ctx(user_id=12, iteration=5)) == "12-5"
    u = Template.compile("${uuid}").render({}, ctx())
    assert uuid.UUID(u).version == 4
    ts = int(Template.compile("${timestamp}").render({}, ctx()))
    assert ts > 1_600_000_000_000  # milliseconds since the epoch


def test_uuid_is_reproducible_with_a_seed() -> None:
    t = Template.compile("${uuid}")
    assert t.render({}, ctx(seed=5)) == t.render({}, ctx(seed=5))
    c = ctx()
    assert t.render({}, c) != t.render({}, c)


def test_random_int_is_inclusive_and_not_a_variable() -> None:
    t = Template.compile("${randomInt(1, 3)}")
    assert t.variables == frozenset()
    assert not t.is_static
    c = ctx()
    assert {t.render({}, c) for _ in range(200)} == {"1", "2", "3"}
    assert Template.compile("${randomInt(-2,-2)}").render({}, c) == "-2"


def test_user_variable_shadows_builtin() -> None:
    assert Template.compile("${userId}").render({"userId": "alice"}, ctx()) == "alice"


def test_escape_and_lone_dollars() -> None:
    t = Template.compile("cost $5, literal $${name}, $$ and ${x}")
    assert t.render({"x": "X"}, ctx()) == "cost $5, literal ${name}, $$ and X"
    assert Template.compile("$${a}").is_static


def test_missing_variable() -> None:
    with pytest.raises(MissingVariableError) as info:
        Template.compile("a${nope}b").render({}, ctx())
    assert info.value.name == "nope"
    assert isinstance(info.value, IntperfError)
    assert "'nope' is not set" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${", "unclosed '${'"),
        ("abc ${name", "unclosed '${'"),
        ("${}", "invalid reference '${}'"),
        ("${a b}", "invalid reference '${a b}'"),
        ("${1abc}", "invalid reference '${1abc}'"),
        ("${foo(1,2)}", "unknown function 'foo'"),
        ("${randomInt(1)}", "randomInt() takes 2 arguments"),
        ("${randomInt(a,2)}", "randomInt() takes whole numbers, got 'a'"),
        ("${randomInt(5,1)}", "randomInt(5,1): the first bound must not exceed the second"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        Template.compile(text)
    assert message in str(info.value)
    assert isinstance(info.value, UsageError)


def test_syntax_error_position() -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        Template.compile("/a/${b c}")
    assert info.value.position == 3
    assert "at column 4" in str(info.value)


_names = st.from_regex(re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,8}"), fullmatch=True).filter(
    lambda n: n not in {"uuid", "timestamp", "userId", "iteration"}
)


@given(st.text() | st.text(alphabet="${}a"))
def test_text_without_references_round_trips(text: str) -> None:
    assume("${" not in text)
    t = Template.compile(text)
    assert t.is_static
    assert t.render({}, ctx()) == text


@given(
    st.lists(st.tuples(st.text().map(lambda s: s.replace("$", "")), _names), max_size=5), st.data()
)
def test_values_are_substituted_verbatim(
    pieces: list[tuple[str, str]], data: st.DataObject
) -> None:
    values = {name: data.draw(st.text(), label=name) for _, name in pieces}
    text = "".join(f"{lit}${{{name}}}" for lit, name in pieces)
    expected = "".join(lit + values[name] for lit, name in pieces)
    t = Template.compile(text)
    assert t.variables == {name for _, name in pieces}
    assert t.render(values, ctx()) == expected
