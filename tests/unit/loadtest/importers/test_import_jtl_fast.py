"""The vectorised JTL CSV reader against the csv-module reader: equal on awkward files."""

from __future__ import annotations

import csv
import gc
import io
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from intperf.errors import UsageError
from intperf.loadtest.importers import _common, import_file, jtl_fast
from intperf.loadtest.importers._common import ImportResult
from intperf.loadtest.importers.jtl_columns import DEFAULT_COLUMNS
from intperf.loadtest.importers.jtl_csv import import_jtl_csv_rows
from intperf.loadtest.importers.jtl_fast import import_jtl_fast

FIXTURES = Path(__file__).parents[3] / "fixtures" / "imports"
BASE_MS = 1_700_000_000_000

# -- awkward fields, as bytes (the file is written byte for byte) ---------------------------
AWKWARD_TEXT = st.sampled_from([
    b"", b" ", b"a,b", b'say "hi"', b'"', b"line\nbreak", b"cr\r\nlf", b"lone\rcr", b"\xff\xfe",
    b"caf\xe9", b"\xef\xbf\xbd", b"\xe2\x82", "Zürich ✓".encode(), b"\x00nul", b"  padded  ",
    b"Non HTTP response message: Connection refused", b"Read timed out", b"x" * 300,
    b"SSLHandshakeException", b"Connection reset by peer",
])
TEXT = st.one_of(AWKWARD_TEXT, st.binary(max_size=8),
                 st.text(max_size=6).map(lambda s: s.encode("utf-8", "surrogatepass")))
HUGE = b"99999999999999999999"
# (to_int("inf") raises OverflowError in the csv-module reader: "inf" only as an elapsed)
NUMBER_ODDITIES = [b"", b" 12", b"12 ", b"1e2", b"nan", b"-0", b"+5", b"0x1F", b"007", b"12.5",
                   b"-3", b"abc", "\u0663".encode(), b"1_0", HUGE, b"0.000001", b"1e-310"]


def number(low: int, high: int, *more: bytes) -> st.SearchStrategy[bytes]:
    usual = st.integers(low, high).map(lambda v: str(v).encode())
    return st.one_of(usual, usual, usual, st.sampled_from([*NUMBER_ODDITIES, *more]))


TIMESTAMP = st.one_of(
    st.integers(0, 9_999).map(lambda d: str(BASE_MS + d).encode()),
    st.integers(0, 9_999).map(lambda d: str(BASE_MS + d).encode()),
    st.sampled_from([b"2023/11/14 22:13:20.500", b"2023-11-14 22:13:21", b"2023-11-14T22:13:22Z",
                     b"yesterday", b"", b" 1700000000123", b"1700000000123.0",
                     b"9007199254740993000", b"-1000"]),
)
FIELDS = {
    "timeStamp": TIMESTAMP,
    "elapsed": number(0, 70_000, b"inf", b"-inf", b"1.5e308"),
    "label": st.one_of(st.sampled_from([b"Home", b"Login", b"Search, q"]), TEXT),
    "responseCode": st.sampled_from([b"200", b"204", b"302", b"404", b"500", b"503", b"", b" 500",
                                     b"Non HTTP response code: java.net.ConnectException",
                                     b"Non HTTP response code: javax.net.ssl.SSLException",
                                     b"abc"]),
    "responseMessage": TEXT,
    "success": st.sampled_from([b"true", b"true", b"false", b"TRUE", b" false", b"", b"yes"]),
    "failureMessage": st.one_of(st.just(b""), TEXT),
    "bytes": number(0, 100_000),
    "sentBytes": number(0, 10_000),
    "allThreads": number(0, 500),
}


def field_bytes(value: bytes, quote_all: bool) -> bytes:
    if quote_all or any(c in value for c in b',"\r\n'):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


@st.composite
def jtl_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A JTL CSV file and whether the vectorised reader must take it."""
    header = draw(st.booleans())
    if header:
        extra = draw(st.lists(st.sampled_from(DEFAULT_COLUMNS[2:]), unique=True, max_size=8))
        columns = draw(st.permutations(["timeStamp", "elapsed", *extra]))
    else:
        columns = list(DEFAULT_COLUMNS[: draw(st.integers(2, len(DEFAULT_COLUMNS)))])
    newline = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    quote_all = draw(st.integers(0, 4)) == 0
    lines: list[bytes] = [b"\n"] * draw(st.integers(0, 2))  # blank lines before it all
    plain = header  # the vectorised reader must take a file with a plain header line
    if header:
        lines.append(b",".join(c.encode() for c in columns) + newline)
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["row"] * 12 + ["blank", "spaces", "short", "long"]))
        if kind == "blank":
            lines.append(newline)
        elif kind == "spaces":
            lines.append(b"   " + newline)
        else:
            values = [draw(FIELDS.get(c, TEXT)) for c in columns]
            plain &= HUGE not in values  # a 20-digit count or time: left to the csv module
            row = [field_bytes(v, quote_all) for v in values]
            if kind == "short":
                row = row[:-1]
            elif kind == "long":
                row.append(b"extra")
            lines.append(b",".join(row) + newline)
    data = b"".join(lines)
    if draw(st.booleans()):  # a truncated last line (maybe inside a quoted field)
        data = data[: len(data) - draw(st.integers(1, 20))]
    return data, plain


def outcome(read: object, path: Path) -> tuple[str, str] | ImportResult:
    try:
        return read(path)  # type: ignore[operator, no-any-return]
    except (UsageError, ValueError, ArithmeticError) as exc:
        return (type(exc).__name__, str(exc))


def same(fast: ImportResult, slow: ImportResult) -> None:
    # JSON keeps the order of windows, error classes and messages, and the sign of zeros.
    assert json.dumps(fast.series.to_dict()) == json.dumps(slow.series.to_dict())
    assert list(fast.series.seconds) == list(slow.series.seconds)
    assert (fast.rows, fast.skipped, fast.warnings) == (slow.rows, slow.skipped, slow.warnings)
    assert (fast.started_at, fast.scenario, fast.source_format) == (
        slow.started_at, slow.scenario, slow.source_format)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jtl_files(), st.sampled_from([_common.FLUSH_AT, 1, 3, 7]),
       st.sampled_from([jtl_fast.BLOCK_BYTES, 512, 2048]))
def test_fast_reader_equals_csv_module_reader(
    case: tuple[bytes, bool], flush_at: int, block: int,
) -> None:
    data, must_be_fast = case
    saved = _common.FLUSH_AT, jtl_fast.BLOCK_BYTES
    # Small flush segments and record batches: values and windows cross their boundaries.
    _common.FLUSH_AT, jtl_fast.BLOCK_BYTES = flush_at, block
    try:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "r.jtl"
            path.write_bytes(data)
            slow = outcome(import_jtl_csv_rows, path)
            fast = outcome(import_jtl_fast, path)
    finally:
        _common.FLUSH_AT, jtl_fast.BLOCK_BYTES = saved
    if isinstance(slow, tuple):  # an error: the fast reader raises it too or leaves it
        event(f"csv-module reader raises {slow[0]}")
        assert fast is None or fast == slow
        return
    event("vectorised" if fast is not None else "csv module")
    if must_be_fast and block == jtl_fast.BLOCK_BYTES:  # (a row over a block is refused)
        assert fast is not None, "a file with a plain header must not need the csv module"
    if fast is not None:
        assert isinstance(fast, ImportResult)
        same(fast, slow)


# -- what the vectorised reader relies on -----------------------------------------------------
def _third_column(stream: object, block: int) -> list[bytes]:
    import pyarrow.csv as pa_csv

    names = ["a", "b", "c"]
    reader = pa_csv.open_csv(
        stream, read_options=pa_csv.ReadOptions(column_names=names, block_size=block),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(column_types={n: pa.binary() for n in names}))
    return [v for batch in reader for v in batch.column(2).to_pylist()]


def test_pyarrow_drops_lf_of_quoted_crlf_split_between_blocks() -> None:
    # Why jtl_fast.WholeCrlf exists: when this starts failing, pyarrow fixed it.
    data = b"1,2," + b"x" * 499 + b'\n3,4,"cr\r\nlf"\n'
    assert _third_column(pa.BufferReader(data), 512)[1] == b"cr\rlf"


@pytest.mark.parametrize("pad", range(490, 520))
def test_quoted_crlf_survives_every_block_boundary(pad: int) -> None:
    data = b"1,2," + b"x" * pad + b'\n3,4,"cr\r\nlf"\n5,6,"\r"\r\n'
    source = jtl_fast.WholeCrlf(io.BytesIO(data))
    values = _third_column(pa.PythonFile(source, mode="r"), 512)
    assert values == [b"x" * pad, b"cr\r\nlf", b"\r"]


@pytest.mark.parametrize("label", [b"x", b"\x80"], ids=["utf8", "not-utf8"])
def test_label_with_crlf_split_between_blocks(tmp_path: Path, label: bytes) -> None:
    # Found by test_fast_reader_equals_csv_module_reader (a decoded block ended in the CR).
    row = b"1700000000000,12,%s,200,,\r\n"
    head, rest = row % label, row % label * 17 + row % b'"cr\r\nlf"'
    path = tmp_path / "r.jtl"
    saved = jtl_fast.BLOCK_BYTES
    jtl_fast.BLOCK_BYTES = 512
    try:
        for blank_lines in range(60):  # the CR lands on every offset around a block's end
            path.write_bytes(head + b"\n" * blank_lines + rest)
            fast = import_jtl_fast(path)
            assert fast is not None
            assert "cr\r\nlf" in fast.series.request_names, blank_lines
            same(fast, import_jtl_csv_rows(path))
    finally:
        jtl_fast.BLOCK_BYTES = saved


def test_pyarrow_integer_cast_reads_signed_decimals_and_0x_hex_only() -> None:
    """jtl_batches._decimal trusts this grammar: a field starting with a digit not followed by
    x/X that the cast reads is plain ASCII digits."""
    accepted = {"0": 0, "007": 7, "-5": -5, "-0": 0, "0x1F": 31, "0X10": 16,
                "9223372036854775807": 2**63 - 1}
    for text, value in accepted.items():
        assert pc.cast(pa.array([text]), pa.int64())[0].as_py() == value
    for text in ["", "+5", " 1", "1 ", "1_0", "1e3", "12.0", "\u0663", "0x", "0b1", "-0x1",
                 "9223372036854775808", "\uff11"]:
        with pytest.raises(pa.ArrowInvalid):
            pc.cast(pa.array([text]), pa.int64())


@pytest.mark.parametrize("name", ["jtl_default.csv", "jtl_latin1.csv", "jtl_noheader.csv",
                                  "jtl_subset.csv"])
def test_fixtures_take_the_vectorised_reader(name: str) -> None:
    fast = import_jtl_fast(FIXTURES / name)
    assert fast is not None
    same(fast, import_jtl_csv_rows(FIXTURES / name))


def test_awkward_file_takes_the_vectorised_reader(tmp_path: Path) -> None:
    p = tmp_path / "awkward.jtl"
    p.write_bytes(
        b"\r\n   \ntimeStamp,elapsed,label,responseCode,success,failureMessage,bytes\r\n"
        b'1700000000000,10,"a, \xff\r\nb",200,true,,12\r\n'
        b"1700000000100,x,a,200,true,,1\n"                 # unreadable elapsed: skipped
        b"2023/11/14 22:13:21,20.5,a,500,false,\"boom, \"\"x\"\"\",0x10\n"
        b"\n  \n"
        b"1700000002000,-0,a,Non HTTP response code: java.net.SocketTimeoutException,false,"
        b"Read timed out,\n"
        b"1700000002000,30,a,200,true\n"                    # short: skipped
        b'1700000003000,40,"unterminated,200,true,,1'       # truncated in a quoted field
    )
    fast, slow = import_jtl_fast(p), import_jtl_csv_rows(p)
    assert fast is not None
    same(fast, slow)
    assert (fast.rows, fast.skipped) == (3, 3)


@pytest.mark.parametrize("data", [
    b'timeStamp,elapsed,"la\nbel"\n1700000000000,1,a\n',    # a header spanning lines
    b"\xef\xbb\xbf1700000000000,1\n",                       # BOM before a headerless row
    b'timeStamp,elapsed,label\n1700000000000,1,"' + b"x" * 200_000 + b'"\n',  # over the limit
])
def test_files_left_to_the_csv_module(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "r.jtl"
    p.write_bytes(data)
    assert import_jtl_fast(p) is None
    import_file(p, "jtl-csv")  # and the csv-module reader reads them


def test_usage_errors_are_the_csv_module_readers(tmp_path: Path) -> None:
    p = tmp_path / "r.jtl"
    for data, match in [(b" , ,\n\n", "is empty"), (b"elapsed,label\n1,a\n", "timeStamp"),
                        (b"1700000000000\n", "headerless")]:
        p.write_bytes(data)
        for read in (import_jtl_fast, import_jtl_csv_rows):
            with pytest.raises(UsageError, match=match):
                read(p)


def test_gc_state_is_restored(tmp_path: Path) -> None:
    assert gc.isenabled()
    import_jtl_fast(FIXTURES / "jtl_default.csv")
    assert gc.isenabled()
    gc.disable()
    try:
        import_jtl_fast(FIXTURES / "jtl_default.csv")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_field_size_limit_is_read_at_import_time(tmp_path: Path) -> None:
    p = tmp_path / "r.jtl"
    p.write_bytes(b"timeStamp,elapsed,label\n1700000000000,1," + b"y" * 50 + b"\n")
    old = csv.field_size_limit(40)
    try:
        assert import_jtl_fast(p) is None
        assert import_jtl_csv_rows(p).skipped == 1
    finally:
        csv.field_size_limit(old)


def test_trim_heap_returns_free_pages_or_does_nothing() -> None:
    """glibc's malloc_trim where there is one (this CI's Linux), a no-op elsewhere."""
    import platform

    from intperf.loadtest.importers._common import _malloc_trim, trim_heap

    trim_heap()
    trim_heap()  # looked up once, callable again
    assert _malloc_trim.cache_info().currsize == 1
    if platform.libc_ver()[0] == "glibc":
        assert _malloc_trim() is not None
