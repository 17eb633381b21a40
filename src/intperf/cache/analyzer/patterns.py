"""Group key names into patterns: variable segments (numbers, UUIDs, long hex) become ``*``."""

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


def key_pattern(key: str) -> str:
    """The pattern of ``key``: segments split on ``:``, ``/`` and ``.``; variable ones → ``*``."""
    parts = _SPLIT.split(key)
    return "".join("*" if i % 2 == 0 and _variable(p) else p for i, p in enumerate(parts))


def matches(key: str, pattern: str) -> bool:
    """True when ``key`` has ``pattern``'s shape (a ``*`` segment matches one segment)."""
    kp, pp = _SPLIT.split(key), _SPLIT.split(pattern)
    if len(kp) != len(pp):
        return False
    return all(b == "*" or a == b for a, b in zip(kp, pp, strict=True))
