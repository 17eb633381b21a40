"""Columns of a CSV JTL: JMeter's default order, header detection, timestamps.

Shared by both JTL CSV readers (``jtl_csv``: the csv module; ``jtl_fast``: pyarrow), so
they agree on the layout of a file and on its errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from intperf.errors import UsageError

FORMAT = "jtl-csv"
REPLACED_WARNING = "the file is not valid UTF-8: undecodable bytes were replaced by U+FFFD"

#: JMeter's default CSV columns, in the order it writes them.
DEFAULT_COLUMNS: tuple[str, ...] = (
    "timeStamp", "elapsed", "label", "responseCode", "responseMessage", "threadName",
    "dataType", "success", "failureMessage", "bytes", "sentBytes", "grpThreads",
    "allThreads", "URL", "Latency", "IdleTime", "Connect",
)
_KNOWN = {c.lower(): c for c in DEFAULT_COLUMNS}
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S",
                 "%Y-%m-%d %H:%M:%S")
NO_HEADER_WARNING = ("no header line: columns read in JMeter's default order "
                     "(timeStamp,elapsed,label,responseCode,...)")


def is_header(row: Sequence[str]) -> bool:
    """A first row is a header when it names timeStamp or elapsed (any case)."""
    names = {c.strip().lower() for c in row}
    return "timestamp" in names or "elapsed" in names


def is_blank(row: Sequence[str]) -> bool:
    """A row with no field holding more than whitespace (or no field at all)."""
    return not any(c.strip() for c in row)


@dataclass(frozen=True, slots=True)
class JtlLayout:
    """The columns of a CSV JTL, from its header or from its first row when it has none."""

    columns: tuple[str, ...]
    header: bool
    """Whether the first row names the columns (else it is the first data row)."""

    @property
    def width(self) -> int:
        """Fields every row must have."""
        return len(self.columns)

    def index(self, name: str) -> int | None:
        """Position of column ``name`` (its last one when repeated), None when absent."""
        for i in range(len(self.columns) - 1, -1, -1):
            if self.columns[i] == name:
                return i
        return None

    @property
    def warnings(self) -> list[str]:
        """What the import should say about the layout."""
        return [] if self.header else [NO_HEADER_WARNING]


def layout_of(path: Path, first: Sequence[str]) -> JtlLayout:
    """The layout a file whose first non-blank row is ``first`` has (UsageError if none)."""
    if is_header(first):
        columns = tuple(_KNOWN.get(c.strip().lower(), c.strip()) for c in first)
        missing = [c for c in ("timeStamp", "elapsed") if c not in columns]
        if missing:
            raise UsageError(f"{path}: the JTL header lacks the column(s) {', '.join(missing)}")
        return JtlLayout(columns, header=True)
    if len(first) < 2:
        raise UsageError(f"{path}: not a JTL: a headerless row needs timeStamp and elapsed")
    columns = DEFAULT_COLUMNS[: len(first)]
    columns += tuple(f"column{i + 1}" for i in range(len(columns), len(first)))
    return JtlLayout(columns, header=False)


def parse_timestamp_ms(text: str) -> float:
    """A JTL ``timeStamp``: epoch milliseconds, or a date-time (UTC assumed when naive)."""
    text = text.strip()
    try:
        return float(int(text))
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            ts = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return ts.timestamp() * 1000.0
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp: {text!r}") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp() * 1000.0
