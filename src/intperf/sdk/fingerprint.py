"""A cheap SQL fingerprint: statements that differ only in literals, placeholders, comments,
case or whitespace get the same normalised text and the same 16-hex-digit id.

A tokenizer with regular expressions, not a parser: enough to group statements, cheap enough
to run on every query (pg_stat_statements' queryid needs the server's parse tree).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["fingerprint", "normalize_sql"]

_TOKEN: Final = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>(?:[EeBbXxNnUu]&?)?'(?:[^']|'')*')
    | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?\$(?P=tag)\$)
    | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`|\[[^\]\s]*\])
    | (?P<param>%\([^)]*\)s|%s|\?|\$[0-9]+|(?<![:\w]):[A-Za-z_][A-Za-z_0-9]*)
    | (?P<number>(?<![\w.])(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?![\w.]))
    | (?P<word>[^\W\d][\w$]*)
    | (?P<space>\s+)
    | (?P<other>::|<=|>=|<>|!=|\|\||.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Lists of placeholders collapse to one: ``IN (?, ?, ?)`` -> ``IN (?)``, ``VALUES (?, ?), (?, ?)``
# -> ``VALUES (?)``, so batch sizes do not split one statement into many fingerprints.
_LIST: Final = re.compile(r"\(\?(?:, \?)+\)")
_ROWS: Final = re.compile(r"\(\?\)(?:, \(\?\))+")
_NO_SPACE_AFTER: Final = frozenset({"(", ".", "::"})
_NO_SPACE_BEFORE: Final = frozenset({",", ")", ".", "::", ";"})


def normalize_sql(statement: str) -> str:
    """``statement`` with literals and placeholders as ``?``, comments dropped, keywords and
    unquoted identifiers in lower case and whitespace made canonical."""
    tokens: list[str] = []
    for m in _TOKEN.finditer(statement):
        group = m.lastgroup
        if group in ("comment", "space"):
            continue
        if group in ("string", "dollar", "param", "number"):
            tokens.append("?")
        elif group == "word":
            tokens.append(m.group().lower())
        else:
            tokens.append(m.group())
    while tokens and tokens[-1] == ";":
        tokens.pop()
    out: list[str] = []
    previous = ""
    for token in tokens:
        if out and previous not in _NO_SPACE_AFTER and token not in _NO_SPACE_BEFORE:
            out.append(" ")
        out.append(token)
        previous = token
    text = "".join(out)
    return _ROWS.sub("(?)", _LIST.sub("(?)", text))


def fingerprint(statement: str) -> str:
    """The first 16 hex digits of the SHA-1 of :func:`normalize_sql` (an id, not security)."""
    normalized = normalize_sql(statement).encode("utf-8", "surrogatepass")
    return hashlib.sha1(normalized, usedforsecurity=False).hexdigest()[:16]
