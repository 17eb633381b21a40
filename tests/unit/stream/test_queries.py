"""Slow-query analysis: normalization, fingerprints and advice rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.stream.queries import QueryShape, advice_for, analyze, fingerprint, normalize, shape_of


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM orders WHERE customer_id = 42",
         "SELECT * FROM orders WHERE customer_id = $1"),
        ("select a,b from t -- why\n where x = -5.5e3 /* c */ and y='it''s'",
         "select a, b from t where x = $1 and y = $2"),
        ("SELECT * FROM t WHERE id IN (1, 2, 3) AND s NOT IN ('a','b')",
         "SELECT * FROM t WHERE id IN ($1) AND s NOT IN ($2)"),
        ("select count(*) from t where id = any(array[1,2,3]) limit 10 offset 20",
         "select count(*) from t where id = any (array[$1]) limit $2 offset $3"),
        ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z');",
         "INSERT INTO t(a, b) VALUES ($1, $2)"),
        ("SELECT * FROM t WHERE a = ? AND b IN (?, ?)",
         "SELECT * FROM t WHERE a = $1 AND b IN ($2)"),
        ("SELECT data ? 'key' FROM docs", "SELECT data ? $1 FROM docs"),  # jsonb operator
        ("SELECT * FROM t WHERE d > DATE '2024-01-01' - interval '1 day'",
         "SELECT * FROM t WHERE d > $1::date - $2::interval"),
        ("SELECT * FROM t WHERE a = $2 AND b = $1 AND c = $2",
         "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $1"),
        ("SELECT x - 1, -2, e'\\n', b'01', x'ff', $$dollar$$, 0x1F, 1_000 FROM t",
         "SELECT x - $1, $2, $3, $4, $5, $6, $7, $8 FROM t"),
        ("SELECT a FROM t WHERE b = 'unterminated", "SELECT a FROM t WHERE b = $1"),
        ("SELECT 'x' /* unterminated comment", "SELECT $1"),
        ("   \n", ""),
    ],
)
def test_normalize(sql: str, expected: str) -> None:
    assert normalize(sql) == expected
    assert normalize(expected) == expected


def test_fingerprint_ignores_literals_spacing_and_list_lengths() -> None:
    a = analyze("SELECT * FROM t WHERE id IN (1, 2) AND name = 'x'")
    b = analyze("select *\n  from t\n where id in (7,8,9,10) and name = 'other'")
    c = analyze("SELECT * FROM t WHERE id IN (1, 2) AND other = 'x'")
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert len(a.fingerprint) == 16 and int(a.fingerprint, 16) >= 0
    broken = fingerprint("SELECT FROM WHERE (")  # not parseable: a hash of the text
    assert len(broken) == 16 and broken != fingerprint("SELECT FROM WHERE ((")


LITERALS = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(abs(f))),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.text("01", min_size=1, max_size=8).map(lambda s: f"B'{s}'"),
)
TEMPLATES = [
    "SELECT * FROM orders WHERE customer_id = {} AND status = {}",
    "select a from t where x in ({}, {}) limit 10",
    "UPDATE t SET v = {} WHERE id = {}",
    "INSERT INTO t VALUES ({}, {}), ({}, {})",
    "SELECT {} + {} AS s",
    "DELETE FROM t WHERE a BETWEEN {} AND {}",
]


@settings(max_examples=300, deadline=None)
@given(template=st.sampled_from(TEMPLATES), values=st.lists(LITERALS, min_size=4, max_size=4))
def test_literals_never_survive_and_fingerprints_ignore_them(template: str,
                                                             values: list[str]) -> None:
    sql = template.format(*values)
    normalized = normalize(sql)
    assert normalize(normalized) == normalized
    skeleton = normalize(template.format(*["0"] * 4))
    assert normalized == skeleton
    for v in values:
        body = v.strip("'")
        if len(body) >= 3 and not body.isidentifier():
            assert v not in normalized
    assert fingerprint(normalized) == fingerprint(skeleton)


SQLISH = st.lists(
    st.sampled_from(list("abcxyz019 _.,;:()[]'\"$?*+-/<>=!%|&~@#^`\n\tE")) | st.sampled_from(
        ["SELECT ", " FROM ", " WHERE ", " IN ", "--", "/*", "*/", "$$", "$1", "::", " AND ",
         " VALUES ", "ARRAY", " date ", "'2024-01-01'", "0x1f", "1e5", "ü"]),
    max_size=40,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(sql=SQLISH)
def test_normalize_is_idempotent_on_any_text(sql: str) -> None:
    normalized = normalize(sql)
    assert normalize(normalized) == normalized


@settings(max_examples=300, deadline=None)
@given(sql=st.text(max_size=80))
def test_normalize_is_idempotent_on_arbitrary_unicode(sql: str) -> None:
    normalized = normalize(sql)
    assert normalize(normalized) == normalized


# -- advice ------------------------------------------------------------------------------------


def rules(sql: str, rows: int = 0, large: int = 1000) -> list[str]:
    return [a.split(":")[0] for a in analyze(sql).advice(rows, large)]


def test_pagination_only_for_large_results_of_reads() -> None:
    assert rules("SELECT id FROM t LIMIT 5000", rows=5000) == ["paginate"]
    assert rules("SELECT id FROM t LIMIT 5000", rows=1000) == []  # not more than the limit
    assert rules("UPDATE t SET a = 1 WHERE b = 2", rows=5000) == []
    advice = analyze("SELECT id FROM t").advice(12_345, 1000)
    assert advice[0].startswith("paginate: 12,345 rows in one result (over 1,000)")


def test_select_star_but_not_inside_exists_or_count() -> None:
    assert rules("SELECT * FROM t") == ["SELECT *"]
    assert rules("SELECT t.* FROM t JOIN u ON u.id = t.u") == ["SELECT *"]
    assert rules("SELECT id FROM t WHERE EXISTS (SELECT * FROM u WHERE u.t = t.id)") == []
    assert rules("SELECT count(*) FROM t") == []


def test_leading_wildcard_like() -> None:
    assert rules("SELECT id FROM users WHERE email LIKE '%@example.com'") == [
        "leading-wildcard LIKE on email"]
    assert rules("SELECT id FROM users u WHERE u.name ILIKE '_ob' || 'x'") == [
        "leading-wildcard LIKE on u.name"]
    assert rules("SELECT id FROM users WHERE email LIKE 'bob%'") == []
    assert rules("SELECT id FROM users WHERE email LIKE $1") == []  # unknown pattern
    # text the parser refuses (a JDBC '?') still has its LIKE literal read
    assert rules("SELECT id FROM users WHERE a = ? AND email NOT LIKE '%x'") == [
        "leading-wildcard LIKE on email"]


def test_writes_without_where() -> None:
    assert rules("UPDATE accounts SET balance = 0") == ["UPDATE without WHERE"]
    assert rules("DELETE FROM sessions") == ["DELETE without WHERE"]
    assert rules("DELETE FROM sessions WHERE expires < now()") == []
    advice = analyze("DELETE FROM sessions").advice(0, 1000)
    assert "every row of sessions" in advice[0]


def test_order_by_without_limit_on_big_results() -> None:
    assert rules("SELECT id FROM t ORDER BY created_at", rows=5000) == [
        "paginate", "ORDER BY without LIMIT over 5,000 rows"]
    assert rules("SELECT id FROM t ORDER BY created_at", rows=10) == []
    assert rules("SELECT id FROM t ORDER BY created_at LIMIT 20", rows=5000) == ["paginate"]


def test_regex_fallback_shape_for_unparseable_text() -> None:
    sql = "SELECT * FROM t WHERE name LIKE '%x' ORDER BY a AND AND"
    shape = shape_of(sql, normalize(sql))
    assert shape == QueryShape("select", True, ("name",), None, True, False)
    write = shape_of("DELETE FROM logs garbage (", "")
    assert (write.statement, write.unfiltered_write) == ("delete", "logs")
    assert advice_for(QueryShape(), 10, 1000) == ()
