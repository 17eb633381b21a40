"""``${name}`` templates in scenario text, compiled once and rendered per request.

Grammar: ``${name}`` substitutes a variable, ``${randomInt(a,b)}`` calls a built-in function,
``$${`` is a literal ``${``; any other ``$`` is literal text.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from intperf.errors import IntperfError, UsageError

__all__ = [
    "BUILTIN_FUNCTIONS",
    "BUILTIN_VARIABLES",
    "VARIABLE_NAME",
    "BuiltinContext",
    "Call",
    "MissingVariableError",
    "Template",
    "TemplateSyntaxError",
    "Variable",
]

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
"""What a variable name may look like (also used for ``variables`` keys and extraction vars)."""

_REF = re.compile(r"\$\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)\s*(?:\((?P<args>[^()${}]*)\)\s*)?\}")
_INT = re.compile(r"\s*(-?\d+)\s*")


@dataclass(slots=True)
class BuiltinContext:
    """Per-user state the built-in variables read.

    Mutable on purpose: the engine bumps ``iteration`` in place on its hot path instead of
    allocating a new context per iteration.
    """

    rng: random.Random
    user_id: int = 0
    iteration: int = 0


class MissingVariableError(IntperfError):
    """A template referenced a variable that has no value for this virtual user (yet)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"variable '{name}' is not set (no 'variables' entry, feeder record or extraction "
            "has given it a value yet)"
        )


class TemplateSyntaxError(UsageError):
    """A ``${...}`` expression does not parse."""

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        super().__init__(f"{message} in {text!r} at column {position + 1}")


def _uuid(ctx: BuiltinContext) -> str:
    # Drawn from the user's rng so a seeded run is reproducible.
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def _timestamp(ctx: BuiltinContext) -> str:
    return str(time.time_ns() // 1_000_000)


def _user_id(ctx: BuiltinContext) -> str:
    return str(ctx.user_id)


def _iteration(ctx: BuiltinContext) -> str:
    return str(ctx.iteration)


BUILTIN_VARIABLES: Mapping[str, Callable[[BuiltinContext], str]] = {
    "uuid": _uuid,
    "timestamp": _timestamp,
    "userId": _user_id,
    "iteration": _iteration,
}
"""Built-in variables; a user variable of the same name takes precedence."""

BUILTIN_FUNCTIONS: Mapping[str, int] = {"randomInt": 2}
"""Built-in functions and their number of (integer) arguments."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A ``${name}`` reference."""

    name: str
    builtin: Callable[[BuiltinContext], str] | None

    def resolve(self, variables: Mapping[str, str], ctx: BuiltinContext) -> str:
        """The value of the variable for this user."""
        value = variables.get(self.name)
        if value is not None:
            return value
        if self.builtin is None:
            raise MissingVariableError(self.name)
        return self.builtin(ctx)


@dataclass(frozen=True, slots=True)
class Call:
    """A ``${randomInt(a,b)}`` call (inclusive bounds)."""

    low: int
    high: int

    def resolve(self, variables: Mapping[str, str], ctx: BuiltinContext) -> str:
        """A fresh random integer in [low, high]."""
        return str(ctx.rng.randint(self.low, self.high))


Ref = Variable | Call
Part = str | Variable | Call


@dataclass(frozen=True, slots=True)
class Template:
    """Text with ``${...}`` references, parsed once."""

    text: str
    parts: tuple[Part, ...]
    static_text: str | None
    """The rendered text when the template references nothing (escapes already applied)."""
    variables: frozenset[str]
    """Names of the ``${name}`` references (built-in or not; function calls excluded)."""

    @classmethod
    def compile(cls, text: str) -> Template:
        """Parse ``text``; raises :class:`TemplateSyntaxError` for a malformed ``${...}``."""
        parts: list[Part] = []
        literal: list[str] = []
        names: set[str] = set()
        i = 0
        n = len(text)
        while i < n:
            j = text.find("$", i)
            if j < 0:
                literal.append(text[i:])
                break
            literal.append(text[i:j])
            if text.startswith("$${", j):
                literal.append("${")
                i = j + 3
            elif text.startswith("${", j):
                m = _REF.match(text, j)
                if m is None:
                    _raise_syntax(text, j)
                ref = _make_ref(text, j, m)
                if isinstance(ref, Variable):
                    names.add(ref.name)
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(ref)
                i = m.end()
            else:
                literal.append("$")
                i = j + 1
        joined = "".join(literal)
        if joined or not parts:
            parts.append(joined)
        static = parts[0] if len(parts) == 1 and isinstance(parts[0], str) else None
        return cls(text, tuple(parts), static, frozenset(names))

    @property
    def is_static(self) -> bool:
        """True when rendering always gives the same text."""
        return self.static_text is not None

    def render(self, variables: Mapping[str, str], ctx: BuiltinContext) -> str:
        """The text with every reference substituted; raises :class:`MissingVariableError`."""
        if self.static_text is not None:
            return self.static_text
        return "".join([p if isinstance(p, str) else p.resolve(variables, ctx) for p in self.parts])


def _raise_syntax(text: str, start: int) -> NoReturn:
    end = text.find("}", start)
    if end < 0:
        raise TemplateSyntaxError(
            text, start, "unclosed '${' (close it with '}', or write '$${' for a literal '${')"
        )
    raise TemplateSyntaxError(
        text,
        start,
        f"invalid reference {text[start : end + 1]!r}: use ${{name}} or ${{randomInt(1,100)}} "
        "(write '$${' for a literal '${')",
    )


def _make_ref(text: str, start: int, m: re.Match[str]) -> Ref:
    name = m.group("name")
    args = m.group("args")
    if args is None:
        return Variable(name, BUILTIN_VARIABLES.get(name))
    if name not in BUILTIN_FUNCTIONS:
        known = ", ".join(f"{f}(...)" for f in BUILTIN_FUNCTIONS)
        raise TemplateSyntaxError(text, start, f"unknown function '{name}' (known: {known})")
    raw = args.split(",") if args.strip() else []
    values: list[int] = []
    for a in raw:
        im = _INT.fullmatch(a)
        if im is None:
            raise TemplateSyntaxError(
                text, start, f"{name}() takes whole numbers, got {a.strip()!r}"
            )
        values.append(int(im.group(1)))
    if len(values) != BUILTIN_FUNCTIONS[name]:
        raise TemplateSyntaxError(
            text, start, f"{name}() takes 2 arguments like {name}(1,100), got {len(values)}"
        )
    low, high = values
    if low > high:
        raise TemplateSyntaxError(
            text, start, f"{name}({low},{high}): the first bound must not exceed the second"
        )
    return Call(low, high)
