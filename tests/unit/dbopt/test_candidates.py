"""Candidate extraction over the corpus (tests/fixtures/dbopt/queries.sql) and property tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.dbopt.candidates import IndexCandidate, candidates_for, statement_candidates
from intperf.dbopt.query_columns import Extraction, extract, qualify

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "dbopt" / "queries.sql"


@dataclass
class Case:
    name: str
    sql: str
    expect: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    none: bool = False
    catalog: dict[str, set[str]] | None = None


def _catalog(text: str) -> dict[str, set[str]]:
    return {m.group(1): {c.strip() for c in m.group(2).split(",")}
            for m in re.finditer(r"([\w.]+)\(([^)]*)\)", text)}


def load_corpus() -> list[Case]:
    cases = []
    for block in CORPUS.read_text().split("\n\n"):
        lines = block.strip().splitlines()
        meta = [ln[3:] for ln in lines if ln.startswith("-- ")]
        body = " ".join(ln for ln in lines if not ln.startswith("--")).strip()
        if not body:
            continue
        case = Case(name="", sql=body)
        for m in meta:
            key, _, value = m.partition(":")
            if key == "name":
                case.name = value.strip()
            elif key == "expect":
                case.expect.append(value.strip())
            elif key == "absent":
                case.absent.append(value.strip())
            elif key == "none":
                case.none = True
            elif key == "catalog":
                case.catalog = _catalog(value)
        cases.append(case)
    return cases


CASES = load_corpus()


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert all(c.name for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_expectations(case: Case) -> None:
    found = {c.label() for c in statement_candidates(case.sql, case.catalog)}
    if case.none:
        assert not found, found
    for label in case.expect:
        assert label in found, f"{label} not in {sorted(found)}"
    for label in case.absent:
        assert label not in found, f"{label} unexpectedly in {sorted(found)}"


def _referenced(e: Extraction) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for u in e.uses:
        out.setdefault(u.table, set()).update(u.referenced)
    return out


def _check_rules(e: Extraction) -> None:
    """Properties every candidate of an extraction has."""
    referenced = _referenced(e)
    for use in e.uses:
        eq = set(use.equality) | set(use.join)
        for cand in candidates_for(Extraction((use,))):
            assert 1 <= cand.width <= 3
            cols = set(cand.columns) | set(cand.include)
            assert cols <= referenced[cand.table], (cand, referenced)
            assert not set(cand.columns) & set(cand.include)
            # Equality first: once a non-equality column appears, no equality column follows.
            seen_other = False
            for col in cand.columns:
                if col in eq:
                    assert not seen_other, cand
                else:
                    seen_other = True
            # At most one range-only column, and nothing after it.
            ranges = [c for c in cand.columns if c in use.range and c not in eq
                      and c not in use.order_by and c not in use.group_by]
            assert len(ranges) <= 1
            if ranges:
                assert cand.columns[-1] == ranges[0], cand


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_candidates_follow_the_rules(case: Case) -> None:
    _check_rules(extract(case.sql, case.catalog))


def test_unparsable_statement_reports_an_error() -> None:
    e = extract("SELEC id FROM orders WHERE")
    assert e.error is not None and not e.uses


def test_params_are_tied_to_columns() -> None:
    e = extract("SELECT id FROM orders WHERE customer_id = $1 AND created_at >= $2 "
                "AND created_at < $3 ORDER BY id LIMIT $4 OFFSET $5")
    roles = {(p.number, p.column, p.role) for p in e.params}
    assert roles == {(1, "customer_id", "eq"), (2, "created_at", "lower"),
                     (3, "created_at", "upper"), (4, None, "limit"), (5, None, "offset")}


def test_update_records_the_columns_it_sets() -> None:
    (use,) = extract("UPDATE orders SET status = $1, updated_at = now() WHERE id = $2").uses
    assert use.updated == ("status", "updated_at")
    assert use.equality == ("id",)


def test_qualify_renames_and_drops_unknown_tables() -> None:
    e = extract("SELECT o.id FROM orders o JOIN v ON v.id = o.v_id WHERE o.user_id = $1")
    q = qualify(e, {"orders": "public.orders"})
    assert [u.table for u in q.uses] == ["public.orders"]
    assert all(p.table in (None, "public.orders") for p in q.params)


def test_definition_quotes_identifiers() -> None:
    cand = IndexCandidate("public.Orders", ("select", "user_id"), ("Total",), "deleted_at IS NULL")
    assert cand.definition("ix", concurrently=True) == (
        'CREATE INDEX CONCURRENTLY ix ON public."Orders" ("select", user_id) INCLUDE ("Total") '
        "WHERE deleted_at IS NULL")
    assert len(IndexCandidate("t", ("a" * 40, "b" * 40)).suggested_name()) <= 63


# --- property tests ----------------------------------------------------------------------------
_KEYWORD = re.compile(r"'[^']*'|\"[^\"]*\"|[A-Za-z_]+")


def _recase(sql: str, flips: list[bool]) -> str:
    """Change the case of keywords and unquoted identifiers (not literals, not quoted names)."""
    out, i = [], 0
    for n, m in enumerate(_KEYWORD.finditer(sql)):
        out.append(sql[i:m.start()])
        word = m.group(0)
        if word[0] not in "'\"" and flips[n % len(flips)]:
            word = word.upper() if word.islower() else word.lower()
        out.append(word)
        i = m.end()
    out.append(sql[i:])
    return "".join(out)


def _respace(sql: str, spaces: list[str]) -> str:
    parts = re.split(r"( )", sql)
    k = 0
    for idx, part in enumerate(parts):
        if part == " ":
            parts[idx] = spaces[k % len(spaces)]
            k += 1
    return "".join(parts)


@settings(max_examples=150, deadline=None)
@given(case=st.sampled_from(CASES),
       flips=st.lists(st.booleans(), min_size=1, max_size=8),
       spaces=st.lists(st.sampled_from([" ", "  ", "\n", "\t", " \n  "]), min_size=1,
                       max_size=5))
def test_extraction_is_deterministic_and_ignores_case_and_whitespace(
        case: Case, flips: list[bool], spaces: list[str]) -> None:
    if any(ch in case.sql for ch in "'\""):
        flips = [False]  # quoted names and literals are case-sensitive: only respace
    variant = _respace(_recase(case.sql, flips), spaces)
    first = extract(case.sql, case.catalog)
    again = extract(variant, case.catalog)
    if first.error is None:
        assert again.uses == first.uses
        assert again.params == first.params
        assert statement_candidates(variant, case.catalog) == statement_candidates(
            case.sql, case.catalog)
    else:
        assert again.error is not None


_TABLES = {"orders": ["id", "user_id", "status", "total", "created_at"],
           "users": ["id", "email", "country", "created_at"],
           "posts": ["id", "user_id", "body", "created_at", "deleted_at"]}


@st.composite
def _queries(draw: st.DrawFn) -> tuple[str, str, set[str], set[str], list[str]]:
    table = draw(st.sampled_from(sorted(_TABLES)))
    cols = _TABLES[table]
    eq = draw(st.lists(st.sampled_from(cols), max_size=3, unique=True))
    rest = [c for c in cols if c not in eq]
    rng = draw(st.lists(st.sampled_from(rest), max_size=1)) if rest else []
    order = draw(st.lists(st.sampled_from(cols), max_size=2, unique=True))
    select = draw(st.lists(st.sampled_from(cols), min_size=1, max_size=3, unique=True))
    preds = [f"{c} = ${i + 1}" for i, c in enumerate(eq)]
    preds += [f"{c} >= ${len(eq) + 1}" for c in rng]
    text = f"SELECT {', '.join(select)} FROM {table}"
    if preds:
        text += " WHERE " + " AND ".join(preds)
    if order:
        text += " ORDER BY " + ", ".join(order)
    return text, table, set(eq), set(rng), order


@settings(max_examples=200, deadline=None)
@given(q=_queries())
def test_generated_queries(q: tuple[str, str, set[str], set[str], list[str]]) -> None:
    text, table, eq, rng, order = q
    e = extract(text)
    assert e.error is None
    (use,) = e.uses
    assert use.table == table
    assert set(use.equality) == eq
    assert set(use.range) == rng
    assert list(use.order_by) == list(dict.fromkeys(order))
    _check_rules(e)
    labels = {c.columns for c in candidates_for(e)}
    for col in eq | rng:
        assert (col,) in labels
