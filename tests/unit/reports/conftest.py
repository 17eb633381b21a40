"""Fixtures of the report tests: a summary of a hand-built run, and of an empty run."""

from __future__ import annotations

from typing import Any

import pytest

from intperf.loadtest.results import TimeSeries
from intperf.reports import build_summary

from ._data import CRITERIA, Recorded, make_info, make_recorded


@pytest.fixture
def recorded() -> Recorded:
    return make_recorded()


@pytest.fixture
def summary(recorded: Recorded) -> dict[str, Any]:
    return build_summary(recorded.series, CRITERIA, make_info())


@pytest.fixture
def empty_summary() -> dict[str, Any]:
    return build_summary(TimeSeries(), [], make_info(status="passed", duration_s=0.0))
