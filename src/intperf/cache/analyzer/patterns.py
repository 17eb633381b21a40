"""Group key names into patterns: variable segments (numbers, UUIDs, long hex) become ``*``,
also inside the braces of a Redis Cluster hash tag (``cache:{user:42}`` → ``cache:{user:*}``)."""

from __future__ import annotations

import re

__all__ = ["key_pattern", "matches"]

_SPLIT = re.compile(r"([:/.])")
_NUMBER = re.compile(r"^-?\d+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^(?=.*\d)[0-9a-fA-F]{8,}$")


def _variable(segment: str) -> bool:
    return bool(_NUMBER.match(segment) or _UUID.match(segment) or _HEX.match(segment))


def _braces(segment: str) -> tuple[str, str, str]:
    """(leading ``{``s, the rest, trailing ``}``s) of a segment."""
    core = segment.lstrip("{")
    lead = segment[:len(segment) - len(core)]
    inner = core.rstrip("}")
    return lead, inner, core[len(inner):]


def _segment_pattern(segment: str) -> str:
    lead, inner, trail = _braces(segment)
    return lead + "*" + trail if _variable(inner) else segment


def key_pattern(key: str) -> str:
    """The pattern of ``key``: segments split on ``:``, ``/`` and ``.``; variable ones → ``*``
    (keeping hash-tag braces around them)."""
    parts = _SPLIT.split(key)
    return "".join(_segment_pattern(p) if i % 2 == 0 else p for i, p in enumerate(parts))


def _segment_matches(segment: str, pattern: str) -> bool:
    if segment == pattern or pattern == "*":
        return True
    lead, inner, trail = _braces(pattern)
    if inner != "*" or not (lead or trail):
        return False
    s_lead, s_inner, s_trail = _braces(segment)
    return (s_lead, s_trail) == (lead, trail) and bool(s_inner)


def matches(key: str, pattern: str) -> bool:
    """True when ``key`` has ``pattern``'s shape (a ``*`` segment matches one segment, a
    ``{*}`` one any segment in the same braces)."""
    kp, pp = _SPLIT.split(key), _SPLIT.split(pattern)
    if len(kp) != len(pp):
        return False
    return all(_segment_matches(a, b) for a, b in zip(kp, pp, strict=True))
