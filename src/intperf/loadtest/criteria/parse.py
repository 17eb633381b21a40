"""Success criteria: the ``Criterion`` model and the parser of ``p99(response_time) < 500ms``.

Pure logic. The grammar is documented in docs/criteria.md.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, cast, get_args

from intperf.errors import CriterionSyntaxError

__all__ = [
    "DEFAULT_CRITERIA",
    "TIME_METRICS",
    "Criterion",
    "Metric",
    "Operator",
    "parse_all",
    "parse_criterion",
]

Metric = Literal["response_time", "service_time", "error_rate", "errors", "requests", "rps"]
Operator = Literal["<", "<=", ">", ">=", "==", "!="]

#: The reference thresholds (``performance.monitoring.alert-thresholds``), used when a scenario
#: names no criteria.
DEFAULT_CRITERIA: tuple[str, ...] = ("p99(response_time) < 2000ms", "error_rate < 5%", "rps > 100")

TIME_METRICS = frozenset({"response_time", "service_time"})
_METRICS: tuple[str, ...] = get_args(Metric)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_NAMED_STATS = {"avg": "avg", "mean": "avg", "min": "min", "max": "max", "median": "median"}
# Unit factors as Decimals so that 1.1s becomes exactly the float nearest 1100 ms.
_TIME_UNITS = {
    "us": Decimal("0.001"),
    "µs": Decimal("0.001"),
    "ms": Decimal(1),
    "s": Decimal(1000),
    "m": Decimal(60000),
    "h": Decimal(3600000),
}
_WINDOW_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}
_RATE_PER = {
    "s": Decimal(1),
    "sec": Decimal(1),
    "m": Decimal(60),
    "min": Decimal(60),
    "h": Decimal(3600),
}
_RATE_WORDS = {"rps": Decimal(1), "rpm": Decimal(60)}
_EXAMPLES = {
    "response_time": "500ms",
    "service_time": "500ms",
    "error_rate": "1%",
    "errors": "0",
    "requests": "1000",
    "rps": "100/s",
}
_OP_LIST = "<, <=, >, >=, ==, !="
_METRIC_HINT = (
    "a metric: pNN(response_time), avg|mean|min|max|median(response_time), the same "
    "over service_time, error_rate, errors, requests or rps"
)
_PREFIX = "invalid criterion: "
_SAFE_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/:")


def _num(x: float | Decimal) -> str:
    """Shortest positional text that parses back to exactly ``x`` (no exponent)."""
    d = Decimal(repr(x)) if isinstance(x, float) else x
    text = format(d.normalize(), "f")
    return text if d != 0 else "0"


@dataclass(frozen=True, slots=True)
class Criterion:
    """One parsed success criterion; ``str()`` gives its canonical text.

    ``threshold`` is normalized: milliseconds for times, a ratio in [0, 1] for error_rate,
    requests per second for rps, a count for errors and requests. ``text`` is what the user
    wrote and does not take part in equality.
    """

    text: str = field(compare=False)
    metric: Metric
    stat: str | None
    scope: str | None
    op: Operator
    threshold: float
    window: int | None = None
    abort: bool = False

    def __post_init__(self) -> None:
        if self.metric not in _METRICS:
            raise ValueError(f"unknown metric {self.metric!r}")
        if self.op not in _OPS:
            raise ValueError(f"unknown operator {self.op!r}")
        if (self.stat is None) == (self.metric in TIME_METRICS):
            raise ValueError(f"{self.metric} {'needs' if self.stat is None else 'takes no'} stat")
        if self.stat is not None and self.stat not in _NAMED_STATS.values():
            p = float(self.stat[1:]) if self.stat[:1] == "p" else math.nan
            if not 0 < p <= 100 or self.stat != f"p{_num(p)}":
                raise ValueError(f"bad statistic {self.stat!r}")
        if not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise ValueError(f"threshold must be finite and >= 0, got {self.threshold!r}")
        if self.metric == "error_rate" and self.threshold > 1:
            raise ValueError("an error_rate threshold is a ratio in [0, 1]")
        if self.window is not None and self.window < 1:
            raise ValueError("a window is at least 1 second")
        if self.scope == "":
            raise ValueError("a scope names a request")

    @property
    def subject(self) -> str:
        """The left-hand side in canonical form, e.g. ``p99(response_time){search}``."""
        head = f"{self.stat}({self.metric})" if self.stat else self.metric
        if self.scope is None:
            return head
        if set(self.scope) <= _SAFE_NAME:
            return f"{head}{{{self.scope}}}"
        return head + '{"' + self.scope.replace("\\", "\\\\").replace('"', '\\"') + '"}'

    @property
    def is_lower_bound(self) -> bool:
        """True for ``>`` and ``>=``: the value must stay above the threshold."""
        return self.op in (">", ">=")

    def format_value(self, value: float) -> str:
        """``value`` (in this criterion's normalized unit) for humans, e.g. ``812.4ms``."""
        if self.metric in TIME_METRICS:
            return f"{_short(value)}ms"
        if self.metric == "error_rate":
            return f"{_short(value * 100)}%"
        if self.metric == "rps":
            return f"{_short(value)}/s"
        return _short(value)

    @property
    def threshold_text(self) -> str:
        """The threshold in canonical form, e.g. ``1500ms``, ``5%``, ``100/s``."""
        t = self.threshold
        if self.metric in TIME_METRICS:
            return f"{_num(t)}ms"
        if self.metric == "rps":
            return f"{_num(t)}/s"
        if self.metric == "error_rate":
            pct = Decimal(repr(t)) * 100
            return f"{_num(pct)}%" if float(pct / 100) == t else _num(t)
        return _num(t)

    def __str__(self) -> str:
        out = f"{self.subject} {self.op} {self.threshold_text}"
        if self.window is not None:
            out += f" for {self.window}s"
        return out + (" abort" if self.abort else "")


def _short(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.3g}"


# -- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["num", "word", "str", "name", "op", "punct", "end"]
    text: str
    pos: int
    end: int
    value: str = ""
    """Decoded text: the lower-cased word, or the request name."""


def _fail(text: str, pos: int, expected: str) -> CriterionSyntaxError:
    shown = "".join(" " if c.isspace() else c for c in text)
    return CriterionSyntaxError(f"{_PREFIX}{expected}\n  {shown}\n  {' ' * pos}^")


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    quote, i, out = text[i], i + 1, []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise _fail(text, len(text), f"expected {quote} to close the quoted request name")


def _tokenize(text: str) -> list[_Token]:
    toks: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= text[i + 1] <= "9"):
            j = i
            while j < n and "0" <= text[j] <= "9":
                j += 1
            if j + 1 < n and text[j] == "." and "0" <= text[j + 1] <= "9":
                j += 1
                while j < n and "0" <= text[j] <= "9":
                    j += 1
            toks.append(_Token("num", text[i:j], i, j))
            i = j
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalpha() or text[j] == "_"):
                j += 1
            toks.append(_Token("word", text[i:j], i, j, text[i:j].lower()))
            i = j
        elif text.startswith(("<=", ">=", "==", "!="), i):
            toks.append(_Token("op", text[i : i + 2], i, i + 2))
            i += 2
        elif c in "<>":
            toks.append(_Token("op", c, i, i + 1))
            i += 1
        elif c == "{":
            toks.append(_Token("punct", c, i, i + 1))
            i = _scan_scope(text, i + 1, toks)
        elif c in "()}/%":
            toks.append(_Token("punct", c, i, i + 1))
            i += 1
        else:
            hint = {
                "=": ": did you mean '=='?",
                "!": ": did you mean '!='?",
                "-": ": thresholds cannot be negative",
            }.get(c, "")
            raise _fail(text, i, f"unexpected character {c!r}{hint}")
    toks.append(_Token("end", "", n, n))
    return toks


def _scan_scope(text: str, i: int, toks: list[_Token]) -> int:
    """Read the request name after ``{``: quoted, or raw text up to ``}`` (trimmed)."""
    while i < len(text) and text[i].isspace():
        i += 1
    if i < len(text) and text[i] in "\"'":
        name, j = _read_quoted(text, i)
        toks.append(_Token("str", text[i:j], i, j, name))
        return j
    close = text.find("}", i)
    j = len(text) if close < 0 else close
    raw = text[i:j].rstrip()
    if any(q in raw for q in "\"'{"):
        bad = min(raw.find(q) for q in "\"'{" if q in raw)
        raise _fail(text, i + bad, 'quote the whole request name, e.g. {"GET /api/items/{id}"}')
    if raw:
        toks.append(_Token("name", raw, i, i + len(raw), raw))
    return j


class _Parser:
    """Recursive descent over the tokens: criterion := metric scope? op value window? 'abort'?."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.toks[self.i]

    def take(self) -> _Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text or t.value == text)

    def fail(self, expected: str, tok: _Token | None = None) -> CriterionSyntaxError:
        return _fail(self.text, (tok or self.tok).pos, expected)

    def criterion(self) -> Criterion:
        metric, stat = self.metric()
        scope = self.scope() if self.at("punct", "{") else None
        if not self.at("op"):
            raise self.fail(f"expected one of {_OP_LIST} after the metric")
        op = self.take().text
        threshold = self.value(metric, op, f"{stat}({metric})" if stat else metric)
        window = self.window() if self.at("word", "for") else None
        abort = self.at("word", "abort")
        if abort:
            self.take()
        if not self.at("end"):
            after = "'abort'" if abort else "the window" if window else "the threshold"
            options = "" if abort else "'abort' or " if window else "'for DURATION', 'abort' or "
            raise self.fail(f"expected {options}the end of the criterion after {after}")
        return Criterion(
            self.text, metric, stat, scope, cast(Operator, op), threshold, window, abort
        )

    def metric(self) -> tuple[Metric, str | None]:
        t = self.tok
        if t.kind != "word":
            raise self.fail(f"expected {_METRIC_HINT}")
        self.take()
        if t.value in TIME_METRICS:
            raise self.fail(
                f"expected a statistic before {t.value}, e.g. p99({t.value}) or avg({t.value})", t
            )
        if t.value in _METRICS:
            return cast(Metric, t.value), None
        if t.value == "p":
            stat = self.percentile(t)
        elif t.value in _NAMED_STATS:
            stat = _NAMED_STATS[t.value]
        else:
            close = difflib.get_close_matches(t.value, [*_METRICS, *_NAMED_STATS], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(f"unknown metric {t.text!r}{hint}; expected {_METRIC_HINT}", t)
        if not self.at("punct", "("):
            raise self.fail(f"expected '(' after {t.text}, e.g. {stat}(response_time)")
        self.take()
        m = self.tok
        if m.kind != "word" or m.value not in TIME_METRICS:
            extra = (
                f": statistics apply only to times; write {m.value} without {stat}( )"
                if m.kind == "word" and m.value in _METRICS
                else ""
            )
            raise self.fail(f"expected response_time or service_time inside {stat}( ){extra}")
        self.take()
        if not self.at("punct", ")"):
            raise self.fail(f"expected ')' after {stat}({m.value}")
        self.take()
        return cast(Metric, m.value), stat

    def percentile(self, p_tok: _Token) -> str:
        k6 = self.at("punct", "(")  # k6 style: p(99)
        if k6:
            self.take()
        num = self.tok
        if num.kind != "num" or (not k6 and num.pos != p_tok.end):
            raise self.fail("expected a percentile after 'p', e.g. p99, p99.9 or p(99)")
        self.take()
        p = float(num.text)
        if not 0 < p <= 100:
            raise self.fail("a percentile must be above 0 and at most 100", num)
        if k6:
            if not self.at("punct", ")"):
                raise self.fail(f"expected ')' to close p({num.text}")
            self.take()
        return f"p{_num(p)}"

    def scope(self) -> str:
        self.take()
        t = self.tok
        if t.kind not in ("name", "str") or not t.value:
            raise self.fail("expected a request name inside { }, e.g. {search}")
        self.take()
        if not self.at("punct", "}"):
            raise self.fail("expected '}' to close the request name")
        self.take()
        return t.value

    def value(self, metric: Metric, op: str, subject: str) -> float:
        num = self.tok
        value = self._value(metric, op, subject)
        if not math.isfinite(value):
            raise self.fail("the threshold is too large", num)
        return value

    def _value(self, metric: Metric, op: str, subject: str) -> float:
        num = self.tok
        if num.kind != "num":
            raise self.fail(
                f"expected a threshold after {op!r}, e.g. {subject} {op} {_EXAMPLES[metric]}"
            )
        self.take()
        d = Decimal(num.text)
        unit = self.tok if self.at("word") and self.tok.value not in ("for", "abort") else None
        if metric in TIME_METRICS:
            if unit is None:
                raise _fail(
                    self.text,
                    num.end,
                    f"expected a time unit (us, ms, s) after "
                    f"{num.text}: time thresholds need a unit, e.g. {num.text}ms",
                )
            if unit.value not in _TIME_UNITS:
                raise self.fail(f"unknown time unit {unit.text!r}; expected us, ms, s, m or h")
            self.take()
            return float(d * _TIME_UNITS[unit.value])
        if metric == "error_rate":
            if self.at("punct", "%"):
                self.take()
                if d > 100:
                    raise self.fail("a percentage must be between 0% and 100%", num)
                return float(d / 100)
            if d > 1:
                raise self.fail(f"a ratio must be between 0 and 1; did you mean {num.text}%?", num)
            return float(d)
        if metric == "rps":
            if self.at("punct", "/"):
                self.take()
                per = self.tok
                if per.kind != "word" or per.value not in _RATE_PER:
                    raise self.fail("expected a time unit after '/': s, m or h, e.g. 100/s")
                self.take()
                return float(d / _RATE_PER[per.value])
            if unit is not None:
                if unit.value not in _RATE_WORDS:
                    raise self.fail(
                        f"unknown rate unit {unit.text!r}; expected /s, /m, /h, "
                        "rps or rpm, e.g. 100/s"
                    )
                self.take()
                return float(d / _RATE_WORDS[unit.value])
            return float(d)
        if d != d.to_integral_value():
            raise self.fail(f"expected a whole number of {metric}", num)
        return float(d)

    def window(self) -> int:
        self.take()
        first, total = self.tok, Decimal(0)
        if first.kind != "num":
            raise self.fail("expected a duration after 'for', e.g. for 30s")
        while self.at("num"):  # 30s, 5m, 1m30s, 1m 30s
            num = self.take()
            unit = self.tok
            if unit.kind != "word" or unit.value == "abort":
                raise _fail(
                    self.text,
                    num.end,
                    f"expected a unit (s, m, h) after {num.text}: "
                    f"windows need a unit, e.g. for {num.text}s",
                )
            if unit.value not in _WINDOW_UNITS:
                raise self.fail(f"unknown window unit {unit.text!r}; expected s, m or h")
            self.take()
            total += Decimal(num.text) * _WINDOW_UNITS[unit.value]
        if total < 1 or total != total.to_integral_value():
            raise self.fail("a window must be a whole number of seconds, at least 1s", first)
        return int(total)


def parse_criterion(text: str) -> Criterion:
    """Parse one criterion; raises CriterionSyntaxError with a caret under the problem."""
    return _Parser(text).criterion()


def parse_all(texts: Iterable[str]) -> list[Criterion]:
    """Parse every criterion, raising one CriterionSyntaxError that lists all the bad ones."""
    texts = list(texts)
    out: list[Criterion] = []
    problems: list[str] = []
    for i, text in enumerate(texts, 1):
        try:
            out.append(parse_criterion(text))
        except CriterionSyntaxError as e:
            problems.append(f"criterion {i}: {str(e).removeprefix(_PREFIX)}")
    if problems:
        verb = "is" if len(problems) == 1 else "are"
        head = f"{len(problems)} of {len(texts)} criteria {verb} invalid"
        raise CriterionSyntaxError("\n".join([head, *problems]))
    return out
