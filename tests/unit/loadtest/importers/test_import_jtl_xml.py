"""JMeter XML JTL import: top-level samples only, assertion messages, truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.errors import UsageError
from intperf.loadtest.importers import detect, import_file

FIXTURES = Path(__file__).parents[3] / "fixtures" / "imports"


def test_samples_and_assertion_messages() -> None:
    path = FIXTURES / "jtl.xml"
    assert detect(path) == "jtl-xml"
    r = import_file(path)
    assert (r.rows, r.skipped, r.warnings) == (3, 0, [])
    s = r.series.seconds
    assert set(s) == {0, 1}
    assert set(s[0].requests) == {"Home", 'Login, "quoted"'}  # the embedded child is not counted
    login = s[0].requests['Login, "quoted"']
    assert login.errors == {"http_5xx": 1}
    assert login.messages == {"Test failed: code expected 200": 1}
    assert s[1].requests["Tx"].errors == {"connection_refused": 1}
    home = s[0].requests["Home"]
    assert (home.ok, home.bytes_in, home.bytes_out, home.latency.max) == (1, 1000, 200, 100)
    assert [s[0].active_users, s[1].active_users] == [2, 2]


def test_truncated_xml_keeps_what_was_read() -> None:
    r = import_file(FIXTURES / "jtl_truncated.xml")
    assert r.rows == 2
    assert any("ends early" in w for w in r.warnings)


def test_not_xml_at_all(tmp_path: Path) -> None:
    p = tmp_path / "x.xml"
    p.write_text("<<<")
    with pytest.raises(UsageError, match="not a readable XML JTL"):
        import_file(p, "jtl-xml")
