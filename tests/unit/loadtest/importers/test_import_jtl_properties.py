"""Property tests: whatever columns, order and quoting, the JTL CSV parser counts exactly."""

from __future__ import annotations

import csv
import io
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intperf.loadtest.importers import import_file

BASE_MS = 1_700_000_000_000
OPTIONAL = ["label", "responseCode", "responseMessage", "success", "failureMessage", "bytes",
            "sentBytes", "threadName", "URL", "Latency"]
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
TRICKY = st.one_of(TEXT, st.sampled_from(['a,b', '"q"', "line\nbreak", "cr\r\nlf", " ", ""]))


@st.composite
def jtl(draw: st.DrawFn) -> tuple[list[str], list[dict[str, object]], int]:
    extra = draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    columns = draw(st.permutations(["timeStamp", "elapsed", *extra]))
    rows = draw(st.lists(st.fixed_dictionaries({
        "timeStamp": st.integers(0, 4_999).map(lambda d: BASE_MS + d),
        "elapsed": st.integers(0, 60_000),
        "label": TRICKY,
        "responseCode": st.sampled_from([200, 204, 302, 404, 500, 503]),
        "responseMessage": TRICKY,
        "success": st.booleans(),
        "failureMessage": TRICKY,
        "bytes": st.integers(0, 10_000),
        "sentBytes": st.integers(0, 10_000),
        "threadName": TRICKY,
        "URL": TRICKY,
        "Latency": st.integers(0, 100),
    }), min_size=1, max_size=40))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    return list(columns), rows, quoting


def _expected_ok(row: dict[str, object], columns: list[str]) -> bool:
    if "success" in columns:
        return bool(row["success"])
    if "responseCode" in columns:
        return int(str(row["responseCode"])) < 400
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jtl())
def test_parsed_counts_equal_generated(
    case: tuple[list[str], list[dict[str, object]], int],
) -> None:
    columns, rows, quoting = case
    buf = io.StringIO()
    w = csv.writer(buf, quoting=quoting)
    w.writerow(columns)
    for r in rows:
        w.writerow([str(r[c]).lower() if c == "success" else r[c] for c in columns])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.jtl"
        path.write_text(buf.getvalue(), encoding="utf-8", newline="")
        result = import_file(path)
    assert (result.rows, result.skipped) == (len(rows), 0)
    first_s = min(int(r["timeStamp"]) // 1000 for r in rows)  # type: ignore[call-overload]

    def label(r: dict[str, object]) -> str:
        return (str(r["label"]) or "(unnamed)") if "label" in columns else "(unnamed)"

    want: Counter[tuple[int, str, bool]] = Counter(
        (int(r["timeStamp"]) // 1000 - first_s, label(r), _expected_ok(r, columns))  # type: ignore[call-overload]
        for r in rows
    )
    got: Counter[tuple[int, str, bool]] = Counter()
    for s, sw in result.series.seconds.items():
        for n, rw in sw.requests.items():
            if rw.ok:
                got[(s, n, True)] += rw.ok
            if rw.failed:
                got[(s, n, False)] += rw.failed
            assert rw.latency.count == rw.requests
    assert got == want
    total = result.series.aggregate()
    assert total.latency.max == max(int(r["elapsed"]) for r in rows)  # type: ignore[call-overload]
    if "bytes" in columns:
        assert total.bytes_in == sum(int(r["bytes"]) for r in rows)  # type: ignore[call-overload]
