"""Mergeable measurements and statistics; imports nothing else of intperf."""

from intperf.stats.compare import (
    DEFAULT_DIRECTIONS,
    Comparison,
    Direction,
    MetricComparison,
    Samples,
    SignificanceResult,
    SignificanceTest,
    Verdict,
    bootstrap_median_diff,
    compare_samples,
    mann_whitney,
)
from intperf.stats.histogram import LogHistogram

__all__ = [
    "DEFAULT_DIRECTIONS",
    "Comparison",
    "Direction",
    "LogHistogram",
    "MetricComparison",
    "Samples",
    "SignificanceResult",
    "SignificanceTest",
    "Verdict",
    "bootstrap_median_diff",
    "compare_samples",
    "mann_whitney",
]
