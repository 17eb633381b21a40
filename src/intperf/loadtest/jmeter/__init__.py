"""Run JMeter .jmx test plans on the intperf engine by translating them into scenarios."""

from __future__ import annotations

from intperf.loadtest.jmeter.model import JmxElement, JmxError, JmxPlan, Unsupported
from intperf.loadtest.jmeter.parser import parse_jmx, parse_jmx_bytes
from intperf.loadtest.jmeter.schedule import parse_schedule
from intperf.loadtest.jmeter.translate import Translation, translate, translate_plan

__all__ = [
    "JmxElement",
    "JmxError",
    "JmxPlan",
    "Translation",
    "Unsupported",
    "parse_jmx",
    "parse_jmx_bytes",
    "parse_schedule",
    "translate",
    "translate_plan",
]
