"""IfController conditions translated into intperf's condition language (group ``if``).

Supported: a condition made of one ``${__jexl3(...)}`` (or ``__jexl2``) call, a JavaScript
condition (the default mode) and, with "Interpret Condition as Variable Expression", a lone
``${variable}``; in all of them the subset of docs/jmeter.md#conditions: ``${name}``,
``vars.get("name")``, ``${JMeterThread.last_sample_ok}``, text and number literals,
``true``/``false``, comparisons, ``&&``/``||``/``!`` (and JEXL's ``eq ne lt le gt ge and
or not``) and parentheses. Anything else raises :class:`NotExpressible` with the reason.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from intperf.loadtest.conditions import ConditionSyntaxError, parse_condition
from intperf.loadtest.jmeter.functions import JEXL_FUNCTIONS, Rewriter, closing, whole_call
from intperf.loadtest.jmeter.requests import NotExpressible
from intperf.loadtest.templating import BuiltinContext

__all__ = ["LAST_SAMPLE_OK", "IfCondition", "if_condition"]

LAST_SAMPLE_OK = "JMeterThread.last_sample_ok"
_WORD_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
             "and": "&&", "or": "||", "not": "!"}
_SYMBOLS = ("===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_VARS_GET = re.compile(r"""vars\.get\(\s*(["'])([A-Za-z_][A-Za-z0-9_.-]*)\1\s*\)""")


@dataclass(frozen=True, slots=True)
class IfCondition:
    """A translated condition: ``text`` for a group's ``if``, or a constant."""

    text: str | None
    constant: bool | None = None


def if_condition(raw: str, *, use_expression: bool, rw: Rewriter, where: str,
                 notes: list[str]) -> IfCondition:
    """Translate an IfController condition; raises :class:`NotExpressible`."""
    text = rw.resolve(raw).strip()  # -J properties are known now, as JMeter substitutes first
    if not text:
        raise NotExpressible("empty condition")
    call = whole_call(text)
    if call is not None and call[0] in JEXL_FUNCTIONS:
        name, args = call
        if not args:
            raise NotExpressible(f"${{{name}()}} without an expression")
        if len(args) > 1 and args[1].strip():
            notes.append(f"{where}: ${{{name}}} does not store its result in "
                         f"{args[1].strip()!r} (not supported)")
        return _finish(_expression(args[0], rw, where, notes))
    if call is not None and call[0] == "__groovy" and [a.strip() for a in call[1]] in (
            ["true"], ["false"]):
        return IfCondition(None, call[1][0].strip() == "true")
    if call is not None:
        raise NotExpressible(f"function {call[0]} is not supported in conditions "
                             f"(supported: ${{__jexl3(...)}}, or a JavaScript comparison)")
    if use_expression:
        return _finish(_variable_expression(text, rw, where))
    return _finish(_expression(text, rw, where, notes))  # JavaScript: the same subset


def _finish(text: str) -> IfCondition:
    try:
        condition = parse_condition(text)
    except ConditionSyntaxError as e:
        raise NotExpressible(f"cannot be translated ({text!r}: {e})") from None
    if condition.variables or condition.uses_last_ok or "${" in text.replace("$${", ""):
        return IfCondition(text)
    ctx = BuiltinContext(rng=random.Random(0))
    return IfCondition(None, condition.evaluate({}, ctx, True))


def _variable_expression(text: str, rw: Rewriter, where: str) -> str:
    """"Interpret Condition as Variable Expression": true when the text is ``true``."""
    if text.lower() in ("true", "false"):
        return text.lower()
    if text.startswith("${") and closing(text, 2) == len(text) - 1:
        return _reference(text[2:-1], rw, where)
    raise NotExpressible("with 'Interpret Condition as Variable Expression' only ${__jexl3(...)}, "
                         "a ${variable} or true/false are supported")


def _reference(body: str, rw: Rewriter, where: str) -> str:
    """A bare ``${...}`` as an operand."""
    if body.strip() == LAST_SAMPLE_OK:
        return "last_ok"
    rewritten = rw("${" + body + "}", where)
    if rewritten.startswith("$${"):
        raise NotExpressible(f"${{{body}}} is not a variable of the plan nor a supported "
                             "function")
    return rewritten


def _text(content: str, rw: Rewriter, where: str, notes: list[str]) -> str:
    """A quoted JMeter string as an intperf quoted text (``${...}`` translated)."""
    if LAST_SAMPLE_OK in content:
        if content.strip() != "${" + LAST_SAMPLE_OK + "}":
            raise NotExpressible(f"{LAST_SAMPLE_OK} inside other text")
        return "last_ok"
    rewritten = rw(content, where)
    notes.extend(f"{where}: ${{{name}}} is not defined by the plan; like JMeter, the "
                 "condition compares the literal text"
                 for name in re.findall(r"\$\$\{([^}]*)\}", rewritten))
    return '"' + rewritten.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tokens(expr: str, rw: Rewriter, where: str, notes: list[str]) -> list[str]:
    """The expression as intperf condition tokens (operands translated)."""
    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "\"'":
            i, content = _quoted(expr, i)
            out.append(_text(content, rw, where, notes))
        elif expr.startswith("${", i):
            end = closing(expr, i + 2)
            if end < 0:
                raise NotExpressible("unclosed '${'")
            out.append(_reference(expr[i + 2 : end], rw, where))
            i = end + 1
        elif (m := _VARS_GET.match(expr, i)) is not None:
            name = m.group(2)
            if name not in rw.known:
                raise NotExpressible(f"vars.get({name!r}): {name!r} is not a variable of the plan")
            out.append("${" + name + "}")
            i = m.end()
        elif (m := _NUMBER.match(expr, i)) is not None or (
            c == "-" and (m := _NUMBER.match(expr, i + 1)) is not None
            and (not out or out[-1] in _SYMBOLS or out[-1] in _WORD_OPS.values())
        ):
            out.append(expr[i : m.end()])
            i = m.end()
        elif (m := _WORD.match(expr, i)) is not None:
            word = m.group()
            if word in _WORD_OPS:
                out.append(_WORD_OPS[word])
            elif word in ("true", "false"):
                out.append(word)
            else:
                raise NotExpressible(f"{word!r} is outside the supported subset (variables, "
                                     "literals, comparisons, &&, ||, !)")
            i = m.end()
        elif expr.startswith(("=~", "!~"), i):
            raise NotExpressible(f"JEXL's {expr[i : i + 2]!r} (regex match or 'in') is not "
                                 "supported")
        else:
            symbol = next((s for s in _SYMBOLS if expr.startswith(s, i)), None)
            if symbol is None:
                raise NotExpressible(f"{expr[i]!r} is outside the supported subset")
            out.append({"===": "==", "!==": "!="}.get(symbol, symbol))
            i += len(symbol)
    return out


def _quoted(expr: str, start: int) -> tuple[int, str]:
    quote = expr[start]
    chars: list[str] = []
    i = start + 1
    while i < len(expr):
        c = expr[i]
        if c == "\\" and i + 1 < len(expr):
            chars.append(expr[i + 1])
            i += 2
            continue
        if c == quote:
            return i + 1, "".join(chars)
        if expr.startswith("${", i):  # a reference may hold quotes: copy it whole
            end = closing(expr, i + 2)
            if end > 0:
                chars.append(expr[i : end + 1])
                i = end + 1
                continue
        chars.append(c)
        i += 1
    raise NotExpressible("unclosed string")


def _expression(expr: str, rw: Rewriter, where: str, notes: list[str]) -> str:
    """JEXL/JavaScript to intperf: ``!`` binds to the next operand as in those languages."""
    tokens = _tokens(expr, rw, where, notes)
    text, end = _sequence(tokens, 0)
    if end != len(tokens):
        raise NotExpressible("unbalanced ')'")
    return text


def _sequence(tokens: list[str], i: int) -> tuple[str, int]:
    parts: list[str] = []
    while i < len(tokens) and tokens[i] != ")":
        if tokens[i] in ("!", "("):
            text, i = _unary(tokens, i)
            parts.append(text)
        else:
            parts.append(tokens[i])
            i += 1
    return " ".join(parts), i


def _unary(tokens: list[str], i: int) -> tuple[str, int]:
    if i >= len(tokens):
        raise NotExpressible("the expression ends too early")
    tok = tokens[i]
    if tok == "!":
        inner, j = _unary(tokens, i + 1)
        return f"(not {inner})", j
    if tok == "(":
        inner, j = _sequence(tokens, i + 1)
        if j >= len(tokens):
            raise NotExpressible("unclosed '('")
        return f"({inner})", j + 1
    return tok, i + 1

