"""Stream storage cases shared by the SQLite and PostgreSQL store tests."""

from __future__ import annotations

from datetime import UTC, datetime

from intperf.loadtest.results import SecondWindow
from intperf.store import Database, RunRepository
from intperf.store.stream_repository import (
    Checkpoint,
    DeadLetter,
    LateEvent,
    LiveWindow,
    SlowQuery,
    StreamProgress,
    StreamRepository,
    live_run_id,
)

# 2026-11-25 10:01:00 UTC in epoch ms.
T0 = int(datetime(2026, 11, 25, 10, 1, tzinfo=UTC).timestamp() * 1000)


def _window(n_ok: int, n_fail: int, latency: float) -> SecondWindow:
    sw = SecondWindow(0)
    w = sw.window("GET /api/orders")
    w.ok = n_ok
    for _ in range(n_fail):
        from intperf.loadtest.results import ErrorClass
        w.add_error(ErrorClass.HTTP_5XX, None)
    w.latency.record_many([latency] * (n_ok + n_fail))
    w.service.record_many([latency] * (n_ok + n_fail))
    return sw


def test_stream_progress_is_stored_in_one_go(db: Database) -> None:
    repo = StreamRepository(db)
    progress = StreamProgress(
        windows=[LiveWindow("orders", T0, _window(9, 1, 12.0)),
                 LiveWindow("orders", T0 + 60_000, _window(5, 0, 30.0)),
                 LiveWindow("search", T0, _window(3, 0, 7.0))],
        late=[LateEvent("response-time", "orders", T0 - 3_600_000, T0, {"kind": "API_RESPONSE"})],
        dead=[DeadLetter("api", "[0].status: not an integer", '{"status": "x"}')],
        slow=[SlowQuery("orders", "f00d", "select * from orders where id = $1", 812.5, T0,
                        rows=50_000, advice=("add an index",))],
        checkpoints=[Checkpoint("performance-events", 0, 42, {"open": []}),
                     Checkpoint("performance-events", 1, 7, {"open": [1]})],
    )
    repo.store_progress("g1", progress)
    day = datetime(2026, 11, 25, tzinfo=UTC)
    runs = RunRepository(db)
    orders = runs.get(live_run_id("orders", day))
    assert orders is not None
    assert (orders.scenario, orders.test_type, orders.status) == ("live:orders", "LIVE", "running")
    assert orders.started_at == day
    series = runs.series(orders.id)
    assert sorted(series.seconds) == [36_060, 36_120]  # 10:01 and 10:02 since midnight
    first = series.seconds[36_060].requests["GET /api/orders"]
    assert (first.ok, first.failed, first.latency.count) == (9, 1, 10)
    assert runs.get(live_run_id("search", day)) is not None
    assert repo.checkpoints("g1") == {
        ("performance-events", 0): Checkpoint("performance-events", 0, 42, {"open": []}),
        ("performance-events", 1): Checkpoint("performance-events", 1, 7, {"open": [1]}),
    }
    assert repo.checkpoints("other") == {}
    assert repo.counts() == {"dead_letters": 1, "late_events": 1, "slow_queries": 1}
    assert repo.slow_queries(service="orders")[0].advice == ("add an index",)
    assert repo.slow_queries(service="search") == []
    assert repo.late_events()[0].event_time_ms == T0 - 3_600_000
    assert repo.dead_letters()[0].reason == "[0].status: not an integer"


def test_a_replayed_window_replaces_itself_and_checkpoints_move(db: Database) -> None:
    repo = StreamRepository(db)
    repo.store_progress("g", StreamProgress(
        windows=[LiveWindow("orders", T0, _window(1, 0, 5.0))],
        checkpoints=[Checkpoint("t", 0, 10, {})]))
    # After a restart the same records are processed again and the window comes out whole.
    repo.store_progress("g", StreamProgress(
        windows=[LiveWindow("orders", T0, _window(4, 0, 5.0))],
        checkpoints=[Checkpoint("t", 0, 15, {"x": 1})]))
    run_id = live_run_id("orders", datetime(2026, 11, 25, tzinfo=UTC))
    series = RunRepository(db).series(run_id)
    assert series.seconds[36_060].requests["GET /api/orders"].ok == 4
    assert repo.checkpoints("g")[("t", 0)].next_offset == 15


def test_live_runs_survive_the_start_up_sweep(db: Database) -> None:
    repo = StreamRepository(db)
    repo.store_progress("g", StreamProgress(windows=[LiveWindow("orders", T0, _window(1, 0, 1.0))]))
    assert RunRepository(db).mark_unfinished_interrupted() == []
    run = RunRepository(db).get(live_run_id("orders", datetime(2026, 11, 25, tzinfo=UTC)))
    assert run is not None and run.status == "running"


def test_dead_letter_payloads_are_capped(db: Database) -> None:
    repo = StreamRepository(db)
    repo.add_dead_letters([DeadLetter("api", "too big", "x" * 100_000)])
    assert len(repo.dead_letters()[0].payload) == 16_384
