"""JMeter functions and variable references rewritten into intperf templates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.loadtest.jmeter.functions import Rewriter
from intperf.loadtest.jmeter.model import JmxError
from intperf.loadtest.jmeter.schedule import parse_schedule


def rewriter(**props: str) -> Rewriter:
    return Rewriter(props, {"token", "term"})


@pytest.mark.parametrize(("text", "expected"), [
    ("${__UUID}", "${uuid}"),
    ("${__UUID()}", "${uuid}"),
    ("id-${__Random(1,100)}", "id-${randomInt(1,100)}"),
    ("${__time()}", "${timestamp}"),
    ("${__threadNum}", "${userId}"),
    ("Bearer ${token}", "Bearer ${token}"),
    ("${__P(host,localhost)}", "example.org"),
    ("${__P(missing,fallback)}", "fallback"),
    ("${__P(missing)}", ""),
    ("${__property(host)}", "example.org"),
    ("${__property(missing,,dflt)}", "dflt"),
    ("${__P(missing,${__P(host)})}", "example.org"),
    ("${undefined}", "$${undefined}"),
    ("price $5 ${term}", "price $5 ${term}"),
    ("unclosed ${term", "unclosed $${term"),
])
def test_rewrites(text: str, expected: str) -> None:
    assert rewriter(host="example.org")(text, "here") == expected


def test_counter_and_unknown_functions_warn() -> None:
    rw = rewriter()
    assert rw("${__counter(TRUE,c)}", "p / s") == "${iteration}"
    assert rw("${__machineName()}", "p / s") == "$${__machineName()}"
    assert rw("${__Random(1,5,stored)}", "p / s") == "${randomInt(1,5)}"
    assert len(rw.warnings) == 3
    assert all(w.startswith("p / s: ") for w in rw.warnings)


def test_property_values_are_literal_text() -> None:
    assert rewriter(v="${x}")("${__P(v)}", "w") == "$${x}"


def test_schedule_ramps_and_pauses() -> None:
    assert parse_schedule("rate(10/sec) random_arrivals(1 min) rate(0)") == [
        {"ramp_users_per_sec": {"from": 10.0, "to": 0.0}, "during": 60.0, "randomized": True}]
    assert parse_schedule("rate(120/min) even_arrivals(10 s) pause(1 min 30 sec)") == [
        {"constant_users_per_sec": 2.0, "during": 10.0, "randomized": False},
        {"nothing_for": 90.0}]


@pytest.mark.parametrize("text", ["rate(x)", "rate(1/sec)", "spike(3)", "random_arrivals(soon)"])
def test_bad_schedules(text: str) -> None:
    with pytest.raises(JmxError):
        parse_schedule(text)


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=50))
def test_text_without_references_is_unchanged(text: str) -> None:
    assert rewriter()(text, "w") == text


@given(st.from_regex(r"[a-z]{1,8}", fullmatch=True))
def test_known_variables_survive(name: str) -> None:
    rw = Rewriter({}, {name})
    assert rw(f"<${{{name}}}>", "w") == f"<${{{name}}}>"
