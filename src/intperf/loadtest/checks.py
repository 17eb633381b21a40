"""Response checks and extractions, compiled once per request step and run per response.

Failure messages are short and stable because they are aggregated per request name.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse as _parse_jsonpath

from intperf.loadtest.text_checks import TextCheck, headers_text, reason_phrase

if TYPE_CHECKING:
    from jsonpath_ng import JSONPath

    from intperf.loadtest.scenario import CheckSpec, Extraction
    from intperf.loadtest.scenario_checks import Patterns

__all__ = [
    "ALL_STATUSES",
    "CompiledChecks",
    "ResponseView",
    "SimplePath",
    "compile_jsonpath",
    "compile_matcher",
    "status_ranges",
]

_UNSET: Any = object()
ALL_STATUSES = range(100, 600)
_SHOW = 60


def compile_jsonpath(expr: str) -> JSONPath:
    """Parse a JSONPath (jsonpath-ng extended syntax); raises ValueError saying what is wrong.

    Deprecated syntax is refused: jsonpath-ng 2.0 will drop it.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            compiled = _parse_jsonpath(expr)
        except (JSONPathError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise ValueError(f"invalid JSONPath {expr!r}: {e}") from None
    for w in caught:
        raise ValueError(f"deprecated JSONPath syntax in {expr!r}: {w.message}")
    return compiled


_SIMPLE_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]|\['([^'\\]*)'\]")


class _Found:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class SimplePath:
    """A JSONPath made only of names and indexes (``$.items[0].id``): a direct walk.

    About 20 times faster than jsonpath-ng's general matcher, and what nearly every
    correlation in a scenario looks like. Results match jsonpath-ng's for these paths.
    """

    __slots__ = ("steps",)

    def __init__(self, steps: tuple[str | int, ...]) -> None:
        self.steps = steps

    @classmethod
    def compile(cls, expr: str) -> SimplePath | None:
        """The fast form of ``expr``, or None when it needs the general matcher."""
        text = expr.strip()
        if not text.startswith("$"):
            return None
        steps: list[str | int] = []
        pos = 1
        while pos < len(text):
            m = _SIMPLE_STEP.match(text, pos)
            if m is None:
                return None
            name, index, quoted = m.groups()
            steps.append(int(index) if index is not None else (name if name is not None
                                                               else quoted))
            pos = m.end()
        return cls(tuple(steps))

    def find(self, doc: Any) -> list[_Found]:
        """``[match]`` or ``[]``, like jsonpath-ng's ``find`` for such a path."""
        cur = doc
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                    return []
            elif not isinstance(cur, dict) or step not in cur:
                return []
            cur = cur[step]
        return [_Found(cur)]


def compile_matcher(expr: str) -> Any:
    """A matcher with ``find(doc)`` for ``expr``: the fast walk when it is simple."""
    general = compile_jsonpath(expr)  # validates, and gives the error messages
    return SimplePath.compile(expr) or general


class ResponseView:
    """What checks see of a response; the body is decoded and parsed at most once, on demand."""

    __slots__ = ("_json", "_text", "body", "elapsed_ms", "headers", "status", "url")

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        elapsed_ms: float,
        url: str = "",
    ) -> None:
        self.status = status
        self.headers = headers
        """(name, value) pairs; names lower-case."""
        self.body = body
        self.elapsed_ms = elapsed_ms
        self.url = url
        """The URL requested (the last one after redirects); set when a check needs it."""
        self._json: Any = _UNSET
        self._text: str | None = None

    @property
    def message(self) -> str:
        """The reason phrase: the standard one of the status (``OK``, ``Not Found``)."""
        return reason_phrase(self.status)

    @property
    def headers_text(self) -> str:
        """Status line and ``name: value`` lines, newline-terminated (names lower-case)."""
        return headers_text(self.status, self.headers)

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        if self._json is _UNSET:
            try:
                self._json = json.loads(self.body)
            except (ValueError, UnicodeDecodeError) as e:
                self._json = e
        if isinstance(self._json, ValueError):
            raise self._json
        return self._json

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        if self._text is None:
            self._text = self.body.decode("utf-8", errors="replace")
        return self._text

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), decoded as latin-1."""
        key = name.lower().encode("latin-1")
        for n, v in self.headers:
            if n == key:
                return v.decode("latin-1")
        return None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return type(v).__name__


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1 and "1" != 1."""
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _as_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return _show(v) if isinstance(v, dict | list) else json.dumps(v)


@dataclass(frozen=True, slots=True)
class _Status:
    allowed: frozenset[int]
    shown: str

    def __call__(self, view: ResponseView) -> str | None:
        if view.status in self.allowed:
            return None
        return f"status {view.status} not in {self.shown}"


@dataclass(frozen=True, slots=True)
class _BodyContains:
    needle: bytes
    shown: str

    def __call__(self, view: ResponseView) -> str | None:
        return None if self.needle in view.body else f"body does not contain {self.shown}"


@dataclass(frozen=True, slots=True)
class _JsonPath:
    expr: str
    path: JSONPath
    expected: Any
    compare: bool
    negate: bool = False

    def __call__(self, view: ResponseView) -> str | None:
        try:
            doc = view.json()
        except ValueError:
            return f"{self.expr}: response is not JSON"
        matches = [m.value for m in self.path.find(doc)]
        if not matches:
            return None if self.negate else f"no match for {self.expr}"
        if not self.compare:
            return f"unexpected match for {self.expr}" if self.negate else None
        actual = matches[0] if len(matches) == 1 else matches
        if json_equal(actual, self.expected) != self.negate:
            return None
        if self.negate:
            return f"{self.expr} = {_show(actual)}, expected another value"
        return f"{self.expr} = {_show(actual)}, expected {_show(self.expected)}"


@dataclass(frozen=True, slots=True)
class _MaxDuration:
    limit_ms: float

    def __call__(self, view: ResponseView) -> str | None:
        if view.elapsed_ms <= self.limit_ms:
            return None
        return f"took {view.elapsed_ms:.0f}ms > {self.limit_ms:g}ms"


@dataclass(frozen=True, slots=True)
class _Extractor:
    var: str
    default: str | None
    jsonpath: tuple[str, JSONPath] | None = None
    regex: tuple[re.Pattern[str], int | str] | None = None
    header: str | None = None

    def __call__(self, view: ResponseView) -> tuple[str | None, str]:
        """(value or None, why there is none)."""
        if self.jsonpath is not None:
            expr, path = self.jsonpath
            try:
                doc = view.json()
            except ValueError:
                return None, "response is not JSON"
            matches = path.find(doc)
            if not matches:
                return None, f"no match for {expr}"
            if matches[0].value is None:
                return None, f"{expr} is null"
            return _as_text(matches[0].value), ""
        if self.regex is not None:
            pattern, group = self.regex
            m = pattern.search(view.text)
            value = m.group(group) if m else None
            if value is None:
                return None, f"no match for regex '{pattern.pattern}'"
            return value, ""
        assert self.header is not None
        value = view.header(self.header)
        return (None, f"no header {self.header}") if value is None else (value, "")


@dataclass(frozen=True, slots=True)
class CompiledChecks:
    """A request step's checks and extractions, ready to run against responses."""

    checks: tuple[Any, ...]
    extractors: tuple[_Extractor, ...]
    status_set: frozenset[int] | None
    """Statuses all ``status`` checks accept; None when there is no status check."""
    needs_body: bool
    needs_headers: bool
    has_view_checks: bool
    """True when anything beyond the status needs a :class:`ResponseView`."""
    has_extractions: bool
    status_shown: str = ""
    """``status_set`` as failure messages show it: ``{200, 201}``, ``{2xx, 404}``."""
    needs_url: bool = False
    """True when a check reads the requested URL (``ResponseView.url``)."""

    @classmethod
    def compile(cls, checks: Sequence[CheckSpec], extracts: Sequence[Extraction]) -> CompiledChecks:
        """Compile checks (status checks first, then in order) and extractions."""
        status: list[_Status] = []
        others: list[Any] = []
        status_set: frozenset[int] | None = None
        for c in checks:
            if c.status is not None:
                allowed = frozenset(c.status)
                if c.negate:
                    allowed = frozenset(ALL_STATUSES) - allowed
                status.append(_Status(allowed, _status_text(allowed)))
                status_set = allowed if status_set is None else status_set & allowed
            elif (text := c.text_check) is not None:
                others.append(_text_check(c, *text))
            elif c.jsonpath is not None:
                others.append(_JsonPath(c.jsonpath, compile_matcher(c.jsonpath), c.equals,
                                        c.has_equals, c.negate))
            elif c.max_duration is not None:
                others.append(_MaxDuration(c.max_duration * 1000.0))
        extractors: list[_Extractor] = []
        for e in extracts:
            if e.jsonpath is not None:
                ex = _Extractor(
                    e.var, e.default, jsonpath=(e.jsonpath, compile_matcher(e.jsonpath))
                )
            elif e.regex is not None:
                ex = _Extractor(e.var, e.default, regex=(re.compile(e.regex), e.regex_group))
            else:
                ex = _Extractor(e.var, e.default, header=e.header)
            extractors.append(ex)
        subjects = {c.subject for c in others if isinstance(c, TextCheck)}
        needs_body = (
            any(isinstance(c, _BodyContains | _JsonPath) for c in others)
            or "body" in subjects
            or any(x.header is None for x in extractors)
        )
        needs_headers = any(x.header is not None for x in extractors) or "headers" in subjects
        return cls(
            (*status, *others),
            tuple(extractors),
            status_set,
            needs_body,
            needs_headers,
            has_view_checks=bool(others or extractors),
            has_extractions=bool(extractors),
            status_shown="" if status_set is None else _status_text(status_set),
            needs_url="url" in subjects,
        )

    def run(self, view: ResponseView) -> str | None:
        """The first failing check's message, or None when all pass."""
        for check in self.checks:
            message: str | None = check(view)
            if message is not None:
                return message
        return None

    def extract(self, view: ResponseView) -> tuple[dict[str, str], str | None]:
        """Extracted values and the first failure (an extraction without match or default)."""
        values: dict[str, str] = {}
        failure: str | None = None
        for ex in self.extractors:
            value, why = ex(view)
            if value is None:
                value = ex.default
                if value is None:
                    failure = failure or f"extract {ex.var}: {why}"
                    continue
            values[ex.var] = value
        return values, failure


def status_ranges(codes: frozenset[int] | set[int] | list[int]) -> list[int | str]:
    """Codes written compactly: runs of three or more become ``"200-299"``, ``"2xx"``, ``any``."""
    ordered = sorted(set(codes))
    if ordered == list(ALL_STATUSES):
        return ["any"]
    out: list[int | str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        low, high = ordered[i], ordered[j]
        if j - i >= 2:
            whole = low % 100 == 0 and high == low + 99
            out.append(f"{low // 100}xx" if whole else f"{low}-{high}")
        else:
            out.extend(ordered[i : j + 1])
        i = j + 1
    return out


def _status_text(codes: frozenset[int]) -> str:
    return "{" + ", ".join(map(str, status_ranges(codes))) + "}"


def _text_check(c: CheckSpec, subject: str, op: str, patterns: Patterns) -> Any:
    texts = patterns.patterns
    if subject == "body" and op == "contains" and len(texts) == 1 and not c.negate:
        shown = texts[0] if len(texts[0]) <= 40 else texts[0][:37] + "..."
        return _BodyContains(texts[0].encode(), repr(shown))  # the common case: bytes search
    return TextCheck.compile(subject, op, texts, negate=c.negate, any_of=patterns.any,
                             full_match=c.full_match)
