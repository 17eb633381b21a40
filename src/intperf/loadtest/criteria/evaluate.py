"""Success criteria: judging a run's time series, at the end and live (``abort``).

Pure logic: no I/O, no clock. The semantics are documented in docs/criteria.md.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from intperf.loadtest.criteria.parse import _OPS, Criterion
from intperf.loadtest.results import RequestWindow, SeriesIndex, TimeSeries
from intperf.stats.histogram import LogHistogram

__all__ = ["CriterionResult", "breached_now", "evaluate", "evaluate_all"]


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """The verdict on one criterion. ``observed`` is None when there was nothing to measure."""

    criterion: Criterion
    passed: bool
    observed: float | None
    message: str
    window: tuple[int, int] | None = None


def _stat_of(hist: LogHistogram, stat: str) -> float | None:
    if hist.count == 0:
        return None
    if stat == "avg":
        # Clamped because a sum kept by adding and removing seconds drifts by a few ulps.
        return min(max(hist.sum / hist.count, hist.min), hist.max)
    if stat == "min":
        return hist.min
    if stat == "max":
        return hist.max
    return hist.quantile(0.5 if stat == "median" else float(stat[1:]) / 100.0)


def _value(c: Criterion, w: RequestWindow, seconds: float) -> float | None:
    """The criterion's metric over one merged window lasting ``seconds``."""
    if c.stat is not None:
        return _stat_of(w.latency if c.metric == "response_time" else w.service, c.stat)
    if c.metric == "error_rate":
        return w.failed / w.requests if w.requests else None
    if c.metric == "errors":
        return float(w.failed)
    if c.metric == "requests":
        return float(w.requests)
    return w.requests / seconds


def _badness(c: Criterion, v: float) -> float:
    """Larger is closer to (or further into) a breach; the worst window maximizes it."""
    if c.op in ("<", "<="):
        return v
    if c.op in (">", ">="):
        return -v
    return abs(v - c.threshold) if c.op == "==" else -abs(v - c.threshold)


def _result(
    c: Criterion,
    observed: float | None,
    note: str = "",
    window: tuple[int, int] | None = None,
    *,
    problem: str = "",
) -> CriterionResult:
    passed = not problem and observed is not None and _OPS[c.op](observed, c.threshold)
    shown = "" if observed is None else f" = {c.format_value(observed)}"
    msg = f"{c.subject}{shown} {c.op} {c.threshold_text}: {'PASSED' if passed else 'FAILED'}"
    msg += f" - {problem}" if problem else ""
    msg += f" ({note})" if note else ""
    return CriterionResult(c, passed, observed, msg, window)


def _names(c: Criterion) -> list[str] | None:
    return None if c.scope is None else [c.scope]


def _run_range(series: TimeSeries, run_seconds: float | None) -> tuple[int, int] | None:
    """Seconds judged: the series' span, widened to [0, run end) when the run length is known."""
    first, last = series.span()
    if run_seconds is not None and run_seconds > 0:
        end = math.ceil(run_seconds) - 1
        return (min(first, 0), max(last, end)) if series.seconds else (0, end)
    return (first, last) if series.seconds else None


def _whole_run(
    c: Criterion,
    series: TimeSeries,
    rng: tuple[int, int] | None,
    run_seconds: float | None,
    note: str = "",
    index: SeriesIndex | None = None,
) -> CriterionResult:
    w = series.aggregate(_names(c)) if index is None else index.aggregate(_names(c))
    span = 1 if rng is None else rng[1] - rng[0] + 1
    observed = _value(c, w, run_seconds if run_seconds is not None and run_seconds > 0 else span)
    window = rng if note else None
    problem = ""
    if w.requests == 0 and (
        observed is None or (c.metric in ("rps", "requests") and c.is_lower_bound)
    ):
        problem = "no requests completed"
    elif observed is None:
        problem = "no response times recorded"
    return _result(c, observed, note, window, problem=problem)


def evaluate(
    criterion: Criterion,
    series: TimeSeries,
    *,
    run_seconds: float | None = None,
    index: SeriesIndex | None = None,
) -> CriterionResult:
    """Final verdict on ``criterion`` over the whole run, or over every window with ``for``.

    ``index``, the series' :class:`SeriesIndex`, merges the windows in bulk (same results).
    """
    if index is not None:
        try:
            return _evaluate(criterion, series, run_seconds, index)
        except ValueError:  # histograms of another alpha: merge as before (which may raise)
            pass
    return _evaluate(criterion, series, run_seconds, None)


def _evaluate(
    c: Criterion, series: TimeSeries, run_seconds: float | None, index: SeriesIndex | None
) -> CriterionResult:
    known = series.request_names if index is None else index.names
    if c.scope is not None and c.scope not in known:
        listed = ", ".join(known) if known else "none"
        return _result(c, None, problem=f"no requests named {c.scope!r} (known: {listed})")
    rng = _run_range(series, run_seconds)
    if c.window is None:
        return _whole_run(c, series, rng, run_seconds, index=index)
    length = 0 if rng is None else rng[1] - rng[0] + 1
    if rng is None or length < c.window:
        note = (
            f"the run of {length}s is shorter than the {c.window}s window: "
            "judged over the whole run"
        )
        return _whole_run(c, series, rng, run_seconds, note, index)
    worst, worst_at, skipped = None, -1, 0
    for i, v in enumerate(_window_values(c, series, rng, c.window, index)):
        if v is None:
            skipped += 1
        elif worst is None or _badness(c, v) > _badness(c, worst):
            worst, worst_at = v, i
    if worst is None:
        return _result(c, None, problem="no requests completed in any window")
    start, end = rng[0] + worst_at, rng[0] + worst_at + c.window - 1
    note = f"worst {c.window}s window from {start}s to {end}s"
    if skipped:
        note += f"; {skipped} window(s) without completed requests skipped"
    return _result(c, worst, note, (start, end))


def _window_values(
    c: Criterion,
    series: TimeSeries,
    rng: tuple[int, int],
    width: int,
    index: SeriesIndex | None = None,
) -> list[float | None]:
    """The metric over every window of ``width`` seconds in ``rng``, sliding by one second.

    Counts use prefix sums (O(n)); time statistics add the entering second's buckets and remove
    the leaving one's, with min and max kept by monotonic deques (O(n * buckets)).
    """
    reqs, fails = [0], [0]
    hists: list[LogHistogram | None] = []
    if index is None:
        _series_per_second(c, series, rng, reqs, fails, hists)
    else:
        _per_second(c, index, rng, reqs, fails, hists)
    n = len(reqs) - 1
    if c.stat is None:
        out: list[float | None] = []
        for s in range(n - width + 1):
            r, e = reqs[s + width] - reqs[s], fails[s + width] - fails[s]
            if c.metric == "error_rate":
                out.append(e / r if r else None)
            else:
                out.append(
                    float(e)
                    if c.metric == "errors"
                    else r / width
                    if c.metric == "rps"
                    else float(r)
                )
        return out
    slider = _SlidingHistogram()
    values: list[float | None] = []
    for i in range(n):
        slider.push(i, hists[i])
        if i >= width:
            slider.pop(i - width, hists[i - width])
        if i >= width - 1:
            values.append(_stat_of(slider.current(), c.stat))
    return values


def _series_per_second(
    c: Criterion,
    series: TimeSeries,
    rng: tuple[int, int],
    reqs: list[int],
    fails: list[int],
    hists: list[LogHistogram | None],
) -> None:
    """Fill _window_values' running counts and per-second histograms, window by window."""
    for s in range(rng[0], rng[1] + 1):
        sw = series.seconds.get(s)
        parts = (
            []
            if sw is None
            else [w for n, w in sw.requests.items() if c.scope is None or n == c.scope]
        )
        reqs.append(reqs[-1] + sum(w.requests for w in parts))
        fails.append(fails[-1] + sum(w.failed for w in parts))
        if c.stat is not None:
            hs = [w.latency if c.metric == "response_time" else w.service for w in parts]
            hists.append(None if not hs else hs[0] if len(hs) == 1 else _merged(hs))


def _per_second(
    c: Criterion,
    index: SeriesIndex,
    rng: tuple[int, int],
    reqs: list[int],
    fails: list[int],
    hists: list[LogHistogram | None],
) -> None:
    """The same as :func:`_series_per_second`, the windows merged in bulk by the index."""
    n = rng[1] - rng[0] + 1
    second = index.second - rng[0]
    if c.scope is not None:
        scoped = index.names.index(c.scope) if c.scope in index.names else -1
        second = np.where(index.name_id == scoped, second, -1)
    groups = index.groups(second, n)
    for r, f in zip(groups.requests, groups.failed, strict=True):
        reqs.append(reqs[-1] + r)
        fails.append(fails[-1] + f)
    if c.stat is not None:
        kind: Literal["latency", "service"] = (
            "latency" if c.metric == "response_time" else "service"
        )
        merged = index.merged(kind, second, n)
        hists.extend(merged.histogram(i) if held else None
                     for i, held in enumerate(groups.windows))


def _merged(hists: list[LogHistogram]) -> LogHistogram:
    out = hists[0].copy()
    for h in hists[1:]:
        out.merge(h)
    return out


class _SlidingHistogram:
    """Bucket counts over a sliding run of seconds; min and max kept by monotonic deques."""

    def __init__(self) -> None:
        self.alpha: float | None = None
        self.count = self.zero = 0
        self.sum = 0.0
        self.bins: dict[int, int] = {}
        self.lows: deque[tuple[int, float]] = deque()
        self.highs: deque[tuple[int, float]] = deque()

    def push(self, i: int, h: LogHistogram | None) -> None:
        if h is None or h.count == 0:
            return
        if self.alpha is None:
            self.alpha = h.alpha
        elif self.alpha != h.alpha:
            raise ValueError(f"cannot merge histograms with alpha {self.alpha} and {h.alpha}")
        self.count += h.count
        self.zero += h.zero
        self.sum += h.sum
        bins = self.bins
        for k, v in h.bins.items():
            bins[k] = bins.get(k, 0) + v
        lo, hi = h.min, h.max
        while self.lows and self.lows[-1][1] >= lo:
            self.lows.pop()
        self.lows.append((i, lo))
        while self.highs and self.highs[-1][1] <= hi:
            self.highs.pop()
        self.highs.append((i, hi))

    def pop(self, i: int, h: LogHistogram | None) -> None:
        if h is None or h.count == 0:
            return
        self.count -= h.count
        self.zero -= h.zero
        self.sum = self.sum - h.sum if self.count else 0.0
        bins = self.bins
        for k, v in h.bins.items():
            left = bins[k] - v
            if left:
                bins[k] = left
            else:
                del bins[k]
        for dq in (self.lows, self.highs):
            while dq and dq[0][0] <= i:
                dq.popleft()

    def current(self) -> LogHistogram:
        """The window as a histogram (O(buckets)), so statistics match a plain merge exactly."""
        if not self.count or self.alpha is None:
            return LogHistogram()
        return LogHistogram.from_dict(
            {
                "alpha": self.alpha,
                "count": self.count,
                "sum": self.sum,
                "zero": self.zero,
                "min": self.lows[0][1],
                "max": self.highs[0][1],
                "keys": list(self.bins),
                "counts": list(self.bins.values()),
            }
        )


def breached_now(
    criterion: Criterion,
    series: TimeSeries,
    now_second: int,
    *,
    so_far: Mapping[str, RequestWindow] | None = None,
) -> CriterionResult | None:
    """The failing result if ``criterion`` is already breached at ``now_second``, else None.

    Only complete seconds (before ``now_second``) count. A windowed criterion judges the window
    ending at ``now_second - 1`` once one fits. An unwindowed one judges the run so far, except
    verdicts that later seconds could still reverse, which wait for the end: lower bounds on rps,
    requests and errors (meaningless during ramp-up), ``==`` and ``!=`` on rps, ``!=`` on counts
    and ``==`` on counts not yet exceeded.

    ``so_far`` optionally gives running totals per request name over seconds before
    ``now_second``, kept by the caller, so the cumulative check costs O(names), not O(seconds).
    """
    c = criterion
    window: tuple[int, int] | None = None
    if c.window is not None:
        start, end = now_second - c.window, now_second - 1
        if start < 0:
            return None
        observed = _value(c, series.aggregate(_names(c), start, end), c.window)
        note, window = f"live: {c.window}s window from {start}s to {end}s", (start, end)
    else:
        if now_second < 1:
            return None
        if so_far is None:
            total = series.aggregate(_names(c), None, now_second - 1)
        else:
            total = RequestWindow()
            for name, w in so_far.items():
                if c.scope is None or name == c.scope:
                    total.merge(w)
        observed = _value(c, total, now_second)
        if (
            observed is not None
            and c.stat is None
            and c.metric != "error_rate"
            and (
                c.is_lower_bound
                or c.op == "!="
                or (c.op == "==" and (c.metric == "rps" or observed <= c.threshold))
            )
        ):
            return None
        note = f"live: first {now_second}s"
    if observed is None or _OPS[c.op](observed, c.threshold):
        return None
    return _result(c, observed, note, window)


def evaluate_all(
    criteria: Iterable[Criterion],
    series: TimeSeries,
    run_seconds: float | None = None,
    *,
    index: SeriesIndex | None = None,
) -> list[CriterionResult]:
    """:func:`evaluate` every criterion, in order, sharing one :class:`SeriesIndex`.

    Pass ``index`` to share it with the caller too (the run summary reads the same one).
    """
    criteria = list(criteria)
    if index is None and criteria:
        index = SeriesIndex(series)
    return [evaluate(c, series, run_seconds=run_seconds, index=index) for c in criteria]
