"""JMeter CSV JTL import: columns, quoting, error classes, awkward files."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.errors import UsageError
from intperf.loadtest.importers import detect, import_file
from intperf.loadtest.importers.jtl_csv import parse_timestamp_ms

FIXTURES = Path(__file__).parents[3] / "fixtures" / "imports"


def _counts(path: Path) -> dict[int, dict[str, tuple[int, dict[str, int]]]]:
    r = import_file(path)
    return {
        s: {n: (w.ok, w.errors) for n, w in sw.requests.items()}
        for s, sw in sorted(r.series.seconds.items())
    }


def test_default_columns_with_awkward_rows() -> None:
    path = FIXTURES / "jtl_default.csv"
    assert detect(path) == "jtl-csv"
    r = import_file(path)
    assert (r.rows, r.skipped, r.source_format) == (8, 1, "jtl-csv")
    assert r.started_at.timestamp() == 1_700_000_000
    assert any("skipped" in w for w in r.warnings)
    assert _counts(path) == {
        0: {"Home": (1, {"connection_refused": 1}), "Login, with comma": (1, {})},
        1: {"Home": (0, {"http_5xx": 1}), "Search\nmulti-line": (0, {"http_4xx": 1})},
        2: {"Home": (0, {"check_failed": 1, "connect_timeout": 1, "reset": 1})},
    }
    s = r.series.seconds
    assert [s[i].active_users for i in range(3)] == [2, 2, 3]
    search = s[1].requests["Search\nmulti-line"]
    assert search.messages == {'Assertion "x" failed,\nline2': 1}
    assert (search.bytes_in, search.bytes_out) == (100, 50)
    home0 = s[0].requests["Home"]
    assert (home0.bytes_in, home0.bytes_out) == (1000, 200)
    assert home0.messages == {"Non HTTP response message: Connection refused": 1}
    total = r.series.aggregate()
    assert total.requests == 8
    # elapsed values: 100 200 300 400 50 500 600 700 -> nearest-rank p50 = 300, p75 = 500
    assert total.latency.quantile(0.5) == pytest.approx(300, rel=0.01)
    assert total.latency.quantile(0.75) == pytest.approx(500, rel=0.01)
    assert total.latency.max == 700
    assert total.service.count == 8


def test_headerless_file_uses_jmeter_default_order() -> None:
    r = import_file(FIXTURES / "jtl_noheader.csv")
    assert (r.rows, r.skipped) == (3, 0)
    assert any("default order" in w for w in r.warnings)
    assert _counts(FIXTURES / "jtl_noheader.csv") == {
        0: {"Home": (1, {}), "Login, with comma": (1, {})},
        1: {"Home": (0, {"http_5xx": 1})},
    }


def test_column_subset_in_another_order() -> None:
    r = import_file(FIXTURES / "jtl_subset.csv", scenario="mine")
    assert r.scenario == "mine"
    assert _counts(FIXTURES / "jtl_subset.csv") == {
        0: {"A": (1, {"other": 1})}, 1: {"B": (1, {})}, 3: {"B": (1, {})},
    }
    assert r.series.aggregate(["B"]).latency.quantile(1.0) == 40


def test_non_utf8_bytes_are_replaced_with_a_warning() -> None:
    r = import_file(FIXTURES / "jtl_latin1.csv")
    assert any("not valid UTF-8" in w for w in r.warnings)
    w = r.series.seconds[0].requests["Caf\ufffd"]
    assert (w.ok, w.errors) == (1, {"http_5xx": 1})
    assert w.messages == {"\ufffdchec serveur": 1}


@pytest.mark.parametrize("name", ["empty.jtl", "blank.csv"])
def test_empty_files_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError, match="is empty"):
        import_file(FIXTURES / name)


def test_header_without_timestamp_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("elapsed,label\n10,a\n")
    with pytest.raises(UsageError, match="timeStamp"):
        import_file(p, "jtl-csv")


def test_buffer_flushes_keep_exact_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import intperf.loadtest.importers._common as common

    monkeypatch.setattr(common, "FLUSH_AT", 7)
    p = tmp_path / "big.csv"
    lines = ["timeStamp,elapsed,label,success"]
    lines += [f"{1_700_000_000_000 + i * 37},{i % 50 + 1},L{i % 3},true" for i in range(500)]
    p.write_text("\n".join(lines) + "\n")
    r = import_file(p)
    total = r.series.aggregate()
    assert (total.ok, total.latency.count, r.rows) == (500, 500, 500)
    assert total.latency.max == 50
    assert sum(sw.requests[n].ok for sw in r.series.seconds.values() for n in sw.requests) == 500


def test_timestamp_forms() -> None:
    assert parse_timestamp_ms("1700000000123") == 1_700_000_000_123
    assert parse_timestamp_ms("2023/11/14 22:13:20.500") == 1_700_000_000_500
    assert parse_timestamp_ms("2023-11-14T22:13:20+00:00") == 1_700_000_000_000
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp_ms("yesterday")


def test_rows_the_csv_module_refuses_are_skipped(tmp_path: Path) -> None:
    p = tmp_path / "huge.csv"
    huge = "x" * 200_000  # over the csv module's default field size limit
    p.write_text("timeStamp,elapsed,label,failureMessage\n"
                 "1700000000000,10,a,\n"
                 f'1700000000001,11,a,"{huge}"\n'
                 "1700000000002,12,a,\n")
    r = import_file(p, "jtl-csv")
    assert (r.rows, r.skipped) == (2, 1)
    assert r.series.seconds[0].requests["a"].ok == 2
