"""The vectorised reader of CSV JTLs: pyarrow's streaming CSV reader and NumPy per batch.

:func:`import_jtl_fast` gives exactly what the csv-module reader of ``jtl_csv`` gives, or
None when a file needs that reader (``jtl_csv``'s docstring lists when). A UTF-8 scan comes
first: pyarrow reads a valid file itself, any other through :class:`DecodedSource` (the text
the csv module sees). ``jtl_batches`` then converts plain numbers with pyarrow, labels,
codes and success flags once per distinct value, and anything else (and failed rows) with
the csv-module reader's own functions, one value at a time.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from intperf.errors import UsageError
from intperf.loadtest.importers import _common
from intperf.loadtest.importers._common import (
    ImportResult,
    SeriesBuilder,
    gc_paused,
    result_from,
)
from intperf.loadtest.importers.jtl_batches import BatchAccumulator, Unsupported
from intperf.loadtest.importers.jtl_columns import (
    FORMAT,
    REPLACED_WARNING,
    is_blank,
    layout_of,
)

logger = logging.getLogger(__name__)

#: Bytes per record batch (about 10,000 rows of a default JTL). Measured on a 10 M-line
#: file: 1 MiB reads as fast as 4 MiB and halves the reader's memory.
BLOCK_BYTES = 1 << 20
#: The first non-blank row must start within this many bytes (else the csv module reads).
HEAD_BYTES = 1 << 20
#: Batches between returns of pyarrow's freed buffers to the system (measured: -10 MB peak).
RELEASE_EVERY = 64
#: Record batches parsed ahead of the one being added (each ~1 MiB of text).
PREFETCH = 2
#: Chunk of the UTF-8 scan (an ASCII chunk costs one ``bytes.isascii``).
SCAN_BYTES = 1 << 22
_BOM = codecs.BOM_UTF8


def import_jtl_fast(path: Path, scenario: str | None = None) -> ImportResult | None:
    """Read ``path`` like ``jtl_csv.import_jtl_csv_rows`` does, or None when it cannot.

    UsageError (an empty file, a header without timeStamp) is raised as that reader would.
    """
    try:
        with gc_paused():
            return _import(path, scenario)
    except UsageError:
        raise
    except ImportError:  # pragma: no cover - pyarrow is a pinned dependency
        return None
    except (Unsupported, ValueError, ArithmeticError, OSError, csv.Error) as exc:
        # pyarrow's errors are ValueError/OSError subclasses; a value that makes the
        # per-value functions raise leaves the error to the csv-module reader too.
        logger.debug("%s: read with the csv module: %s: %s", path, type(exc).__name__, exc)
        return None


def _import(path: Path, scenario: str | None) -> ImportResult:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pa_csv  # type: ignore[import-untyped]

    with path.open("rb") as f:
        head = f.read(HEAD_BYTES + 1)
    first, line_start, line_end = first_row(path, head, complete=len(head) <= HEAD_BYTES)
    layout = layout_of(path, first)
    if layout.header and line_end is None:
        raise Unsupported("a header spanning lines")
    start = line_end if layout.header and line_end is not None else line_start
    if start == 0 and head.startswith(_BOM):
        raise Unsupported("a byte-order mark before the first data row")
    valid, replaced = scan_utf8(path)
    names = [f"c{i}" for i in range(layout.width)]
    label_like = pa.dictionary(pa.int32(), pa.binary())
    types = {n: pa.binary() for n in names}
    for name in ("label", "responseCode", "success"):
        i = layout.index(name)
        if i is not None:
            types[names[i]] = label_like
    acc = BatchAccumulator(layout, SeriesBuilder(), _common.FLUSH_AT)
    invalid = InvalidRows(layout.width)
    pool = pa.default_memory_pool()
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(path.open("rb"))
        if valid:
            raw.seek(start)
            source: Any = raw
        else:
            source = DecodedSource(raw, start)
        stream = stack.enter_context(pa.PythonFile(WholeCrlf(source), mode="r"))
        try:
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(column_names=names, block_size=BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True,
                                                  invalid_row_handler=invalid),
                convert_options=pa_csv.ConvertOptions(
                    column_types=types, check_utf8=False, strings_can_be_null=False,
                    quoted_strings_can_be_null=False),
            )
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" not in str(exc):  # a header and nothing else (or blank lines)
                raise
            reader = []
        for i, batch in enumerate(prefetched(reader)):
            acc.add(batch)
            if i % RELEASE_EVERY == RELEASE_EVERY - 1:
                pool.release_unused()
        del reader
    pool.release_unused()  # give the reader's buffers back for what follows
    _common.trim_heap()  # and the heap's free pages (~30 MB; NumPy's and the reader's)
    if invalid.unsupported:
        raise Unsupported(invalid.unsupported)
    acc.finish()
    warnings = layout.warnings
    if replaced:
        warnings.append(REPLACED_WARNING)
    return result_from(acc.builder, fmt=FORMAT, scenario=scenario or path.stem,
                       fallback_start=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                       warnings=warnings, rows=acc.rows, skipped=acc.skipped + invalid.skipped)


class _End:
    """The producer's last item: the reader's exception, or None at its end."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def prefetched(batches: Iterable[Any], depth: int = PREFETCH) -> Iterator[Any]:
    """``batches`` read ahead in a thread, at most ``depth`` waiting.

    pyarrow parses a block without the GIL, so the next blocks are parsed on the other core
    while this thread adds the current one: 10 M lines read in ~5.7 s instead of ~8.1 s
    (issue 4's benchmark). The reader's exceptions are raised here, in order; leaving the
    loop early stops the thread.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Queue ``item`` unless the consumer left; whether it was queued."""
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                q.put(item, timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(_End(exc))
        else:
            put(_End(None))

    thread = threading.Thread(target=produce, name="jtl-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def scan_utf8(path: Path) -> tuple[bool, bool]:
    """Whether ``path`` is valid UTF-8, and whether its text decoded with replacement (as
    the csv-module reader decodes it) holds a U+FFFD. ASCII chunks cost a ``isascii()``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        while chunk := f.read(SCAN_BYTES):
            if chunk.isascii() and not decoder.getstate()[0]:
                continue
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                return False, True
            if "\ufffd" in text:
                return _still_valid(f, decoder), True
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False, True
    return True, False


def _still_valid(f: BinaryIO, decoder: codecs.IncrementalDecoder) -> bool:
    """Whether the rest of ``f`` decodes (a literal U+FFFD was seen already)."""
    try:
        while chunk := f.read(SCAN_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def first_row(path: Path, head: bytes, *, complete: bool) -> tuple[list[str], int, int | None]:
    """The first non-blank row in ``head``, where it starts, and where the row after it
    starts (None when it spans lines: a headerless file needs its start only).

    Lines end at CR, LF or CRLF, as for the csv module; a line with a quote is read with the
    csv module. Unsupported when the row is not within ``head`` or is a blank quoted row.
    """
    limit = csv.field_size_limit()
    pos = 0
    while True:
        if pos >= len(head):
            if complete:
                raise UsageError(f"{path}: the file is empty")
            raise Unsupported("no data row in the first MiB")
        cr, lf = head.find(b"\r", pos), head.find(b"\n", pos)
        end = min(cr, lf) if cr >= 0 and lf >= 0 else max(cr, lf)
        if end < 0:
            if not complete:
                raise Unsupported("the first row is longer than a MiB")
            end = nxt = len(head)
        elif head[end] == 0x0D and end + 1 == len(head) and not complete:
            raise Unsupported("a CR at the end of the first MiB")
        else:
            nxt = end + (2 if head[end : end + 2] == b"\r\n" else 1)
        line = head[pos:end]
        if b'"' in line:
            return _quoted_row(head, pos, nxt, complete=complete)
        if len(line) >= limit:
            raise Unsupported("a field over the csv module's size limit")
        fields = line.decode("utf-8", "replace").split(",")
        if not is_blank(fields):
            return fields, pos, nxt
        pos = nxt


def _quoted_row(head: bytes, pos: int, nxt: int, *, complete: bool,
                ) -> tuple[list[str], int, int | None]:
    """The row starting at ``pos`` read by the csv module (csv.Error over its size limit)."""
    lines = iter(io.StringIO(head[pos:].decode("utf-8", "replace"), newline=""))
    reader = csv.reader(lines)
    row = next(reader)
    if next(lines, None) is None and not complete:
        raise Unsupported("the first row reaches the end of the first MiB")
    if is_blank(row):
        raise Unsupported("a blank quoted row before the data")
    return row, pos, nxt if reader.line_num == 1 else None


class DecodedSource:
    """A file from ``start`` as the csv-module reader reads it: decoded as UTF-8 with
    replacement, re-encoded, so pyarrow parses the text that reader parses."""

    __slots__ = ("_decoder", "_eof", "_f", "_left", "closed")

    def __init__(self, f: BinaryIO, start: int) -> None:
        self._f = f
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        f.seek(start)  # the end of a line: no sequence is cut
        self._left = b""
        self._eof = False
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the decoded text (all of it when ``n`` < 0); b"" at the end."""
        while (n < 0 or not self._left) and not self._eof:
            raw = self._f.read(n if n > 0 else BLOCK_BYTES)
            self._eof = not raw
            self._left += self._decoder.decode(raw, final=self._eof).encode()
        if n < 0:
            n = len(self._left)
        out, self._left = self._left[:n], self._left[n:]
        return out

    def readable(self) -> bool:
        """Always: a read-only stream."""
        return True

    def close(self) -> None:
        """Mark closed (the file itself is closed by its owner)."""
        self.closed = True


class WholeCrlf:
    """Reads of ``source`` that never end between a CR and the byte after it.

    pyarrow 26's CSV reader drops the LF of a quoted CRLF split between two blocks (the
    value ``"a\r\nb"`` comes back as ``a\rb``; ``test_pyarrow_drops_lf_of_quoted_crlf_split
    _between_blocks`` shows it). A read ending in CR keeps that CR for the next read, so each
    block holds its CRLFs whole. Blocks are read through Python (~1,000 calls for 1 GB).
    """

    __slots__ = ("_held", "_source", "closed")

    def __init__(self, source: Any) -> None:
        self._source = source
        self._held = b""
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all when ``n`` < 0), never ending in CR before the end."""
        if n < 0:
            data: bytes = self._held + self._source.read()
            self._held = b""
            return data
        data = self._held + self._source.read(max(n - len(self._held), 1))
        self._held = b""
        if len(data) > 1 and data.endswith(b"\r"):
            data, self._held = data[:-1], b"\r"
        return data

    def readable(self) -> bool:
        """Always: a read-only stream."""
        return True

    def close(self) -> None:
        """Mark closed (the file itself is closed by its owner)."""
        self.closed = True


class InvalidRows:
    """pyarrow's handler of rows whose field count differs from the header's.

    Counts them as skipped, except a blank line (the csv-module reader passes over those).
    """

    __slots__ = ("skipped", "unsupported", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.skipped = 0
        self.unsupported = ""

    def __call__(self, row: Any) -> str:
        try:
            rows = list(csv.reader(io.StringIO(row.text, newline="")))
        except csv.Error as exc:
            self.unsupported = f"the csv module refuses a row: {exc}"
            return "error"
        if len(rows) != 1:
            self.unsupported = "a damaged row the two readers may split differently"
            return "error"
        fields = rows[0]
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            return "skip"
        self.skipped += 1
        return "skip"


__all__ = [
    "BLOCK_BYTES",
    "HEAD_BYTES",
    "DecodedSource",
    "InvalidRows",
    "WholeCrlf",
    "first_row",
    "import_jtl_fast",
    "prefetched",
    "scan_utf8",
]
