"""Parsed JMeter test plan: a tree of enabled elements with their properties."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intperf.errors import UsageError


class JmxError(UsageError):
    """A .jmx file cannot be read, is unsafe, or cannot be translated."""


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An element intperf cannot run, with its place in the plan's tree."""

    path: str
    tag: str
    testname: str
    reason: str = "not supported"

    def __str__(self) -> str:
        return f"{self.path} ({self.tag}): {self.reason}"


@dataclass(frozen=True, slots=True)
class JmxElement:
    """One test element: its XML tag, ``testname``, properties and child elements."""

    tag: str
    testname: str
    guiclass: str
    props: dict[str, Any]
    children: tuple[JmxElement, ...]
    path: str

    def get(self, name: str, default: str = "") -> str:
        """A scalar property as text (``default`` when absent or not scalar)."""
        value = self.props.get(name)
        return value if isinstance(value, str) else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean property."""
        value = self.props.get(name)
        if not isinstance(value, str) or not value.strip():
            return default
        return value.strip().lower() == "true"


@dataclass(frozen=True, slots=True)
class JmxPlan:
    """A parsed plan: the TestPlan element, the ``-J`` properties and what was skipped."""

    root: JmxElement
    properties: dict[str, str]
    source: Path
    unsupported: tuple[Unsupported, ...] = field(default=())

    @property
    def base_dir(self) -> Path:
        """Directory that relative file names in the plan (CSV data) are resolved against."""
        return self.source.parent
