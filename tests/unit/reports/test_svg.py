"""The inline SVG chart helper: nice ticks (property-tested) and chart markup."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.reports.svg import Series, line_chart, nice_step, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


def mantissa(step: float) -> float:
    return step / 10.0 ** math.floor(math.log10(step) + 1e-9)


@given(finite, finite, st.integers(min_value=3, max_value=12))
def test_nice_ticks_cover_the_range_with_round_even_steps(a: float, b: float, n: int) -> None:
    lo, hi = min(a, b), max(a, b)
    ticks = nice_ticks(a, b, n)
    assert 2 <= len(ticks) <= n
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks)
    step = ticks[1] - ticks[0]
    tol = 1e-9 * max(abs(lo), abs(hi), step)
    assert ticks[0] <= lo + tol
    assert ticks[-1] >= hi - tol
    for x, y in itertools.pairwise(ticks):
        assert y - x == pytest.approx(step, rel=1e-6, abs=tol)
    assert any(mantissa(step) == pytest.approx(m, rel=1e-6) for m in (1, 2, 5, 10))
    # Ticks are multiples of the step, so labels are round numbers.
    for t in ticks:
        assert t / step == pytest.approx(round(t / step), abs=1e-6)


@given(st.floats(min_value=1e-9, max_value=1e12, allow_nan=False))
def test_nice_step_is_the_smallest_round_step_at_least_raw(raw: float) -> None:
    step = nice_step(raw)
    assert step >= raw * (1 - 1e-9)
    assert step < raw * 2.5 * (1 + 1e-9)  # 1 -> 2 -> 5 -> 10: never more than 2.5x


def test_nice_ticks_examples() -> None:
    assert nice_ticks(0, 7.3, 5) == [0, 2, 4, 6, 8]
    assert nice_ticks(0, 1234, 6) == [0, 500, 1000, 1500]
    assert nice_ticks(0, 0, 5) == [-1, -0.5, 0, 0.5, 1]
    assert nice_ticks(0.001, 0.0013, 5) == [0.001, 0.0011, 0.0012, 0.0013]
    with pytest.raises(ValueError):
        nice_ticks(0, 1, 2)
    with pytest.raises(ValueError):
        nice_ticks(0, math.inf)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def test_chart_with_several_series_has_axes_legend_and_tooltips() -> None:
    x = [0.0, 1.0, 2.0, 3.0]
    svg = line_chart(x, [Series("ok", [1, 2, 3, 4], area=True), Series("failed", [0, 1, 0, 2])],
                     title="Throughput", y_format=lambda v: f"{v:g}/s")
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "Throughput"  # type: ignore[union-attr]
    assert len(root.findall(f".//{SVG}polyline")) == 2
    assert len(root.findall(f".//{SVG}path")) == 1  # the area
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert "ok @ 2: 3/s" in titles
    assert "3\nok: 4/s\nfailed: 2/s" in titles  # hover band of the last x
    legend = root.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["ok", "failed"]
    assert "0/s" in [t.text for t in root.iter(f"{SVG}text")]


def test_gaps_split_lines_and_many_points_drop_markers() -> None:
    x = [float(i) for i in range(100)]
    values: list[float | None] = [float(i) for i in range(100)]
    values[40] = None
    values[60] = None
    values[62] = None  # leaves 61 alone: it still needs a marker to be visible
    root = parse(line_chart(x, [Series("p99", values)], title="Latency"))
    assert len(root.findall(f".//{SVG}polyline")) == 4
    assert len(root.findall(f".//{SVG}circle")) == 1
    assert len(root.findall(f".//{SVG}rect[@class='hb']")) == 100


def test_empty_and_single_point_charts() -> None:
    for svg in (line_chart([], [], title="Nothing"),
                line_chart([0.0, 1.0], [Series("a", [None, None])], title="All missing")):
        root = parse(svg)
        assert "No data" in [t.text for t in root.iter(f"{SVG}text")]
    root = parse(line_chart([5.0], [Series("a", [3.0])], title="One"))
    circles = root.findall(f".//{SVG}circle")
    assert len(circles) == 1
    assert circles[0].find(f"{SVG}title").text == "a @ 5: 3"  # type: ignore[union-attr]
    # The point is drawn inside the plot area, centred.
    assert float(circles[0].get("cx", "0")) == pytest.approx((58 + 760 - 14) / 2)


def test_text_is_escaped() -> None:
    name = '<script>alert("x")</script> & co'
    svg = line_chart([0.0, 1.0], [Series(name, [1.0, 2.0])], title="<b>t</b>")
    assert "<script>" not in svg and "<b>" not in svg
    root = parse(svg)
    assert name in [t.text for t in root.iter(f"{SVG}title")]


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="series 'a'"):
        line_chart([0.0, 1.0], [Series("a", [1.0])], title="t")
