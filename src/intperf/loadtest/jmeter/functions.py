"""Rewrite JMeter ``${...}`` references and ``${__function(...)}`` calls into intperf templates."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from intperf.loadtest.templating import BUILTIN_VARIABLES

_DIRECT = {"__UUID": "${uuid}", "__time": "${timestamp}", "__threadNum": "${userId}"}
JEXL_FUNCTIONS = ("__jexl3", "__jexl2", "__jexl")
"""JMeter's JEXL functions; an IfController condition made of one call is translated
(see jmeter/conditions.py), anywhere else they are sent literally."""


def whole_call(text: str) -> tuple[str, list[str]] | None:
    """``(name, args)`` when ``text`` is exactly one ``${__function(...)}`` call, else None."""
    text = text.strip()
    if not text.startswith("${") or closing(text, 2) != len(text) - 1:
        return None
    name, args = _split_call(text[2:-1])
    if args is None or not name.startswith("__"):
        return None
    return name, args


def closing(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose body starts at ``start`` (-1: unclosed)."""
    return _closing(text, start)


@dataclass(slots=True)
class Rewriter:
    """Rewrites text; ``known`` are variable names the scenario defines.

    ``properties`` are the ``-J`` values that ``__P``/``__property`` read at translation time.
    Unknown variables stay literal (JMeter sends ``${name}`` as is when nothing defines it).
    """

    properties: Mapping[str, str]
    known: Collection[str]
    warnings: list[str] = field(default_factory=list)

    def __call__(self, text: str, where: str) -> str:
        """``text`` with every reference translated; notes approximations in ``warnings``."""
        return _rewrite(text, lambda body: self._ref(body, where))

    def resolve(self, text: str) -> str:
        """Translation-time value: properties substituted, everything else left as is."""
        return _rewrite(text, self._static)

    def _static(self, body: str) -> str | None:
        name, args = _split_call(body)
        if name in ("__P", "__property"):
            return self._property(name, args or [])
        return None

    def _property(self, name: str, args: list[str]) -> str:
        key = self.resolve(args[0]).strip() if args else ""
        default_at = 1 if name == "__P" else 2
        default = self.resolve(args[default_at]) if len(args) > default_at else ""
        return self.properties.get(key, default)

    def _ref(self, body: str, where: str) -> str:
        name, call = _split_call(body)
        args = call or []
        if name in ("__P", "__property"):
            return self._property(name, args).replace("${", "$${")
        if name in _DIRECT:
            if name == "__time" and args and args[0].strip():
                self.warnings.append(f"{where}: ${{__time({args[0]})}}: formats are not "
                                     "supported; sending milliseconds since the epoch")
            return _DIRECT[name]
        if name == "__Random" and len(args) >= 2:
            if len(args) > 2 and args[2].strip():
                self.warnings.append(f"{where}: ${{__Random}} cannot store into "
                                     f"{args[2].strip()!r}; the value is only inlined")
            return f"${{randomInt({self.resolve(args[0]).strip()},"\
                   f"{self.resolve(args[1]).strip()})}}"
        if name == "__counter":
            self.warnings.append(f"{where}: ${{__counter}} becomes ${{iteration}}, the "
                                 "virtual user's iteration number (not a global counter)")
            return "${iteration}"
        if call is None and (name in self.known or name in BUILTIN_VARIABLES):
            return "${" + name + "}"
        if name.startswith("__"):
            self.warnings.append(f"{where}: function ${{{body}}} is not supported; sent "
                                 "literally")
        return "$${" + body + "}"


def _rewrite(text: str, ref: Callable[[str], str | None]) -> str:
    out: list[str] = []
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0:
            out.append(text[i:])
            break
        end = _closing(text, j + 2)
        if end < 0:
            out.append(text[i:].replace("${", "$${"))
            break
        out.append(text[i:j])
        body = text[j + 2 : end]
        replaced = ref(body)
        out.append(text[j : end + 1] if replaced is None else replaced)
        i = end + 1
    return "".join(out)


def _closing(text: str, start: int) -> int:
    depth = 1
    k = start
    while k < len(text):
        c = text[k]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    return -1


def _split_call(body: str) -> tuple[str, list[str] | None]:
    """``__P(a,b)`` → ``("__P", ["a", "b"])``; ``name`` → ``("name", None)``.

    Commas inside nested ``${...}`` or escaped with a backslash do not split arguments.
    """
    body = body.strip()
    open_at = body.find("(")
    if open_at < 0 or not body.endswith(")"):
        return body, None
    name, inner = body[:open_at].strip(), body[open_at + 1 : -1]
    args: list[str] = []
    current: list[str] = []
    depth = 0
    k = 0
    while k < len(inner):
        c = inner[k]
        if c == "\\" and k + 1 < len(inner):
            current.append(inner[k + 1])
            k += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            args.append("".join(current))
            current = []
        else:
            current.append(c)
        k += 1
    args.append("".join(current))
    if args == [""]:
        args = []
    return name, args
