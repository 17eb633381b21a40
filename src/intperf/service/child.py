"""The process that runs one load test for the service and writes it to the database.

Every completed second is written as it arrives (at most one second is lost if the machine
dies); the live figures also go to the service over a pipe. When the service process dies,
the kernel sends this process SIGTERM (PR_SET_PDEATHSIG), so the run ends as interrupted with
everything flushed so far.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
from datetime import UTC, datetime
from multiprocessing.connection import Connection as PipeEnd
from pathlib import Path
from typing import Any

from intperf import __version__
from intperf.config import Settings
from intperf.errors import IntperfError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.criteria import DEFAULT_CRITERIA, parse_all
from intperf.loadtest.populations import run_model
from intperf.loadtest.results import RequestWindow
from intperf.loadtest.runner import LoadTest, Progress
from intperf.reports import criteria_dicts, write_reports
from intperf.reports.summary import RunInfo, RunStatus, build_summary
from intperf.service.runspec import (
    JMeterTestRequest,
    LoadTestRequest,
    build_jmeter_scenario,
    build_scenario,
)
from intperf.store import Database, RunRepository

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the service process goes away."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def live_figures(p: Progress, totals: RequestWindow) -> dict[str, Any]:
    """The small dict the service shows while a run is going."""
    last = RequestWindow()
    if p.last is not None:
        for w in p.last.requests.values():
            last.merge(w)
    totals.merge(last)

    def ms(v: float) -> float | None:
        return None if v != v else round(v, 3)  # NaN -> None

    return {
        "second": p.last.second if p.last is not None else None,
        "elapsed_s": round(p.elapsed, 3),
        "duration_s": p.duration,
        "rps": last.requests,
        "p50_ms": ms(last.latency.quantile(0.5)),
        "p99_ms": ms(last.latency.quantile(0.99)),
        "active_users": p.last.active_users if p.last is not None else 0,
        "requests": totals.requests,
        "failed": totals.failed,
        "error_rate": totals.failed / totals.requests if totals.requests else 0.0,
    }


def run_child(settings_data: dict[str, Any], run_id: str, pipe: PipeEnd | None) -> None:
    """Entry point of the run process."""
    _die_with_parent()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.model_validate(settings_data)
    db = Database(settings.intperf.storage_url)
    runs = RunRepository(db)
    try:
        _run(settings, runs, run_id, pipe)
    except Exception as exc:
        log.exception("run %s failed", run_id)
        with contextlib.suppress(Exception):
            runs.set_status(run_id, "error", error=f"{type(exc).__name__}: {exc}",
                            ended_at=datetime.now(UTC))
    finally:
        db.close()
        if pipe is not None:
            pipe.close()


def _send(pipe: PipeEnd | None, message: dict[str, Any]) -> None:
    if pipe is None:
        return
    with contextlib.suppress(OSError, ValueError):
        pipe.send(message)


def _run(settings: Settings, runs: RunRepository, run_id: str, pipe: PipeEnd | None) -> None:
    record = runs.get(run_id)
    if record is None:
        return
    req: LoadTestRequest | JMeterTestRequest
    try:
        if record.options.get("kind") == "jmeter":
            req = JMeterTestRequest.model_validate(record.options["request"])
            data_dir = Path(settings.intperf.results_dir) / run_id / "jmeter-data"
            scenario = build_jmeter_scenario(req, settings, data_dir)
            run_options: dict[str, Any] = {"testType": "JMETER", "testPlan": req.test_plan}
        else:
            req = LoadTestRequest.model_validate(record.options["request"])
            scenario = build_scenario(req, settings)
            run_options = {"testType": req.test_type, "users": req.users, "rate": req.rate}
        criteria = parse_all(req.criteria or list(scenario.criteria) or list(DEFAULT_CRITERIA))
        policy = TargetPolicy.parse(settings.intperf.allowed_targets)
    except IntperfError as exc:
        runs.set_status(run_id, "error", error=str(exc), ended_at=datetime.now(UTC))
        return
    started = datetime.now(UTC)
    runs.set_status(run_id, "running", started_at=started)
    totals = RequestWindow()

    def on_progress(p: Progress) -> None:
        if p.last is not None:
            runs.append_seconds(run_id, started, [p.last])
        _send(pipe, {"type": "progress", "live": live_figures(p, totals)})

    test = LoadTest(scenario, criteria, processes=1, policy=policy, on_progress=on_progress)
    try:
        outcome = test.run()
    except IntperfError as exc:
        runs.set_status(run_id, "error", error=str(exc), ended_at=datetime.now(UTC))
        return
    status: RunStatus = outcome.verdict
    info = RunInfo(
        run_id=run_id, scenario=scenario.name, scenario_source=scenario.source,
        base_url=scenario.base_url or "", model=run_model(scenario),
        started_at=outcome.started_at, ended_at=outcome.ended_at,
        duration_s=outcome.duration_s, processes=outcome.processes, status=status,
        abort_reason=outcome.abort_reason, intperf_version=__version__,
        options=run_options,
    )
    crit = criteria_dicts(outcome.criteria)
    summary = build_summary(outcome.series, crit, info)
    write_reports(summary, Path(settings.intperf.results_dir) / run_id)
    runs.save_result(run_id, summary, crit)
    runs.set_status(run_id, status, verdict=summary["verdict"], ended_at=outcome.ended_at,
                    duration_s=outcome.duration_s)
    _send(pipe, {"type": "end", "status": status})
