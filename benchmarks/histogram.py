"""Cost per value of recording latencies: LogHistogram (batch and per value) vs installed peers.

Usage: ``python benchmarks/histogram.py [--quick] [--values N] [--append]``. Peers
(``ddsketch``, ``hdrhistogram``) are measured only when importable; nothing is installed.
``--append`` adds the table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from intperf.stats.histogram import LogHistogram

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Row:
    """One measured approach."""

    name: str
    ns_per_value: float
    merge_ms: float
    p99_error: float


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Smallest wall time of ``repeats`` calls, in seconds."""
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_batch(values: Floats, exact: float, repeats: int) -> Row:
    def run() -> LogHistogram:
        h = LogHistogram()
        h.record_many(values)
        return h

    seconds = best_of(repeats, run)
    a, b = run(), run()
    merge = best_of(repeats, lambda: a.copy().merge(b))
    return Row(
        "LogHistogram.record_many (NumPy batch)",
        seconds / values.size * 1e9,
        merge * 1e3,
        run().quantile(0.99) / exact - 1.0,
    )


def measure_per_value(values: Floats, exact: float, repeats: int) -> Row:
    as_list = values.tolist()

    def run() -> LogHistogram:
        h = LogHistogram()
        record = h.record
        for v in as_list:
            record(v)
        _ = h.count  # bucketize what is still buffered
        return h

    seconds = best_of(max(1, repeats // 2), run)
    return Row(
        "LogHistogram.record (per value)",
        seconds / values.size * 1e9,
        math.nan,
        run().quantile(0.99) / exact - 1.0,
    )


def measure_ddsketch(values: Floats, exact: float, repeats: int) -> Row | None:
    if importlib.util.find_spec("ddsketch") is None:
        return None
    from ddsketch import DDSketch  # type: ignore[import-not-found,unused-ignore]

    as_list = values.tolist()

    def run() -> DDSketch:
        s = DDSketch(relative_accuracy=0.01)
        for v in as_list:
            s.add(v)
        return s

    seconds = best_of(max(1, repeats // 2), run)
    a, b = run(), run()
    merge = best_of(repeats, lambda: a.merge(b))
    return Row(
        "ddsketch DDSketch.add (alpha 1%)",
        seconds / values.size * 1e9,
        merge * 1e3,
        float(run().get_quantile_value(0.99)) / exact - 1.0,
    )


def measure_hdrhistogram(values: Floats, exact: float, repeats: int) -> Row | None:
    if importlib.util.find_spec("hdrh") is None:
        return None
    from hdrh.histogram import HdrHistogram  # type: ignore[import-not-found,unused-ignore]

    micros = [max(1, round(v * 1000.0)) for v in values.tolist()]  # integers >= 1 only

    def run() -> HdrHistogram:
        h = HdrHistogram(1, 3_600_000_000, 2)
        for v in micros:
            h.record_value(v)
        return h

    seconds = best_of(max(1, repeats // 2), run)
    a, b = run(), run()
    merge = best_of(repeats, lambda: a.add(b))
    return Row(
        "hdrhistogram record_value (2 digits)",
        seconds / values.size * 1e9,
        merge * 1e3,
        run().get_value_at_percentile(99.0) / 1000.0 / exact - 1.0,
    )


def table(rows: list[Row], n: int) -> str:
    lines = [
        f"histogram recording, {n:,} lognormal values (ms, mu=3, sigma=1), "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"numpy {np.__version__}, {datetime.datetime.now(datetime.UTC):%Y-%m-%d}",
        "",
        "| approach | ns/value | merge ms | p99 error |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        merge = "-" if math.isnan(r.merge_ms) else f"{r.merge_ms:.3f}"
        lines.append(f"| {r.name} | {r.ns_per_value:.1f} | {merge} | {r.p99_error:+.3%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 values, one repeat (smoke)")
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.values
    repeats = 1 if args.quick else 5
    values = np.random.default_rng(1).lognormal(3.0, 1.0, n)
    exact = float(np.quantile(values, 0.99, method="inverted_cdf"))
    rows = [measure_batch(values, exact, repeats), measure_per_value(values, exact, repeats)]
    for peer in (measure_ddsketch, measure_hdrhistogram):
        row = peer(values, exact, repeats)
        if row is not None:
            rows.append(row)
    text = table(rows, n)
    print(text)
    if args.append:
        with (Path(__file__).parent / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write("\n" + text + "\n")
    return text


if __name__ == "__main__":
    main()
