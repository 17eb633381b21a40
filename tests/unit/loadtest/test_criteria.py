"""Tests of success criteria: the parser, its error messages, final and live evaluation."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.errors import CriterionSyntaxError, UsageError
from intperf.loadtest.criteria import (
    DEFAULT_CRITERIA,
    Criterion,
    Operator,
    breached_now,
    evaluate,
    evaluate_all,
    parse_all,
    parse_criterion,
)
from intperf.loadtest.results import ErrorClass, RequestWindow, TimeSeries

# -- helpers ---------------------------------------------------------------------------------


def record(
    series: TimeSeries, second: int, name: str, latencies: Sequence[float], failed: int = 0
) -> None:
    """Add requests to ``series``: service time is half the response time; ``failed`` fail."""
    w = series.at(second).window(name)
    w.latency.record_many(list(latencies))
    w.service.record_many([x / 2 for x in latencies])
    w.ok += len(latencies) - failed
    if failed:
        w.add_error(ErrorClass.HTTP_5XX, "HTTP 503", failed)


def steady(
    seconds: int, per_second: int = 10, latency: float = 100.0, name: str = "a"
) -> TimeSeries:
    series = TimeSeries()
    for s in range(seconds):
        record(series, s, name, [latency] * per_second)
    return series


def crit(text: str) -> Criterion:
    return parse_criterion(text)


# -- parsing: valid criteria -------------------------------------------------------------------

PARSED = [
    # text, metric, stat, scope, op, threshold, window, abort
    ("p99(response_time) < 500ms", "response_time", "p99", None, "<", 500.0, None, False),
    (
        "p95(response_time){search} <= 1.5s for 30s abort",
        "response_time",
        "p95",
        "search",
        "<=",
        1500.0,
        30,
        True,
    ),
    ("p99.9(service_time) > 250us", "service_time", "p99.9", None, ">", 0.25, None, False),
    ("p(99)(response_time) < 2s", "response_time", "p99", None, "<", 2000.0, None, False),
    ("p(99.9)(response_time) < 1m", "response_time", "p99.9", None, "<", 60000.0, None, False),
    ("p50.0(response_time) != 1h", "response_time", "p50", None, "!=", 3_600_000.0, None, False),
    ("p100(response_time) < 3µs", "response_time", "p100", None, "<", 0.003, None, False),
    ("avg(service_time) < 200ms", "service_time", "avg", None, "<", 200.0, None, False),
    ("mean(response_time) < 1.1s", "response_time", "avg", None, "<", 1100.0, None, False),
    ("min(response_time) >= 1 ms", "response_time", "min", None, ">=", 1.0, None, False),
    ("max(response_time) <= .5s", "response_time", "max", None, "<=", 500.0, None, False),
    ("median(response_time) == 10ms", "response_time", "median", None, "==", 10.0, None, False),
    ("error_rate < 1%", "error_rate", None, None, "<", 0.01, None, False),
    ("error_rate{checkout} < 0.5%", "error_rate", None, "checkout", "<", 0.005, None, False),
    ("error_rate < 0.01", "error_rate", None, None, "<", 0.01, None, False),
    ("error_rate <= 100%", "error_rate", None, None, "<=", 1.0, None, False),
    ("error_rate == 0", "error_rate", None, None, "==", 0.0, None, False),
    ("errors == 0", "errors", None, None, "==", 0.0, None, False),
    ("errors{login} < 10 for 1m abort", "errors", None, "login", "<", 10.0, 60, True),
    ("requests >= 1000", "requests", None, None, ">=", 1000.0, None, False),
    ("rps > 100", "rps", None, None, ">", 100.0, None, False),
    ("rps > 100/s", "rps", None, None, ">", 100.0, None, False),
    ("rps > 100rps", "rps", None, None, ">", 100.0, None, False),
    ("rps > 100 / sec", "rps", None, None, ">", 100.0, None, False),
    ("rps > 6000/m", "rps", None, None, ">", 100.0, None, False),
    ("rps > 6000/min", "rps", None, None, ">", 100.0, None, False),
    ("rps > 6000rpm", "rps", None, None, ">", 100.0, None, False),
    ("rps < 360000/h", "rps", None, None, "<", 100.0, None, False),
    ("rps > 100 for 1m30s", "rps", None, None, ">", 100.0, 90, False),
    ("rps > 100 for 1m 30s", "rps", None, None, ">", 100.0, 90, False),
    ("rps > 100 for 2000ms", "rps", None, None, ">", 100.0, 2, False),
    ("rps > 100 for 1h", "rps", None, None, ">", 100.0, 3600, False),
    ("rps>100 abort", "rps", None, None, ">", 100.0, None, True),
    (
        'p99(response_time){"GET /api/items"} < 1s',
        "response_time",
        "p99",
        "GET /api/items",
        "<",
        1000.0,
        None,
        False,
    ),
    (
        "p99(response_time){ GET /api/items } < 1s",
        "response_time",
        "p99",
        "GET /api/items",
        "<",
        1000.0,
        None,
        False,
    ),
    (
        "p99(response_time){'say \"hi\"'} < 1s",
        "response_time",
        "p99",
        'say "hi"',
        "<",
        1000.0,
        None,
        False,
    ),
    (
        'p99(response_time){"GET /items/{id}"} < 1s',
        "response_time",
        "p99",
        "GET /items/{id}",
        "<",
        1000.0,
        None,
        False,
    ),
    ('errors{"a\\"b\\\\c"} < 1', "errors", None, 'a"b\\c', "<", 1.0, None, False),
    (
        "  P99(Response_Time) < 500MS FOR 30S ABORT  ",
        "response_time",
        "p99",
        None,
        "<",
        500.0,
        30,
        True,
    ),
]


@pytest.mark.parametrize(
    ("text", "metric", "stat", "scope", "op", "threshold", "window", "abort"), PARSED
)
def test_parse_valid(
    text: str,
    metric: str,
    stat: str | None,
    scope: str | None,
    op: str,
    threshold: float,
    window: int | None,
    abort: bool,
) -> None:
    c = parse_criterion(text)
    assert (c.text, c.metric, c.stat, c.scope, c.op, c.window, c.abort) == (
        text,
        metric,
        stat,
        scope,
        op,
        window,
        abort,
    )
    assert c.threshold == threshold
    assert parse_criterion(str(c)) == c


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (
            "p95(response_time){search} <= 1.5s for 30s abort",
            "p95(response_time){search} <= 1500ms for 30s abort",
        ),
        ("p(99.9)(service_time) < 250us", "p99.9(service_time) < 0.25ms"),
        ("mean(response_time)<2s", "avg(response_time) < 2000ms"),
        ("error_rate < 0.07", "error_rate < 7%"),
        ("error_rate{checkout} < 0.5%", "error_rate{checkout} < 0.5%"),
        ("rps > 6000rpm for 1m", "rps > 100/s for 60s"),
        ("errors == 0", "errors == 0"),
        ("p99(response_time){GET /a} < 1s", 'p99(response_time){"GET /a"} < 1000ms'),
        ('p99(response_time){"/a-b_c.d:e"} < 1s', "p99(response_time){/a-b_c.d:e} < 1000ms"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_criterion(text)) == canonical


def test_text_is_kept_but_not_compared() -> None:
    a, b = parse_criterion("rps > 100"), parse_criterion("rps>100/s")
    assert (a.text, b.text) == ("rps > 100", "rps>100/s")
    assert a == b
    assert hash(a) == hash(b)


def test_default_criteria_are_the_reference_thresholds() -> None:
    assert DEFAULT_CRITERIA == ("p99(response_time) < 2000ms", "error_rate < 5%", "rps > 100")
    parsed = parse_all(DEFAULT_CRITERIA)
    assert [str(c) for c in parsed] == [
        "p99(response_time) < 2000ms",
        "error_rate < 5%",
        "rps > 100/s",
    ]
    assert [c.threshold for c in parsed] == [2000.0, 0.05, 100.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metric": "latency", "stat": "p99"},
        {"metric": "response_time", "stat": None},
        {"metric": "errors", "stat": "p99"},
        {"metric": "response_time", "stat": "p0"},
        {"metric": "response_time", "stat": "p99.0"},
        {"metric": "response_time", "stat": "q99"},
        {"metric": "rps", "stat": None, "op": "=<"},
        {"metric": "rps", "stat": None, "threshold": -1.0},
        {"metric": "rps", "stat": None, "threshold": math.inf},
        {"metric": "error_rate", "stat": None, "threshold": 5.0},
        {"metric": "rps", "stat": None, "window": 0},
        {"metric": "rps", "stat": None, "scope": ""},
    ],
)
def test_criterion_rejects_invalid_values(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"text": "x", "scope": None, "op": "<", "threshold": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError):
        Criterion(**args)  # type: ignore[arg-type]


# -- parsing: errors -------------------------------------------------------------------------

METRIC_HINT = (
    "a metric: pNN(response_time), avg|mean|min|max|median(response_time), the same "
    "over service_time, error_rate, errors, requests or rps"
)
ERRORS = [
    # text, caret column, expected
    ("", 0, f"expected {METRIC_HINT}"),
    ("{x} < 5", 0, f"expected {METRIC_HINT}"),
    ("500ms > p99(response_time)", 0, f"expected {METRIC_HINT}"),
    ("foo < 1", 0, f"unknown metric 'foo'; expected {METRIC_HINT}"),
    (
        "eror_rate < 1%",
        0,
        f"unknown metric 'eror_rate' (did you mean 'error_rate'?); expected {METRIC_HINT}",
    ),
    (
        "response_time < 5ms",
        0,
        "expected a statistic before response_time, e.g. p99(response_time) or avg(response_time)",
    ),
    ("p(response_time) < 5ms", 2, "expected a percentile after 'p', e.g. p99, p99.9 or p(99)"),
    ("p 99(response_time) < 5ms", 2, "expected a percentile after 'p', e.g. p99, p99.9 or p(99)"),
    ("p(99(response_time) < 5ms", 4, "expected ')' to close p(99"),
    ("p0(response_time) < 5ms", 1, "a percentile must be above 0 and at most 100"),
    ("p100.5(response_time) < 5ms", 1, "a percentile must be above 0 and at most 100"),
    ("p99 < 5ms", 4, "expected '(' after p, e.g. p99(response_time)"),
    ("avg < 5ms", 4, "expected '(' after avg, e.g. avg(response_time)"),
    ("p99(latency) < 5ms", 4, "expected response_time or service_time inside p99( )"),
    (
        "p99(errors) < 5",
        4,
        "expected response_time or service_time inside p99( ): statistics "
        "apply only to times; write errors without p99( )",
    ),
    ("p99(response_time < 5ms", 18, "expected ')' after p99(response_time"),
    ("p99(response_time) 500ms", 19, "expected one of <, <=, >, >=, ==, != after the metric"),
    ("p99(response_time) less 5ms", 19, "expected one of <, <=, >, >=, ==, != after the metric"),
    ("error_rate{x}", 13, "expected one of <, <=, >, >=, ==, != after the metric"),
    ("p99(response_time) = 5ms", 19, "unexpected character '=': did you mean '=='?"),
    ("rps ! 5", 4, "unexpected character '!': did you mean '!='?"),
    ("p99(response_time) < -5ms", 21, "unexpected character '-': thresholds cannot be negative"),
    ("rps > 1,000", 7, "unexpected character ','"),
    ("p99(response_time){} < 5ms", 19, "expected a request name inside { }, e.g. {search}"),
    ('p99(response_time){""} < 5ms', 19, "expected a request name inside { }, e.g. {search}"),
    ("p99(response_time){a < 5ms", 26, "expected '}' to close the request name"),
    ('p99(response_time){"a" b} < 5ms', 23, "expected '}' to close the request name"),
    ('p99(response_time){"abc} < 5ms', 30, 'expected " to close the quoted request name'),
    (
        "p99(response_time){a{b}} < 5ms",
        20,
        'quote the whole request name, e.g. {"GET /api/items/{id}"}',
    ),
    ("p99(response_time) <", 20, "expected a threshold after '<', e.g. p99(response_time) < 500ms"),
    ("rps >= for 30s", 7, "expected a threshold after '>=', e.g. rps >= 100/s"),
    (
        "p99(response_time) < 500",
        24,
        "expected a time unit (us, ms, s) after 500: time thresholds need a unit, e.g. 500ms",
    ),
    (
        "p99(response_time) < 500 for 30s",
        24,
        "expected a time unit (us, ms, s) after 500: time thresholds need a unit, e.g. 500ms",
    ),
    ("p99(response_time) < 5 sec", 23, "unknown time unit 'sec'; expected us, ms, s, m or h"),
    ("error_rate < 5", 13, "a ratio must be between 0 and 1; did you mean 5%?"),
    ("error_rate < 150%", 13, "a percentage must be between 0% and 100%"),
    ("error_rate < 5 percent", 13, "a ratio must be between 0 and 1; did you mean 5%?"),
    (
        "error_rate < 0.5 percent",
        17,
        "expected 'for DURATION', 'abort' or the end of the criterion after the threshold",
    ),
    ("errors < 1.5", 9, "expected a whole number of errors"),
    ("requests > 10.5", 11, "expected a whole number of requests"),
    (
        "errors < 1 ms",
        11,
        "expected 'for DURATION', 'abort' or the end of the criterion after the threshold",
    ),
    ("rps > 10 req", 9, "unknown rate unit 'req'; expected /s, /m, /h, rps or rpm, e.g. 100/s"),
    ("rps > 10/x", 9, "expected a time unit after '/': s, m or h, e.g. 100/s"),
    ("rps > 10/", 9, "expected a time unit after '/': s, m or h, e.g. 100/s"),
    ("rps > 10 for", 12, "expected a duration after 'for', e.g. for 30s"),
    ("rps > 10 for abort", 13, "expected a duration after 'for', e.g. for 30s"),
    (
        "rps > 10 for 30",
        15,
        "expected a unit (s, m, h) after 30: windows need a unit, e.g. for 30s",
    ),
    (
        "rps > 10 for 30 abort",
        15,
        "expected a unit (s, m, h) after 30: windows need a unit, e.g. for 30s",
    ),
    ("rps > 10 for 30 days", 16, "unknown window unit 'days'; expected s, m or h"),
    ("rps > 10 for 1.5s", 13, "a window must be a whole number of seconds, at least 1s"),
    ("rps > 10 for 500ms", 13, "a window must be a whole number of seconds, at least 1s"),
    ("rps > 10 for 0s", 13, "a window must be a whole number of seconds, at least 1s"),
    (
        "rps > 10 for 30s 5",
        18,
        "expected a unit (s, m, h) after 5: windows need a unit, e.g. for 5s",
    ),
    ("rps > 10 for 30s now", 17, "expected 'abort' or the end of the criterion after the window"),
    ("rps > 10 for 30s abort now", 23, "expected the end of the criterion after 'abort'"),
    ("rps > 10 abort for 30s", 15, "expected the end of the criterion after 'abort'"),
    ("rps > 10 for 30s }", 17, "expected 'abort' or the end of the criterion after the window"),
    ("rps > " + "9" * 400, 6, "the threshold is too large"),
]


@pytest.mark.parametrize(("text", "column", "expected"), ERRORS)
def test_syntax_errors_show_caret_and_expectation(text: str, column: int, expected: str) -> None:
    with pytest.raises(CriterionSyntaxError) as info:
        parse_criterion(text)
    assert str(info.value).split("\n") == [
        f"invalid criterion: {expected}",
        f"  {text}",
        "  " + " " * column + "^",
    ]
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == 2


def test_syntax_error_caret_stays_aligned_with_tabs_and_newlines() -> None:
    with pytest.raises(CriterionSyntaxError) as info:
        parse_criterion("rps\t>\n5 x")
    assert str(info.value).split("\n")[1:] == ["  rps > 5 x", "          ^"]


def test_parse_all_returns_criteria_in_order() -> None:
    assert [c.metric for c in parse_all(["rps > 1", "errors == 0"])] == ["rps", "errors"]
    assert parse_all([]) == []


def test_parse_all_lists_every_syntax_error() -> None:
    with pytest.raises(CriterionSyntaxError) as info:
        parse_all(["rps > 1", "x < 1", "error_rate < 1%", "rps >"])
    assert str(info.value).split("\n") == [
        "2 of 4 criteria are invalid",
        f"criterion 2: unknown metric 'x'; expected {METRIC_HINT}",
        "  x < 1",
        "  ^",
        "criterion 4: expected a threshold after '>', e.g. rps > 100/s",
        "  rps >",
        "       ^",
    ]


def test_parse_all_with_one_error() -> None:
    with pytest.raises(CriterionSyntaxError, match=r"^1 of 1 criteria is invalid\ncriterion 1: "):
        parse_all(["rps"])


# -- parsing: properties ---------------------------------------------------------------------

_percentiles = (
    st.integers(1, 1000)
    .map(lambda k: k / 10)
    .map(lambda p: f"p{int(p)}" if p.is_integer() else f"p{p!r}")
)
_stats = st.one_of(st.sampled_from(["avg", "min", "max", "median"]), _percentiles)
_OPERATORS: list[Operator] = ["<", "<=", ">", ">=", "==", "!="]
_ops = st.sampled_from(_OPERATORS)
_thresholds = {
    "response_time": st.floats(0, 1e9),
    "service_time": st.floats(0, 1e-3),
    "error_rate": st.floats(0, 1),
    "rps": st.floats(0, 1e12),
    "errors": st.integers(0, 10**12).map(float),
    "requests": st.integers(0, 10**12).map(float),
}


@st.composite
def criteria(draw: st.DrawFn) -> Criterion:
    metric = draw(st.sampled_from(sorted(_thresholds)))
    stat = draw(_stats) if metric.endswith("_time") else None
    return Criterion(
        text="",
        metric=metric,  # type: ignore[arg-type]
        stat=stat,
        scope=draw(st.none() | st.text(min_size=1, max_size=12)),
        op=draw(_ops),
        threshold=draw(_thresholds[metric]),
        window=draw(st.none() | st.integers(1, 86_400)),
        abort=draw(st.booleans()),
    )


@settings(max_examples=400)
@given(criteria())
def test_canonical_form_round_trips(c: Criterion) -> None:
    again = parse_criterion(str(c))
    assert again == c
    assert again.text == str(c)
    assert str(again) == str(c)


_pieces = st.sampled_from(
    [
        "p99",
        "p(",
        "99.9",
        "(",
        ")",
        "response_time",
        "service_time",
        "error_rate",
        "errors",
        "rps",
        "requests",
        "avg",
        "{",
        "}",
        '"a b"',
        "'",
        "<",
        "<=",
        ">=",
        "==",
        "!=",
        "=",
        "500",
        "ms",
        "s",
        "%",
        "/",
        "/s",
        "rps",
        "for",
        "30s",
        "1m",
        "abort",
        " ",
        "-",
        ".",
        "\\",
        "µs",
    ]
)


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=40), st.lists(_pieces, max_size=12).map("".join)))
def test_parser_never_raises_anything_else(text: str) -> None:
    try:
        c = parse_criterion(text)
    except CriterionSyntaxError as e:
        lines = str(e).split("\n")
        assert lines[0].startswith("invalid criterion: ")
        assert len(lines[1]) == len(text) + 2
        assert lines[2].endswith("^")
        assert len(lines[2]) <= len(lines[1]) + 1
    else:
        assert parse_criterion(str(c)) == c


# -- final evaluation ------------------------------------------------------------------------


def test_whole_run_percentile_passes_and_fails() -> None:
    series = TimeSeries()
    for s in range(10):
        record(series, s, "a", [100.0] * 99 + [800.0])
    ok = evaluate(crit("p99(response_time) < 500ms"), series)
    assert ok.passed
    assert ok.observed == pytest.approx(100.0, rel=0.01)
    assert ok.window is None
    assert ok.message == f"p99(response_time) = {ok.observed:.1f}ms < 500ms: PASSED"
    bad = evaluate(crit("p99.9(response_time) < 500ms"), series)
    assert not bad.passed
    assert bad.observed == pytest.approx(800.0, rel=0.01)
    assert bad.message == "p99.9(response_time) = 800ms < 500ms: FAILED"  # clamped to max


@pytest.mark.parametrize(
    ("text", "observed"),
    [
        ("avg(response_time) < 1s", 250.0),
        ("mean(response_time) < 1s", 250.0),
        ("min(response_time) < 1s", 100.0),
        ("max(response_time) < 1s", 400.0),
        ("median(response_time) < 1s", 200.0),
        ("avg(service_time) < 1s", 125.0),
        ("max(service_time) < 1s", 200.0),
    ],
)
def test_time_statistics(text: str, observed: float) -> None:
    series = TimeSeries()
    record(series, 0, "a", [100.0, 200.0])
    record(series, 1, "a", [300.0, 400.0])
    r = evaluate(crit(text), series)
    assert r.passed
    assert r.observed == pytest.approx(observed, rel=0.01)


def test_count_metrics_and_rates() -> None:
    series = TimeSeries()
    for s in range(10):
        record(series, s, "a", [10.0] * 20, failed=1)
    record(series, 9, "b", [10.0] * 50, failed=10)
    r = evaluate(crit("error_rate < 5%"), series)
    assert (r.passed, r.observed) == (False, 20 / 250)
    assert r.message == "error_rate = 8% < 5%: FAILED"
    assert evaluate(crit("error_rate{a} < 5%"), series).observed == 0.05
    assert evaluate(crit("error_rate{a} <= 5%"), series).passed
    assert evaluate(crit("errors <= 20"), series).observed == 20.0
    assert evaluate(crit("errors{b} == 10"), series).passed
    assert evaluate(crit("requests == 250"), series).passed
    assert evaluate(crit("requests{a} == 200"), series).passed
    rps = evaluate(crit("rps > 100"), series)
    assert (rps.passed, rps.observed, rps.message) == (False, 25.0, "rps = 25/s > 100/s: FAILED")
    # The run length is the span of the series unless given.
    assert evaluate(crit("rps{b} == 5"), series).passed
    assert evaluate(crit("rps > 10"), series, run_seconds=20.0).observed == 12.5


def test_rps_over_a_series_that_does_not_start_at_zero() -> None:
    series = TimeSeries()
    record(series, 5, "a", [1.0] * 10)
    record(series, 9, "a", [1.0] * 10)
    assert evaluate(crit("rps == 4"), series).passed  # 20 requests over seconds 5..9


def test_scope_must_name_a_known_request() -> None:
    series = steady(3)
    record(series, 1, "b", [5.0])
    r = evaluate(crit("p99(response_time){x} < 1s"), series)
    assert (r.passed, r.observed, r.window) == (False, None, None)
    assert r.message == (
        "p99(response_time){x} < 1000ms: FAILED - no requests named 'x' (known: a, b)"
    )
    empty = evaluate(crit("errors{x} == 0"), TimeSeries())
    assert empty.message == "errors{x} == 0: FAILED - no requests named 'x' (known: none)"


@pytest.mark.parametrize(
    ("text", "passed", "observed", "message"),
    [
        (
            "p99(response_time) < 1s",
            False,
            None,
            "p99(response_time) < 1000ms: FAILED - no requests completed",
        ),
        (
            "avg(service_time) > 1s",
            False,
            None,
            "avg(service_time) > 1000ms: FAILED - no requests completed",
        ),
        ("rps > 100", False, 0.0, "rps = 0/s > 100/s: FAILED - no requests completed"),
        ("rps >= 0", False, 0.0, "rps = 0/s >= 0/s: FAILED - no requests completed"),
        ("requests > 0", False, 0.0, "requests = 0 > 0: FAILED - no requests completed"),
        ("error_rate < 5%", False, None, "error_rate < 5%: FAILED - no requests completed"),
        ("rps < 100", True, 0.0, "rps = 0/s < 100/s: PASSED"),
        ("errors == 0", True, 0.0, "errors = 0 == 0: PASSED"),
        (
            "p99(response_time) < 1s for 10s",
            False,
            None,
            "p99(response_time) < 1000ms: FAILED - no requests completed "
            "(the run of 0s is shorter than the 10s window: judged over the whole run)",
        ),
    ],
)
def test_no_data(text: str, passed: bool, observed: float | None, message: str) -> None:
    r = evaluate(crit(text), TimeSeries())
    assert (r.passed, r.observed, r.message) == (passed, observed, message)


def test_seconds_without_requests_but_no_response_times() -> None:
    series = TimeSeries()
    series.at(0).window("a").add_error(ErrorClass.CONNECTION_REFUSED, "refused")
    r = evaluate(crit("p99(response_time) < 1s"), series)
    assert r.message == "p99(response_time) < 1000ms: FAILED - no response times recorded"
    assert evaluate(crit("error_rate < 5%"), series).observed == 1.0


def test_window_catches_a_spike_the_whole_run_hides() -> None:
    series = steady(120, per_second=100, latency=50.0)
    for s in range(40, 45):
        record(series, s, "a", [900.0] * 10)
    assert evaluate(crit("p99(response_time) < 500ms"), series).passed
    r = evaluate(crit("p99(response_time) < 500ms for 10s"), series)
    assert not r.passed
    assert r.observed == pytest.approx(900.0, rel=0.01)
    # Every window holding two seconds of the spike has the same p99; the first one is reported.
    assert r.window == (32, 41)
    assert r.message == (
        "p99(response_time) = 900ms < 500ms: FAILED (worst 10s window from 32s to 41s)"
    )


def test_passing_window_reports_the_closest_call() -> None:
    series = steady(60, per_second=10, latency=10.0)
    record(series, 30, "a", [100.0] * 10)
    r = evaluate(crit("max(response_time) < 500ms for 5s"), series)
    assert r.passed
    assert r.observed == 100.0
    assert r.window == (26, 30)
    assert r.message == (
        "max(response_time) = 100ms < 500ms: PASSED (worst 5s window from 26s to 30s)"
    )


def test_windowed_rps_lower_bound_fails_on_a_gap() -> None:
    series = steady(60, per_second=200)
    for s in range(20, 26):
        del series.seconds[s]
    assert evaluate(crit("rps > 100"), series).passed
    r = evaluate(crit("rps > 100 for 5s"), series)
    assert (r.passed, r.observed, r.window) == (False, 0.0, (20, 24))
    assert evaluate(crit("rps > 100 for 10s"), series).observed == 80.0


def test_windowed_counts_and_error_rate() -> None:
    series = steady(30, per_second=10)
    record(series, 12, "b", [5.0] * 10, failed=5)
    record(series, 13, "b", [5.0] * 10, failed=5)
    r = evaluate(crit("errors < 5 for 10s"), series)
    assert (r.passed, r.observed, r.window) == (False, 10.0, (4, 13))
    r = evaluate(crit("error_rate{b} < 10% for 3s"), series)
    assert (r.passed, r.observed, r.window) == (False, 0.5, (10, 12))
    assert r.message == (
        "error_rate{b} = 50% < 10%: FAILED (worst 3s window from 10s to 12s; "
        "24 window(s) without completed requests skipped)"
    )
    r = evaluate(crit("requests >= 100 for 10s"), series)
    assert (r.passed, r.observed, r.window) == (True, 100.0, (0, 9))
    assert evaluate(crit("requests == 100 for 10s"), series).window == (4, 13)
    assert evaluate(crit("requests != 120 for 10s"), series).window == (4, 13)
    assert not evaluate(crit("requests != 120 for 10s"), series).passed


def test_windowed_time_metric_without_any_data_in_scope_windows() -> None:
    series = steady(10)
    series.at(3).window("b").add_error(ErrorClass.RESET, None)
    r = evaluate(crit("p99(response_time){b} < 1s for 2s"), series)
    assert r.message == (
        "p99(response_time){b} < 1000ms: FAILED - no requests completed in any window"
    )


def test_run_shorter_than_the_window_is_judged_whole() -> None:
    series = steady(12, latency=700.0)
    r = evaluate(crit("p99(response_time) < 500ms for 30s"), series)
    assert (r.passed, r.window) == (False, (0, 11))
    assert r.observed == pytest.approx(700.0, rel=0.01)
    assert r.message.endswith(
        "FAILED (the run of 12s is shorter than the 30s window: judged over the whole run)"
    )
    r = evaluate(crit("rps > 5 for 30s"), series)
    assert (r.passed, r.observed) == (True, 10.0)


def test_run_seconds_extends_the_windows_to_the_end_of_the_run() -> None:
    series = steady(50, per_second=200)
    assert evaluate(crit("rps > 100 for 10s"), series).passed
    r = evaluate(crit("rps > 100 for 10s"), series, run_seconds=60.0)
    assert (r.passed, r.observed, r.window) == (False, 0.0, (50, 59))


def test_evaluate_all_keeps_order() -> None:
    series = steady(10, per_second=200, latency=100.0)
    results = evaluate_all(parse_all(DEFAULT_CRITERIA), series, run_seconds=10.0)
    assert [r.passed for r in results] == [True, True, True]
    assert [r.criterion.metric for r in results] == ["response_time", "error_rate", "rps"]
    assert evaluate_all([], series) == []


def test_long_run_windowed_percentile() -> None:
    """One hour, a minute window: must stay linear-ish (bucket add/remove, not re-merging)."""
    series = TimeSeries()
    for s in range(3600):
        record(series, s, "a", [float(1 + (s * 7 + k) % 500) for k in range(20)])
    r = evaluate(crit("p99(response_time) < 1s for 60s"), series)
    assert r.passed
    assert r.observed == pytest.approx(495.0, rel=0.02)


# -- windowed evaluation agrees with a brute-force reference ---------------------------------


def _reference_value(c: Criterion, w: RequestWindow, seconds: int) -> float | None:
    if c.stat is not None:
        h = w.latency if c.metric == "response_time" else w.service
        if h.count == 0:
            return None
        named = {"avg": h.mean, "min": h.min, "max": h.max, "median": h.quantile(0.5)}
        return named.get(c.stat) or h.quantile(float(c.stat[1:]) / 100)
    return {
        "error_rate": w.failed / w.requests if w.requests else None,
        "errors": float(w.failed),
        "requests": float(w.requests),
        "rps": w.requests / seconds,
    }[c.metric]


_HOLDS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _reference_badness(c: Criterion, v: float) -> float:
    return {
        "<": v,
        "<=": v,
        ">": -v,
        ">=": -v,
        "==": abs(v - c.threshold),
        "!=": -abs(v - c.threshold),
    }[c.op]


@st.composite
def random_series(draw: st.DrawFn) -> TimeSeries:
    series = TimeSeries()
    n = draw(st.integers(1, 25))
    for s in range(n):
        if draw(st.integers(0, 5)) == 0:
            continue  # a missing second
        for name in draw(st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True)):
            lat = draw(st.lists(st.floats(0.01, 5000.0), min_size=0, max_size=8))
            failed = draw(st.integers(0, len(lat)))
            record(series, s, name, lat, failed)
    return series


@st.composite
def windowed_criteria(draw: st.DrawFn) -> Criterion:
    metric = draw(st.sampled_from(sorted(_thresholds)))
    threshold = {"error_rate": draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))}.get(
        metric, float(draw(st.integers(0, 3000)))
    )
    return Criterion(
        text="",
        metric=metric,  # type: ignore[arg-type]
        stat=draw(_stats) if metric.endswith("_time") else None,
        scope=draw(st.sampled_from([None, "a", "b"])),
        op=draw(_ops),
        threshold=threshold,
        window=draw(st.integers(1, 8)),
    )


@settings(max_examples=300, deadline=None)
@given(random_series(), windowed_criteria())
def test_windowed_evaluation_matches_brute_force(series: TimeSeries, c: Criterion) -> None:
    r = evaluate(c, series)
    if c.scope is not None and c.scope not in series.request_names:
        assert (r.passed, r.observed) == (False, None)
        return
    assert c.window is not None
    first, last = series.span()
    if last - first + 1 < c.window:
        assert r.message.endswith("judged over the whole run)")
        return
    names = None if c.scope is None else [c.scope]
    worst: float | None = None
    worst_at = 0
    for s in range(first, last - c.window + 2):
        v = _reference_value(c, series.aggregate(names, s, s + c.window - 1), c.window)
        if v is not None and (
            worst is None or _reference_badness(c, v) > _reference_badness(c, worst)
        ):
            worst, worst_at = v, s
    if worst is None:
        assert (r.passed, r.observed) == (False, None)
        return
    assert r.observed is not None
    if c.stat == "avg":  # sums are added in another order: equal up to rounding
        assert r.observed == pytest.approx(worst, rel=1e-9)
        if not math.isclose(worst, c.threshold, rel_tol=1e-9):
            assert r.passed == _HOLDS[c.op](worst, c.threshold)
        return
    assert r.observed == worst
    assert r.window == (worst_at, worst_at + c.window - 1)
    values = [
        _reference_value(c, series.aggregate(names, s, s + c.window - 1), c.window)
        for s in range(first, last - c.window + 2)
    ]
    breached = [v for v in values if v is not None and not _HOLDS[c.op](v, c.threshold)]
    assert r.passed == (not breached)


# -- live abort checks -----------------------------------------------------------------------


def test_live_window_ignores_the_current_second_and_waits_for_a_full_window() -> None:
    c = crit("p99(response_time) < 500ms for 5s abort")
    series = steady(10, latency=100.0)
    record(series, 10, "a", [5000.0] * 100)  # second 10 is still running
    assert breached_now(c, series, 10) is None
    record(series, 3, "a", [5000.0] * 100)
    assert breached_now(c, series, 4) is None  # no complete 5s window yet
    r = breached_now(c, series, 5)
    assert r is not None
    assert (r.passed, r.window) == (False, (0, 4))
    assert r.observed == pytest.approx(5000.0, rel=0.01)
    assert r.message.endswith("FAILED (live: 5s window from 0s to 4s)")
    assert breached_now(c, series, 8) is not None
    assert breached_now(c, series, 9) is None  # second 3 has left the window


def test_live_windowed_lower_bound_is_judged_once_a_window_is_complete() -> None:
    c = crit("rps > 5 for 3s abort")
    series = steady(10, per_second=10)
    del series.seconds[6], series.seconds[7], series.seconds[8]
    assert breached_now(c, series, 2) is None
    assert breached_now(c, series, 7) is None
    r = breached_now(c, series, 9)
    assert r is not None
    assert (r.observed, r.window) == (0.0, (6, 8))


def test_live_cumulative_upper_bounds() -> None:
    series = steady(10, per_second=10)
    record(series, 5, "a", [10.0] * 10, failed=10)
    r = breached_now(crit("error_rate < 5% abort"), series, 6)
    assert r is not None
    assert r.observed == pytest.approx(10 / 70)
    assert r.message == "error_rate = 14.3% < 5%: FAILED (live: first 6s)"
    assert breached_now(crit("error_rate < 5% abort"), series, 5) is None
    assert breached_now(crit("errors == 0 abort"), series, 6) is not None
    assert breached_now(crit("errors <= 10 abort"), series, 6) is None
    assert breached_now(crit("requests < 50 abort"), series, 5) is not None
    assert breached_now(crit("requests == 40 abort"), series, 4) is None
    assert breached_now(crit("requests == 40 abort"), series, 5) is not None
    assert breached_now(crit("rps < 5 abort"), series, 3) is not None
    assert breached_now(crit("p99(response_time) < 5ms abort"), series, 1) is not None
    assert breached_now(crit("p99(response_time) < 5ms abort"), series, 0) is None


@pytest.mark.parametrize(
    "text",
    [
        "rps > 1000",
        "rps >= 1000",
        "requests > 10000",
        "requests >= 10000",
        "errors > 5",
        "errors != 0",
        "requests != 100",
        "rps == 1000",
        "rps != 10",
    ],
)
def test_live_never_judges_what_the_end_could_reverse(text: str) -> None:
    series = steady(10, per_second=10)
    assert not evaluate(crit(text), series).passed
    assert breached_now(crit(text), series, 10) is None


@pytest.mark.parametrize(
    "text",
    [
        "error_rate < 5%",
        "error_rate{b} < 5%",
        "p99(response_time) < 150ms",
        "errors{b} < 2",
        "rps < 10",
    ],
)
def test_live_running_totals_give_the_same_verdicts(text: str) -> None:
    series = steady(10, per_second=10, latency=100.0)
    record(series, 4, "b", [200.0] * 5, failed=3)
    record(series, 9, "b", [300.0] * 5, failed=3)  # the current second: not in the totals
    totals: dict[str, RequestWindow] = {}
    for now in range(11):
        plain = breached_now(crit(text), series, now)
        assert breached_now(crit(text), series, now, so_far=totals) == plain
        if now < 10:
            for name, w in series.seconds[now].requests.items():
                totals.setdefault(name, RequestWindow()).merge(w)
    assert breached_now(crit(text), series, 10) is not None


def test_live_without_data_is_not_a_breach() -> None:
    assert breached_now(crit("p99(response_time) < 1ms abort"), TimeSeries(), 30) is None
    assert breached_now(crit("error_rate < 1% for 5s abort"), TimeSeries(), 30) is None
    assert breached_now(crit("p99(response_time){x} < 1ms"), steady(5), 5) is None
