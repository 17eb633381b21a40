"""Route templates from raw paths: identifiers in path segments become ``{id}``.

Used by the middleware when the framework does not expose the matched route, so that
``/api/orders/42`` and ``/api/orders/43`` are measured as one endpoint.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PLACEHOLDER", "normalize_path"]

PLACEHOLDER: Final = "{id}"
#: Longest endpoint the service accepts (a ``Name`` in intperf.stream.events).
MAX_ENDPOINT: Final = 200
#: Segments longer than this are tokens, slugs or encoded data: never a fixed route part.
MAX_SEGMENT: Final = 64

_UUID = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE
)
# Hashes and object ids (MongoDB's 24 hex digits, sha1...): long hex with at least one digit.
_HEX_ID = re.compile(r"(?=[a-f]*[0-9])[0-9a-f]{16,}", re.IGNORECASE)
# Numbers, also signed or decimal (``-1``, ``3.14``).
_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?")


def _is_identifier(segment: str) -> bool:
    return (
        len(segment) > MAX_SEGMENT
        or segment.isdigit()  # also non-ASCII digits, which the regex below does not match
        or _NUMBER.fullmatch(segment) is not None
        or _UUID.fullmatch(segment) is not None
        or _HEX_ID.fullmatch(segment) is not None
    )


def normalize_path(path: str, placeholder: str = PLACEHOLDER) -> str:
    """``path`` with numeric, UUID and long hex segments replaced by ``placeholder``.

    The query string is dropped, and the result is at most 200 characters (whole trailing
    segments are replaced by ``/*`` when it would be longer).
    """
    path = path.split("?", 1)[0]
    segments = [placeholder if _is_identifier(s) else s for s in path.split("/")]
    result = "/".join(segments)
    if len(result) <= MAX_ENDPOINT:
        return result or "/"
    kept: list[str] = []
    size = 0
    for segment in segments:
        if size + len(segment) + 1 > MAX_ENDPOINT - 2:
            break
        kept.append(segment)
        size += len(segment) + 1
    return "/".join(kept) + "/*"
