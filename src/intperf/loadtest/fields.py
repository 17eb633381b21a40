"""Pydantic field types shared by the scenario and workload models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict

from intperf.units import parse_duration, parse_rate, parse_ratio


def _duration(v: Any) -> Any:
    return parse_duration(v) if isinstance(v, str | int | float) else v


def _rate(v: Any) -> Any:
    return parse_rate(v) if isinstance(v, str | int | float) else v


def _ratio(v: Any) -> Any:
    return parse_ratio(v) if isinstance(v, str | int | float) else v


Duration = Annotated[float, BeforeValidator(_duration)]
"""Seconds; accepts a number or text such as ``300s``, ``5m``, ``2000ms``."""
Rate = Annotated[float, BeforeValidator(_rate)]
"""Per second; accepts a number or text such as ``100/s``, ``6000/m``, ``100rps``."""
Ratio = Annotated[float, BeforeValidator(_ratio)]
"""In [0, 1]; accepts ``5%`` or 0.05."""

STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
"""Model config for user documents: unknown keys are errors (typos must not pass silently)."""
