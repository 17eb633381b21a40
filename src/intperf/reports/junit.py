"""JUnit XML for CI servers: one test case per success criterion (Jenkins, GitLab, GitHub).

Follows the de-facto schema Jenkins and GitLab parse (``testsuites/testsuite/testcase`` with
``failure`` and ``error`` children); a run that did not complete adds an erroring case.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from intperf.reports.fmt import format_ms, format_pct, format_rate, format_seconds

# Characters XML 1.0 cannot carry at all (https://www.w3.org/TR/xml/#charsets).
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _observed(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.6g}"


def _timestamp(iso: str) -> str:
    # The JUnit schema wants an ISO 8601 date-time without a zone; ours is UTC.
    return datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%M:%S")


def _case_time(c: Mapping[str, Any], duration_s: float) -> float:
    window = c.get("window")
    return float(window[1] - window[0] + 1) if window else duration_s


def render(summary: Mapping[str, Any]) -> str:
    """JUnit XML (UTF-8 text with declaration) of a summary's criteria."""
    run = summary["run"]
    g = summary["global"]
    duration = float(run["duration_s"])
    criteria = summary["criteria"]
    run_failed = run["status"] in ("aborted", "interrupted", "error")
    tests = len(criteria) + (1 if run_failed else 0)
    failures = sum(1 for c in criteria if not c["passed"])
    errors = 1 if run_failed else 0
    counts = {"tests": str(tests), "failures": str(failures), "errors": str(errors),
              "skipped": "0", "time": f"{duration:.3f}"}

    root = ET.Element("testsuites", {"name": "intperf", **counts})
    suite = ET.SubElement(root, "testsuite", {
        "name": _clean(f"intperf.{run['scenario']}"), **counts,
        "timestamp": _timestamp(run["started_at"]), "id": "0",
    })
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "scenario", "scenario_source", "base_url", "model", "status",
                "abort_reason", "intperf_version"):
        if run.get(key) is not None:
            ET.SubElement(props, "property",
                          {"name": f"intperf.{key}", "value": _clean(str(run[key]))})
    facts = {"verdict": summary["verdict"], "requests": str(g["requests"]),
             "failed": str(g["failed"]), "error_rate": f"{g['error_rate']:.6g}",
             "rps": f"{g['rps']:.6g}", "p95_ms": _observed(g["latency"]["p95"]),
             "p99_ms": _observed(g["latency"]["p99"])}
    for key, value in facts.items():
        ET.SubElement(props, "property", {"name": f"intperf.{key}", "value": value})

    for c in criteria:
        case = ET.SubElement(suite, "testcase", {
            "classname": "criteria", "name": _clean(c["criterion"]),
            "time": f"{_case_time(c, duration):.3f}",
        })
        detail = [f"criterion: {c['criterion']}", f"observed: {_observed(c['observed'])}"]
        if c["message"]:
            detail.append(f"message: {c['message']}")
        if c.get("window"):
            detail.append(f"window: seconds {c['window'][0]}-{c['window'][1]}")
        if c.get("scope"):
            detail.append(f"request: {c['scope']}")
        if c.get("abort"):
            detail.append("aborts the run when breached")
        if c["passed"]:
            ET.SubElement(case, "system-out").text = _clean("\n".join(detail))
        else:
            msg = f"observed {_observed(c['observed'])}"
            if c["message"]:
                msg += f": {c['message']}"
            failure = ET.SubElement(case, "failure", {"message": _clean(msg),
                                                      "type": "CriterionFailed"})
            failure.text = _clean("\n".join(detail))
    if run_failed:
        case = ET.SubElement(suite, "testcase", {"classname": "run", "name": "run completed",
                                                 "time": f"{duration:.3f}"})
        reason = run.get("abort_reason") or f"the run ended with status {run['status']}"
        error = ET.SubElement(case, "error", {"message": _clean(f"{run['status']}: {reason}"),
                                              "type": f"Run{run['status'].capitalize()}"})
        error.text = _clean(reason)

    ET.SubElement(suite, "system-out").text = _clean(
        f"{run['scenario']} against {run['base_url']} for {format_seconds(duration)}: "
        f"{g['requests']} requests, {g['failed']} failed ({format_pct(g['error_rate'])}), "
        f"{format_rate(g['rps'])} rps, p95 {format_ms(g['latency']['p95'])}, "
        f"p99 {format_ms(g['latency']['p99'])}; verdict {summary['verdict']}"
    )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
