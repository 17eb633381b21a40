"""write_reports: the three files, atomically, in a directory it creates."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import intperf.reports as reports
from intperf.reports import write_reports


def test_writes_three_files(summary: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "results" / "run-1"
    paths = write_reports(summary, out)
    assert paths == {"json": out / "summary.json", "junit": out / "junit.xml",
                     "html": out / "report.html"}
    assert json.loads(paths["json"].read_text("utf-8")) == summary
    ET.parse(paths["junit"])
    assert "intperf-summary" in paths["html"].read_text("utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "summary.json"]
    assert stat.S_IMODE(paths["html"].stat().st_mode) == 0o644


def test_overwrites_and_leaves_no_temp_file_on_failure(
    summary: dict[str, Any], empty_summary: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_reports(summary, tmp_path)
    write_reports(empty_summary, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text("utf-8")) == empty_summary

    def broken_replace(src: str, dst: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("intperf.reports.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_reports(summary, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "report.html",
                                                          "summary.json"]
    assert json.loads((tmp_path / "summary.json").read_text("utf-8")) == empty_summary


def test_public_api() -> None:
    assert set(reports.__all__) >= {"RunInfo", "build_summary", "write_reports"}
