"""JMeter JTL results in XML (``<httpSample>`` and ``<sample>``), read with iterparse.

Only top-level samples count (children are redirects, embedded resources or the samples
of a transaction, which CSV output leaves out too). Each finished sample is cleared from
the tree so memory stays flat however long the file is.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from intperf.errors import UsageError
from intperf.loadtest.importers._common import (
    ImportResult,
    SeriesBuilder,
    classify,
    parse_bool,
    require_nonempty,
    result_from,
    to_int,
)

FORMAT = "jtl-xml"
_SAMPLES = {"httpSample", "sample"}


def import_jtl_xml(path: Path, scenario: str | None = None) -> ImportResult:
    """Stream an XML JTL into a time series."""
    require_nonempty(path)
    builder = SeriesBuilder()
    warnings: list[str] = []
    rows = skipped = 0
    depth = 0
    failure: str | None = None
    active: dict[int, int] = {}
    root: ET.Element | None = None
    try:
        # The file is the user's own JMeter output; expat does not fetch external entities.
        for event, elem in ET.iterparse(path, events=("start", "end")):  # noqa: S314
            if root is None:
                root = elem
            if elem.tag in _SAMPLES:
                if event == "start":
                    depth += 1
                    if depth == 1:
                        failure = None
                    continue
                depth -= 1
                if depth:
                    continue
                a = elem.attrib
                try:
                    ts_ms = float(a["ts"])
                    elapsed = float(a["t"])
                except (KeyError, ValueError):
                    skipped += 1
                else:
                    ok_text = a.get("s", "")
                    ok = parse_bool(ok_text) if ok_text else None
                    code, rm = a.get("rc", ""), a.get("rm", "")
                    err = classify(code, ok, failure or "", rm)
                    message = (failure or rm or code) if err is not None else None
                    sec = int(ts_ms // 1000)
                    builder.sample(sec, a.get("lb") or "(unnamed)", elapsed, err, message,
                                   to_int(a.get("by")), to_int(a.get("sby")))
                    users = to_int(a.get("na"))
                    if users > active.get(sec, 0):
                        active[sec] = users
                    rows += 1
                root.clear()  # drop finished samples: streaming
            elif (event == "end" and elem.tag == "failureMessage" and depth >= 1
                  and failure is None and elem.text):
                failure = elem.text
    except ET.ParseError as exc:
        if rows == 0 and root is None:
            raise UsageError(f"{path}: not a readable XML JTL: {exc}") from exc
        warnings.append(f"the XML ends early or is damaged ({exc}); "
                        f"{rows} sample(s) before that point were imported")
    for sec, users in active.items():
        builder.second(sec).active_users = users
    return result_from(builder, fmt=FORMAT, scenario=scenario or path.stem,
                       fallback_start=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                       warnings=warnings, rows=rows, skipped=skipped)
