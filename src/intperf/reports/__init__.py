"""Run reports: the JSON summary, JUnit XML for CI and a single-file HTML report.

``write_reports`` writes all three; the modules render each one from the summary dict.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from intperf.reports import html, junit
from intperf.reports.summary import (
    SCHEMA_VERSION,
    RunInfo,
    build_summary,
    criteria_dicts,
    load_schema,
)

__all__ = [
    "SCHEMA_VERSION",
    "RunInfo",
    "build_summary",
    "criteria_dicts",
    "load_schema",
    "write_reports",
]

#: Report kind -> file name inside the output directory.
FILE_NAMES = {"json": "summary.json", "junit": "junit.xml", "html": "report.html"}


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and rename it over ``path``.

    Readers (a CI artifact collector, a browser reloading) never see a half-written file.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(summary: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write summary.json, junit.xml and report.html into ``out_dir`` (created if missing).

    Returns the paths by kind: ``{"json": ..., "junit": ..., "html": ...}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = {
        "json": json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        "junit": junit.render(summary),
        "html": html.render(summary),
    }
    paths: dict[str, Path] = {}
    for kind, text in texts.items():
        path = out_dir / FILE_NAMES[kind]
        _write_atomic(path, text)
        paths[kind] = path
    return paths
