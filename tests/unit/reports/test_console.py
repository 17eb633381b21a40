"""Rich console tables and number formatting."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from intperf.reports import fmt
from intperf.reports.console import criteria_table, format_ms, summary_table

from ._data import ORDERS, PRODUCTS


def text_of(table: Any) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(table)
    return console.export_text()


def test_summary_table_has_a_row_per_request_and_a_total(summary: dict[str, Any]) -> None:
    table = summary_table(summary)
    assert table.row_count == 3
    out = text_of(table)
    for text in (PRODUCTS, ORDERS, "Total", "1,560", "p99", "Max"):
        assert text in out, text
    assert f"{summary['global']['failed']} (2.44%)" in out


def test_criteria_table(summary: dict[str, Any], empty_summary: dict[str, Any]) -> None:
    out = text_of(criteria_table(summary))
    assert "FAILED" in out and "error_rate < 5%" in out and "0.061" in out
    assert out.count("✗ failed") == 2 and out.count("✓ passed") == 1
    assert "no criteria given" in text_of(criteria_table(empty_summary))
    assert "Total" in text_of(summary_table(empty_summary))


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (float("nan"), "-"), (0.0, "0.00 ms"), (0.423, "0.42 ms"), (9.999, "10.00 ms"),
    (12.34, "12.3 ms"), (845.2, "845 ms"), (999.6, "1.00 s"), (1234.0, "1.23 s"),
    (61_234.0, "61.2 s"), (250_000.0, "250 s"),
])
def test_format_ms(value: float | None, text: str) -> None:
    assert format_ms(value) == text


def test_other_formats() -> None:
    assert fmt.format_count(1234567) == "1,234,567"
    assert fmt.format_rate(3.14159) == "3.14" and fmt.format_rate(1234.4) == "1,234"
    assert fmt.format_pct(0.0) == "0%" and fmt.format_pct(0.0244) == "2.44%"
    assert fmt.format_pct(1.0) == "100%" and fmt.format_pct(0.125) == "12.5%"
    assert fmt.format_bytes(512) == "512 B" and fmt.format_bytes(1536) == "1.5 KiB"
    assert fmt.format_si(1200) == "1.2k" and fmt.format_si(0.5) == "0.5"
    assert fmt.format_seconds(45) == "45s" and fmt.format_seconds(150) == "2m30s"
    assert fmt.format_seconds(120) == "2m" and fmt.format_seconds(3900) == "1h05m"
    assert fmt.format_timestamp("2025-01-02T03:04:05.250Z") == "2025-01-02 03:04:05 UTC"
    assert fmt.format_timestamp(None) == "-"
