"""Text checks on a response: body, header lines, reason phrase or URL against patterns.

Each pattern is tested with ``contains`` (substring), ``matches`` (regex found, or matching
the whole text with ``full_match``) or ``equals``; ``not`` negates each test; several
patterns must all hold, or one of them with ``any_of`` (JMeter's Response Assertion).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from intperf.loadtest.checks import ResponseView

__all__ = ["TextCheck", "headers_text", "reason_phrase"]

_SHOW = 40
_VERBS = {  # operator -> (holds, does not hold)
    "contains": ("contains", "does not contain"),
    "matches": ("matches", "does not match"),
    "full": ("fully matches", "does not fully match"),
    "equals": ("equals", "does not equal"),
}


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (RFC 9110 §15), empty when unknown."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def headers_text(status: int, headers: Sequence[tuple[bytes, bytes]]) -> str:
    """The status line and header lines as JMeter shows them: ``Name: value`` per line."""
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}".rstrip()]
    lines += [f"{n.decode('latin-1')}: {v.decode('latin-1')}" for n, v in headers]
    return "\n".join(lines) + "\n"


def _shown(pattern: str) -> str:
    text = pattern if len(pattern) <= _SHOW else pattern[: _SHOW - 3] + "..."
    return repr(text)


Test = Callable[[str], bool]


def _test(op: str, pattern: str, full: bool) -> Test:
    if op == "contains":
        return lambda text: pattern in text
    if op == "equals":
        return lambda text: text == pattern
    regex = re.compile(pattern)
    if full:
        return lambda text: regex.fullmatch(text) is not None
    return lambda text: regex.search(text) is not None


@dataclass(frozen=True, slots=True)
class TextCheck:
    """One text check, compiled."""

    subject: str
    """``body``, ``headers``, ``message`` or ``url``."""
    verb: str
    tests: tuple[Test, ...]
    shown: tuple[str, ...]
    negate: bool
    any_of: bool
    body_bytes: tuple[bytes, ...] | None
    """For ``body`` with contains/equals: the patterns as UTF-8, tested on the raw body."""

    @classmethod
    def compile(
        cls, subject: str, op: str, patterns: Sequence[str], *, negate: bool, any_of: bool,
        full_match: bool,
    ) -> TextCheck:
        """Compile the patterns of one check (regexes are valid: checked at load time)."""
        verb = "full" if op == "matches" and full_match else op
        raw = None
        if subject == "body" and op in ("contains", "equals"):
            raw = tuple(p.encode() for p in patterns)
        tests = tuple(_test(op, p, full_match) for p in patterns)
        return cls(subject, verb, tests, tuple(_shown(p) for p in patterns), negate, any_of,
                   raw)

    def _subject(self, view: ResponseView) -> str:
        if self.subject == "body":
            return view.text
        if self.subject == "headers":
            return view.headers_text
        if self.subject == "message":
            return view.message
        return view.url

    def _holds(self, view: ResponseView) -> list[bool]:
        raw = self.body_bytes
        if raw is not None:
            body = view.body
            if self.verb == "contains":
                return [p in body for p in raw]
            return [p == body for p in raw]
        text = self._subject(view)
        return [t(text) for t in self.tests]

    def __call__(self, view: ResponseView) -> str | None:
        held = self._holds(view)
        passed = [h != self.negate for h in held]
        holds, holds_not = _VERBS[self.verb]
        if self.any_of:
            if any(passed):
                return None
            verb = holds if self.negate else holds_not
            quantifier = "all of" if self.negate else "any of"
            return f"{self.subject} {verb} {quantifier} {', '.join(self.shown)}"
        for ok, shown in zip(passed, self.shown, strict=True):
            if not ok:
                return f"{self.subject} {holds if self.negate else holds_not} {shown}"
        return None
