"""Importers of other tools' result files into intperf time series (docs/imports.md).

:func:`detect` sniffs a file's format from its first bytes; :func:`import_file` streams it
into an :class:`ImportResult`. Formats: ``jtl-csv``, ``jtl-xml`` (JMeter), ``gatling-log``
(Gatling 3.x text log), ``k6-json`` (``--out json``), ``k6-summary`` and ``locust-csv``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from intperf.errors import UsageError
from intperf.loadtest.importers._common import ImportResult, require_nonempty
from intperf.loadtest.importers.gatling import BINARY_LOG_MESSAGE, import_gatling, looks_binary
from intperf.loadtest.importers.jtl_csv import DEFAULT_COLUMNS, import_jtl_csv
from intperf.loadtest.importers.jtl_xml import import_jtl_xml
from intperf.loadtest.importers.k6 import import_k6_json, import_k6_summary
from intperf.loadtest.importers.locust import import_locust

__all__ = ["DEFAULT_COLUMNS", "FORMATS", "ImportResult", "detect", "import_file"]

Importer = Callable[[Path, "str | None"], ImportResult]

#: Format name -> importer.
FORMATS: dict[str, Importer] = {
    "jtl-csv": import_jtl_csv,
    "jtl-xml": import_jtl_xml,
    "gatling-log": import_gatling,
    "k6-json": import_k6_json,
    "k6-summary": import_k6_summary,
    "locust-csv": import_locust,
}
_SNIFF_BYTES = 64 * 1024
_GATLING_RECORDS = ("RUN\t", "USER\t", "REQUEST\t", "GROUP\t", "ERROR\t", "ASSERTION\t")


def detect(path: Path) -> str:
    """The format of ``path`` (a key of :data:`FORMATS`); UsageError when unknown."""
    require_nonempty(path)
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if looks_binary(head):
        if "simulation" in path.name or path.suffix == ".log":
            raise UsageError(BINARY_LOG_MESSAGE.format(path=path))
        raise UsageError(f"{path}: a binary file, not one of {', '.join(FORMATS)}")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    first = text.split("\n", 1)[0].rstrip("\r")
    if text.startswith("<"):
        return "jtl-xml"
    if text.startswith("{"):
        try:
            doc = json.loads(first)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("type") in ("Metric", "Point"):
            return "k6-json"
        if '"metrics"' in text:
            return "k6-summary"
    if first.startswith(_GATLING_RECORDS):
        return "gatling-log"
    if first.startswith("Timestamp,User Count"):
        return "locust-csv"
    low = first.lower()
    if "timestamp" in low and "elapsed" in low:
        return "jtl-csv"
    lead = first.split(",", 1)[0].strip()
    if lead.isdigit() and len(lead) >= 12 and "," in first:  # epoch ms, headerless JTL
        return "jtl-csv"
    raise UsageError(f"{path}: cannot tell the format; pass one of {', '.join(FORMATS)}")


def import_file(path: Path | str, fmt: str | None = None,
                scenario: str | None = None) -> ImportResult:
    """Import ``path`` (format detected when ``fmt`` is None) into a time series."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such file")
    name = fmt or detect(p)
    importer = FORMATS.get(name)
    if importer is None:
        raise UsageError(f"unknown import format {name!r}; use one of {', '.join(FORMATS)}")
    return importer(p, scenario)
