"""The ``checks`` of a request in a scenario document: what may be asserted on a response.

Compiled for the hot path by :mod:`intperf.loadtest.checks`; the format is in
docs/scenarios.md#checks.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from intperf.loadtest.checks import ALL_STATUSES, compile_jsonpath, status_ranges
from intperf.loadtest.fields import STRICT, Duration

__all__ = [
    "ALL_STATUSES",
    "TEXT_CHECKS",
    "TEXT_OPERATORS",
    "TEXT_SUBJECTS",
    "CheckSpec",
    "JsonPath",
    "Patterns",
    "StatusList",
    "status_ranges",
]

TEXT_SUBJECTS = ("body", "headers", "message", "url")
"""What a text check looks at: body, header lines, reason phrase, requested URL."""
TEXT_OPERATORS = ("contains", "matches", "equals")
TEXT_CHECKS = tuple(f"{s}_{o}" for s in TEXT_SUBJECTS for o in TEXT_OPERATORS)
_STATUS_CLASS = re.compile(r"\s*([1-5])xx\s*", re.IGNORECASE)
_STATUS_RANGE = re.compile(r"\s*(\d{3})\s*-\s*(\d{3})\s*")
_STATUS_HELP = "give codes like [200, 201], a class like 2xx, a range like 200-299, or any"


# --- status ----------------------------------------------------------------------------------
def _expand_status_text(v: str) -> list[int] | None:
    """``any``, ``2xx``, ``200-299`` or ``"200"`` as codes; None when it is none of them."""
    text = v.strip().lower()
    if text == "any":
        return list(ALL_STATUSES)
    if text.isdigit():
        return [int(text)]
    if m := _STATUS_CLASS.fullmatch(text):
        base = int(m.group(1)) * 100
        return list(range(base, base + 100))
    if m := _STATUS_RANGE.fullmatch(text):
        low, high = int(m.group(1)), int(m.group(2))
        if low > high:
            raise ValueError(f"status range {v!r}: the first code must not exceed the second")
        return list(range(low, high + 1))
    return None


def _status_before(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return [v]
    if isinstance(v, str):
        codes = _expand_status_text(v)
        if codes is None:
            raise ValueError(f"expected a list, got {v!r}; {_STATUS_HELP}")
        return codes
    if isinstance(v, list):
        out: list[Any] = []
        for item in v:
            codes = _expand_status_text(item) if isinstance(item, str) else None
            if codes is None:
                out.append(item)
            else:
                out.extend(codes)
        return out
    return v


def _status_after(v: list[int]) -> list[int]:
    if not v:
        raise ValueError("give at least one status code, e.g. [200]")
    bad = sorted({s for s in v if not 100 <= s <= 599})
    if bad:
        raise ValueError(f"{', '.join(map(str, bad))}: HTTP status codes are 100-599")
    return sorted(set(v))


StatusList = Annotated[list[int], BeforeValidator(_status_before), AfterValidator(_status_after)]
"""Status codes: a code, a list of codes, ``2xx``, ``200-299`` or ``any`` (100-599)."""


# --- patterns --------------------------------------------------------------------------------
def _scalar_text(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return v


class Patterns(BaseModel):
    """One pattern, a list (every one must hold) or ``{any_of: [...]}`` (at least one)."""

    model_config = STRICT
    all_of: list[str] | None = None
    any_of: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        v = _scalar_text(v)
        if isinstance(v, str):
            return {"all_of": [v]}
        if isinstance(v, list):
            return {"all_of": [_scalar_text(x) for x in v]}
        if isinstance(v, dict):
            return {k: [_scalar_text(x) for x in items] if isinstance(items, list) else items
                    for k, items in v.items()}
        return v

    @model_validator(mode="after")
    def _one(self) -> Patterns:
        given = [k for k in ("all_of", "any_of") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give a pattern, a list of patterns (all must hold) or "
                             f"{{any_of: [...]}} (one must hold); got {', '.join(given) or 'none'}")
        if not self.patterns:
            raise ValueError("give at least one pattern")
        return self

    @property
    def patterns(self) -> list[str]:
        """The patterns, in order."""
        return list(self.all_of if self.all_of is not None else self.any_of or [])

    @property
    def any(self) -> bool:
        """True when one pattern holding is enough."""
        return self.any_of is not None


def _non_empty_patterns(v: Patterns) -> Patterns:
    if any(not p for p in v.patterns):
        raise ValueError("must not be empty")
    return v


def _regex_patterns(v: Patterns) -> Patterns:
    for p in v.patterns:
        if not p:
            raise ValueError("must not be empty")
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"invalid regex {p!r}: {e}") from None
    return v


Contains = Annotated[Patterns, AfterValidator(_non_empty_patterns)]
Matches = Annotated[Patterns, AfterValidator(_regex_patterns)]


def _jsonpath(v: str) -> str:
    compile_jsonpath(v)
    return v


JsonPath = Annotated[str, AfterValidator(_jsonpath)]
"""A JSONPath, compiled when the scenario loads so that a malformed one is a load error."""


class CheckSpec(BaseModel):
    """One assertion on a response; see docs/scenarios.md#checks."""

    model_config = STRICT
    status: StatusList | None = None
    body_contains: Contains | None = None
    body_matches: Matches | None = None
    body_equals: Patterns | None = None
    headers_contains: Contains | None = None
    headers_matches: Matches | None = None
    headers_equals: Patterns | None = None
    message_contains: Contains | None = None
    message_matches: Matches | None = None
    message_equals: Patterns | None = None
    url_contains: Contains | None = None
    url_matches: Matches | None = None
    url_equals: Patterns | None = None
    jsonpath: JsonPath | None = None
    equals: Any = None
    """Compared with the JSON value at ``jsonpath``; without ``equals`` the path must match."""
    max_duration: Duration | None = None
    negate: bool = Field(default=False, alias="not")
    """``not: true``: each pattern (or the status list, or the jsonpath) must *not* hold."""
    full_match: bool = False
    """With ``*_matches``: the regex must match the whole text, not just a part of it."""

    @model_validator(mode="after")
    def _one(self) -> CheckSpec:
        given = [k for k in ("status", "body_contains", "jsonpath", "max_duration", *TEXT_CHECKS)
                 if getattr(self, k) is not None]
        given = list(dict.fromkeys(given))
        if self.has_equals and self.jsonpath is None:
            raise ValueError("'equals' needs a 'jsonpath' to compare")
        if len(given) != 1:
            raise ValueError(
                "a check needs exactly one of 'status', 'body_contains', 'jsonpath' "
                f"(with 'equals'), 'max_duration', or a text check ({', '.join(TEXT_CHECKS[1:])}); "
                f"got {', '.join(sorted(given)) or 'none'}"
            )
        kind = given[0]
        if self.negate and kind == "max_duration":
            raise ValueError("'not' does not apply to 'max_duration'")
        if self.full_match and not kind.endswith("_matches"):
            raise ValueError(f"'full_match' only applies to the *_matches checks, not {kind!r}")
        return self

    @property
    def has_equals(self) -> bool:
        """True when ``equals`` was given (``equals: null`` compares with JSON null)."""
        return "equals" in self.model_fields_set

    @property
    def text_check(self) -> tuple[str, str, Patterns] | None:
        """``(subject, operator, patterns)`` of a text check, None for other kinds."""
        for name in TEXT_CHECKS:
            patterns: Patterns | None = getattr(self, name)
            if patterns is not None:
                subject, op = name.split("_")
                return subject, op, patterns
        return None

