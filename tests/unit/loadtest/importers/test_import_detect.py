"""Format sniffing and the import_file front door."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.errors import UsageError
from intperf.loadtest.importers import detect, import_file


def test_unknown_text_and_binary(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello world\n")
    with pytest.raises(UsageError, match="cannot tell the format"):
        detect(p)
    b = tmp_path / "blob.bin"
    b.write_bytes(b"\x00\x01\x02")
    with pytest.raises(UsageError, match="binary file"):
        detect(b)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        import_file(tmp_path / "nope.jtl")
    p = tmp_path / "a.csv"
    p.write_text("timeStamp,elapsed\n1700000000000,1\n")
    with pytest.raises(UsageError, match="unknown import format"):
        import_file(p, "csv")


def test_headerless_jtl_is_detected_by_epoch_ms(tmp_path: Path) -> None:
    p = tmp_path / "a.jtl"
    p.write_text("1700000000000,12,x,200,OK\n")
    assert detect(p) == "jtl-csv"
