"""Mergeable measurements and statistics; imports nothing else of intperf."""

from intperf.stats.histogram import LogHistogram

__all__ = ["LogHistogram"]
