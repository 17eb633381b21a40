"""Success criteria of a run: parse ``p99(response_time) < 500ms for 30s abort`` and judge a series.

Pure logic: no I/O, no clock. The grammar and the semantics are documented in docs/criteria.md.
"""

from intperf.loadtest.criteria.evaluate import (
    CriterionResult,
    breached_now,
    evaluate,
    evaluate_all,
)
from intperf.loadtest.criteria.parse import (
    DEFAULT_CRITERIA,
    TIME_METRICS,
    Criterion,
    Metric,
    Operator,
    parse_all,
    parse_criterion,
)

__all__ = [
    "DEFAULT_CRITERIA",
    "TIME_METRICS",
    "Criterion",
    "CriterionResult",
    "Metric",
    "Operator",
    "breached_now",
    "evaluate",
    "evaluate_all",
    "parse_all",
    "parse_criterion",
]
