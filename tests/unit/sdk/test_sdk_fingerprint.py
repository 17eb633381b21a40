"""SQL fingerprints: literal values, placeholders, comments, case and whitespace do not matter."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.sdk.fingerprint import fingerprint, normalize_sql


@pytest.mark.parametrize(
    ("sql", "normalized"),
    [
        (
            "SELECT a,b FROM t WHERE id = 5 AND name='x''y' -- why",
            "select a, b from t where id = ? and name = ?",
        ),
        (
            "select a, b from t where id=%(id)s and name = :name;",
            "select a, b from t where id = ? and name = ?",
        ),
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in (?)"),
        ("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)", "insert into t (a, b) values (?)"),
        ("SELECT x::text, $1 FROM t", "select x::text, ? from t"),
        ('SELECT $$a;b$$, $tag$x$tag$ /* c */ FROM "Mixed"', 'select ?, ? from "Mixed"'),
        ("SELECT t.col2, 1.5e10, .5 FROM t", "select t.col2, ?, ? from t"),
        ("UPDATE t SET a = -1 WHERE b = E'\\n'", "update t set a = - ? where b = ?"),
    ],
)
def test_normalize(sql: str, normalized: str) -> None:
    assert normalize_sql(sql) == normalized


def test_fingerprint_is_16_hex_and_groups_statements() -> None:
    a = fingerprint("SELECT * FROM orders WHERE id = 1")
    assert re.fullmatch(r"[0-9a-f]{16}", a)
    assert a == fingerprint("select *\n  from ORDERS where id=99  ")
    assert a != fingerprint("SELECT * FROM orders WHERE user_id = 1")


literal = st.one_of(
    st.integers(min_value=0).map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=20).map(lambda s: "'" + s.replace("'", "''") + "'"),
)


@given(literal, literal, st.lists(literal, min_size=1, max_size=6))
def test_literal_values_do_not_change_the_fingerprint(a: str, b: str, many: list[str]) -> None:
    template = "SELECT o.id FROM orders o WHERE o.user_id = {} AND o.note <> {} AND o.x IN ({})"
    first = template.format(a, b, ", ".join(many))
    second = template.format(b, a, "42")
    assert fingerprint(first) == fingerprint(second)


@given(st.lists(st.sampled_from([" ", "\n", "\t", "  "]), min_size=9, max_size=9))
def test_whitespace_does_not_change_the_fingerprint(spaces: list[str]) -> None:
    words = ["SELECT", "a", ",", "b", "FROM", "t", "WHERE", "a", "=", "1"]
    text = words[0] + "".join(s + w for s, w in zip(spaces, words[1:], strict=True))
    assert fingerprint(text) == fingerprint("select a, b from t where a = 2")
