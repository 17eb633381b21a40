"""The start form's checks (static/validate.js, run by Node) agree with the API's: the same
durations parse to the same seconds, and a submission the API refuses is refused in the
browser at the same field."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from intperf.units import parse_duration

pytestmark = pytest.mark.integration

VALIDATE = (Path(__file__).resolve().parents[2]
            / "src/intperf/service/dashboard/static/validate.js")
NODE = shutil.which("node")


def _node(script: str, data: Any) -> Any:
    if NODE is None:
        pytest.skip("node is not installed: the form's checks are exercised by the browser tests")
    program = (f"import * as v from {json.dumps(VALIDATE.as_uri())};\n"
               "const data = JSON.parse(process.argv[1]);\n"
               f"{script}\n")
    out = subprocess.run([NODE, "--input-type=module", "-e", program, json.dumps(data)],
                         capture_output=True, text=True, check=False, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


DURATIONS = ["300s", "5m", "2000ms", "1m30s", "45", "0.5", ".5s", " 10 s ", "1h", "250us",
             "2h30m", "five minutes", "", "5 m 3s", "-3s", "1d", "3ms5", "1.5.2s"]


def test_durations_parse_as_the_api_parses_them() -> None:
    got = _node("""
        console.log(JSON.stringify(data.map((t) => {
          try { return v.parseDuration(t); } catch { return null; }
        })));""", DURATIONS)
    for text, seconds in zip(DURATIONS, got, strict=True):
        try:
            expected: float | None = parse_duration(text)
        except ValueError:
            expected = None
        if expected is None or seconds is None:
            assert seconds == expected, text
        else:
            assert seconds == pytest.approx(expected), text


CASES: list[tuple[str, dict[str, str]]] = [
    ("users", {"users": "0"}),
    ("users", {"users": "51"}),
    ("duration", {"users": "1", "duration": "five minutes"}),
    ("duration", {"users": "1", "duration": "59s", "rampUp": "5s"}),
    ("rampUp", {"users": "1", "duration": "5s", "rampUp": "soon"}),
    ("rate", {"rate": "0"}),
    ("rate", {"rate": "6000"}),
    ("baseUrl", {"users": "1", "duration": "1s", "baseUrl": "ftp://127.0.0.1"}),
    ("name", {"users": "1", "duration": "1s", "name": "x" * 201}),
    ("scenario", {"scenario": ""}),
]


def _raw(values: dict[str, str]) -> dict[str, Any]:
    """The body as typed, without the browser's checks."""
    body: dict[str, Any] = {"scenario": values.get("scenario", "social-commerce")}
    for key, value in values.items():
        if key == "users":
            body[key] = int(value)
        elif key == "rate":
            body[key] = float(value)
        elif key != "scenario":
            body[key] = value
    return body


@pytest.mark.parametrize(("field", "values"), CASES, ids=[f"{f}-{i}" for i, (f, _) in
                                                          enumerate(CASES)])
def test_the_form_refuses_what_the_api_refuses(dashboard_service: Any, field: str,
                                               values: dict[str, str]) -> None:
    with dashboard_service.client("operator") as c:
        catalogue = c.get("/api/v1/scenarios").json()
        refused = c.post("/api/v1/performance/load-test", json=_raw(values))
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field, refused.json()
    info = next(s for s in catalogue["scenarios"] if s["name"] == "social-commerce")
    form = {"scenario": "social-commerce", "testType": "NATIVE", **values}
    errors = _node("console.log(JSON.stringify(v.checkLoadTest(...data).errors));",
                   [form, info, catalogue["limits"]])
    assert list(errors) == [field], (errors, refused.json())
    assert errors[field].split(":")[0] == refused.json()["error"].split(":")[0]
