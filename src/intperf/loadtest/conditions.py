"""The ``if:`` condition language of group steps: parsed once, evaluated per virtual user.

A small, safe language (nothing is ever passed to ``eval``): ``${name}`` references, quoted
text (which may hold ``${name}``), numbers, ``true``/``false``, ``last_ok``, the comparisons
``== != < <= > >=``, ``and``/``&&``, ``or``/``||``, ``not``/``!`` and parentheses.
See docs/scenarios.md#conditions for the typing rules.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

from intperf.errors import UsageError
from intperf.loadtest.templating import (
    BuiltinContext,
    MissingVariableError,
    Template,
    TemplateSyntaxError,
)

__all__ = [
    "COMPARISONS",
    "And",
    "Compare",
    "Condition",
    "ConditionSyntaxError",
    "LastOk",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Ref",
    "Text",
    "parse_condition",
]

COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
_NUMBER = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*")
_NUMBER_TOKEN = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = {"and": "&&", "or": "||", "not": "!"}
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

Value = str | float | bool
"""What an operand evaluates to: text, a number or a boolean."""


class ConditionSyntaxError(UsageError):
    """A condition does not parse; ``position`` is the 0-based column of the problem."""

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        super().__init__(f"{message} at column {position + 1}")


# --- syntax tree -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Literal:
    """``true``, ``false`` or a number."""

    value: bool | float

    def __str__(self) -> str:
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return repr(self.value) if not self.value.is_integer() else str(int(self.value))


@dataclass(frozen=True, slots=True)
class Text:
    """Quoted text, possibly holding ``${name}`` references: always compared as text."""

    template: Template

    def __str__(self) -> str:
        escaped = self.template.text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'


@dataclass(frozen=True, slots=True)
class Ref:
    """A bare ``${name}`` (or ``${randomInt(a,b)}``): a number when its value reads as one."""

    template: Template

    def __str__(self) -> str:
        return self.template.text


@dataclass(frozen=True, slots=True)
class LastOk:
    """True when the virtual user's previous request succeeded."""

    def __str__(self) -> str:
        return "last_ok"


@dataclass(frozen=True, slots=True)
class Compare:
    """``left OP right``."""

    op: str
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{_operand(self.left)} {self.op} {_operand(self.right)}"


@dataclass(frozen=True, slots=True)
class Not:
    """``not operand``."""

    operand: Node

    def __str__(self) -> str:
        inner = self.operand
        return f"not ({inner})" if isinstance(inner, And | Or) else f"not {inner}"


@dataclass(frozen=True, slots=True)
class And:
    """``left and right``."""

    left: Node
    right: Node

    def __str__(self) -> str:
        left = f"({self.left})" if isinstance(self.left, Or) else str(self.left)
        right = f"({self.right})" if isinstance(self.right, And | Or) else str(self.right)
        return f"{left} and {right}"


@dataclass(frozen=True, slots=True)
class Or:
    """``left or right``."""

    left: Node
    right: Node

    def __str__(self) -> str:
        right = f"({self.right})" if isinstance(self.right, Or) else str(self.right)
        return f"{self.left} or {right}"


Node = Literal | Text | Ref | LastOk | Compare | Not | And | Or


def _operand(node: Node) -> str:
    return str(node) if isinstance(node, Literal | Text | Ref | LastOk) else f"({node})"


# --- evaluation ------------------------------------------------------------------------------
def _render(template: Template, variables: Mapping[str, str], ctx: BuiltinContext) -> str:
    """The text of ``template``; a variable that is not set yet counts as empty text."""
    static = template.static_text
    if static is not None:
        return static
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
        else:
            try:
                out.append(part.resolve(variables, ctx))
            except MissingVariableError:
                out.append("")
    return "".join(out)


def as_number(text: str) -> float | None:
    """``text`` as a finite number, or None when it does not read as one."""
    if _NUMBER.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def truthy(value: Value) -> bool:
    """A lone operand as a condition: a boolean, or text that reads ``true`` (any case)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def compare(op: str, a: Value, b: Value) -> bool:
    """Compare two operand values (see docs/scenarios.md#conditions)."""
    if isinstance(a, bool) or isinstance(b, bool):
        if isinstance(a, float) or isinstance(b, float) or op not in ("==", "!="):
            return op == "!="
        left = _bool_text(a)
        right = _bool_text(b)
        return (left == right) == (op == "==")
    x: str | float = a
    y: str | float = b
    if isinstance(x, str) and isinstance(y, float):
        number = as_number(x)
        if number is None:
            return op == "!="
        x = number
    elif isinstance(x, float) and isinstance(y, str):
        number = as_number(y)
        if number is None:
            return op == "!="
        y = number
    if op == "==":
        return x == y
    if op == "!=":
        return x != y
    order = _ORDER[op]
    if isinstance(x, float) and isinstance(y, float):
        return bool(order(x, y))
    return isinstance(x, str) and isinstance(y, str) and bool(order(x, y))


def _bool_text(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v).strip().lower()


def value_of(
    node: Node, variables: Mapping[str, str], ctx: BuiltinContext, last_ok: bool
) -> Value:
    """What ``node`` evaluates to for this user."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Text):
        return _render(node.template, variables, ctx)
    if isinstance(node, Ref):
        text = _render(node.template, variables, ctx)
        number = as_number(text)
        return text if number is None else number
    if isinstance(node, LastOk):
        return last_ok
    if isinstance(node, Compare):
        return compare(
            node.op,
            value_of(node.left, variables, ctx, last_ok),
            value_of(node.right, variables, ctx, last_ok),
        )
    if isinstance(node, Not):
        return not truthy(value_of(node.operand, variables, ctx, last_ok))
    if isinstance(node, And):
        return truthy(value_of(node.left, variables, ctx, last_ok)) and truthy(
            value_of(node.right, variables, ctx, last_ok)
        )
    return truthy(value_of(node.left, variables, ctx, last_ok)) or truthy(
        value_of(node.right, variables, ctx, last_ok)
    )


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition; ``uses_last_ok`` says whether it reads the previous outcome."""

    text: str
    tree: Node
    variables: frozenset[str]
    """Names of the ``${name}`` references (for load-time checks)."""
    uses_last_ok: bool

    def evaluate(self, variables: Mapping[str, str], ctx: BuiltinContext, last_ok: bool) -> bool:
        """True when the condition holds for this user now."""
        return truthy(value_of(self.tree, variables, ctx, last_ok))

    def __str__(self) -> str:
        return str(self.tree)


# --- parsing ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "op", "(", ")", "num", "text", "ref", "word", "end"
    text: str
    pos: int
    number: float = 0.0
    template: Template | None = None


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(_Token(c, c, i))
            i += 1
        elif text.startswith(("==", "!=", "<=", ">=", "&&", "||"), i):
            out.append(_Token("op", text[i : i + 2], i))
            i += 2
        elif c in "<>!":
            out.append(_Token("op", c, i))
            i += 1
        elif c == "=":
            raise ConditionSyntaxError(text, i, "use '==' to compare ('=' alone is no operator)")
        elif c == "&" or c == "|":
            raise ConditionSyntaxError(text, i, f"use '{c * 2}' (or '{_word_of(c)}')")
        elif c in "\"'":
            i = _string(text, i, out)
        elif text.startswith("${", i):
            i = _reference(text, i, out)
        elif (m := _NUMBER_TOKEN.match(text, i)) is not None and (
            c != "-" or not out or out[-1].kind in ("op", "(") or out[-1].text in _KEYWORDS
        ):
            out.append(_Token("num", m.group(), i, number=float(m.group())))
            i = m.end()
        elif (m := _WORD.match(text, i)) is not None:
            out.append(_Token("word", m.group(), i))
            i = m.end()
        else:
            raise ConditionSyntaxError(text, i, f"unexpected {c!r}")
    out.append(_Token("end", "", n))
    return out


def _word_of(c: str) -> str:
    return "and" if c == "&" else "or"


def _string(text: str, start: int, out: list[_Token]) -> int:
    quote = text[start]
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            body = "".join(chars)
            try:
                template = Template.compile(body)
            except TemplateSyntaxError as e:
                raise ConditionSyntaxError(text, start + 1 + e.position, e.message) from None
            out.append(_Token("text", text[start : i + 1], start, template=template))
            return i + 1
        chars.append(c)
        i += 1
    raise ConditionSyntaxError(text, start, f"unclosed text: add the closing {quote}")


def _reference(text: str, start: int, out: list[_Token]) -> int:
    end = text.find("}", start)
    if end < 0:
        raise ConditionSyntaxError(text, start, "unclosed '${': close it with '}'")
    ref = text[start : end + 1]
    try:
        template = Template.compile(ref)
    except TemplateSyntaxError as e:
        raise ConditionSyntaxError(text, start + e.position, e.message) from None
    out.append(_Token("ref", ref, start, template=template))
    return end + 1


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Token, message: str | None = None) -> ConditionSyntaxError:
        if message is None:
            message = "unexpected end of the condition" if tok.kind == "end" \
                else f"unexpected {tok.text!r}"
        return ConditionSyntaxError(self.text, tok.pos, message)

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        if tok.kind == "op":
            return tok.text in ops
        return tok.kind == "word" and _KEYWORDS.get(tok.text) in ops

    def parse(self) -> Node:
        node = self.disjunction()
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind == ")":
                raise self.fail(tok, "unexpected ')' (no '(' to close)")
            raise self.fail(tok, f"unexpected {tok.text!r}; join conditions with 'and' or 'or'")
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.is_op("||"):
            self.take()
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.is_op("&&"):
            self.take()
            node = And(node, self.negation())
        return node

    def negation(self) -> Node:
        if self.is_op("!"):
            self.take()
            return Not(self.negation())
        return self.comparison()

    def comparison(self) -> Node:
        start = self.peek()
        left = self.operand()
        if self.peek().kind == "op" and self.peek().text in COMPARISONS:
            op = self.take().text
            right = self.operand()
            tok = self.peek()
            if tok.kind == "op" and tok.text in COMPARISONS:
                raise self.fail(tok, "comparisons cannot be chained; join them with 'and'")
            return Compare(op, left, right)
        if isinstance(left, Literal) and not isinstance(left.value, bool):
            raise self.fail(start, f"a number alone is not a condition; compare it "
                                   f"(e.g. ${{count}} > {start.text})")
        return left

    def operand(self) -> Node:
        tok = self.take()
        if tok.kind == "(":
            self.depth += 1
            if self.depth > 50:
                raise self.fail(tok, "parentheses nested too deeply")
            node = self.disjunction()
            close = self.take()
            if close.kind != ")":
                raise self.fail(close, "expected ')'" if close.kind != "end"
                                else "unclosed '(': add ')'")
            self.depth -= 1
            return node
        if tok.kind == "num":
            return Literal(tok.number)
        if tok.kind in ("text", "ref"):
            assert tok.template is not None
            return Text(tok.template) if tok.kind == "text" else Ref(tok.template)
        if tok.kind == "word":
            if tok.text in ("true", "false"):
                return Literal(tok.text == "true")
            if tok.text == "last_ok":
                return LastOk()
            if tok.text in _KEYWORDS:
                raise self.fail(tok, f"unexpected {tok.text!r}; a value is missing before it")
            raise self.fail(tok, f"unknown name {tok.text!r}: write ${{{tok.text}}} for a "
                                 "variable, quote text (\"...\"), or use true, false, last_ok")
        if tok.kind == "op" and tok.text in (*COMPARISONS, "&&", "||"):
            raise self.fail(tok, f"unexpected {tok.text!r}; a value is missing before it")
        raise self.fail(tok)


def _collect(node: Node, names: set[str]) -> bool:
    """Add referenced variable names to ``names``; True when ``last_ok`` is used."""
    if isinstance(node, Text | Ref):
        names.update(node.template.variables)
        return False
    if isinstance(node, LastOk):
        return True
    if isinstance(node, Literal):
        return False
    if isinstance(node, Not):
        return _collect(node.operand, names)
    a = _collect(node.left, names)
    b = _collect(node.right, names)
    return a or b


def parse_condition(text: str) -> Condition:
    """Parse a condition; raises :class:`ConditionSyntaxError` saying what and where."""
    if not text.strip():
        raise ConditionSyntaxError(text, 0, "empty condition")
    tree = _Parser(text).parse()
    names: set[str] = set()
    uses_last_ok = _collect(tree, names)
    return Condition(text, tree, frozenset(names), uses_last_ok)
