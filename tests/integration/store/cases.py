"""Store tests shared by both backends; test_store_sqlite.py and test_store_postgres.py
import them and provide the ``database_url`` fixture of their backend."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from intperf.errors import StorageError, UsageError
from intperf.loadtest.results import ErrorClass, SecondWindow, TimeSeries
from intperf.store import (
    RUN_STATUSES,
    ApiKeyRepository,
    AuditRepository,
    BaselineRepository,
    Database,
    RunRecord,
    RunRepository,
    ScheduleRepository,
    drop_partitions_before,
)
from intperf.store.database import MIGRATIONS_DIR
from intperf.store.tables import Base, include_name

TABLES = {
    "runs",
    "run_seconds",
    "criteria_results",
    "baselines",
    "schedules",
    "api_keys",
    "audit_log",
}
T0 = datetime(2026, 11, 20, 12, 0, 0, 250_000, tzinfo=UTC)


def user_tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    return {n for n in names if include_name(n, "table", {})}


def make_series(seconds: int = 5, names: tuple[str, ...] = ("home", "search", "buy")) -> TimeSeries:
    ts = TimeSeries()
    for s in range(seconds):
        sw = SecondWindow(s, active_users=s + 1, started_users=1, iterations=2 * s, dropped=s % 2)
        for i, n in enumerate(names):
            w = sw.window(n)
            w.latency.record_many([1.5 + s + i, 20.25 * (i + 1), 300.0 + s])
            w.service.record_many([1.25 + s, 18.0 * (i + 1)])
            w.ok += 3 + i
            w.bytes_in += 1000 * (s + 1)
            w.bytes_out += 120
            if (s + i) % 2:
                w.add_error(ErrorClass.HTTP_5XX, "503 Service Unavailable", 2)
                w.add_error(ErrorClass.READ_TIMEOUT, None)
        ts.add(sw)
    return ts


def new_run(runs: RunRepository, **kw: Any) -> str:
    return runs.create(RunRecord(id="", scenario=kw.pop("scenario", "shop"), **kw))


# --- migrations ---------------------------------------------------------------------------

#: The newest migration: the highest ``NNNN_`` prefix in the package's versions folder.
HEAD_REVISION = max(p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))



def test_migrate_from_empty_then_downgrade_to_base_and_up_again(empty_db: Database) -> None:
    assert empty_db.revision() is None
    empty_db.migrate()
    assert empty_db.revision() == HEAD_REVISION
    assert user_tables(empty_db) >= TABLES
    empty_db.migrate()  # already at head: nothing to do
    empty_db.downgrade("base")
    assert empty_db.revision() is None
    assert user_tables(empty_db) - {"alembic_version"} == set()
    empty_db.migrate()
    assert user_tables(empty_db) >= TABLES
    RunRepository(empty_db).create(RunRecord(id="r1", scenario="s"))


def test_tables_match_the_migrations(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_name": include_name, "compare_type": True}
        )
        assert compare_metadata(ctx, Base.metadata) == []


# --- runs ----------------------------------------------------------------------------------


def test_run_create_get_and_set_status(db: Database) -> None:
    runs = RunRepository(db)
    rec = RunRecord(
        id="run-1",
        scenario="shop",
        test_type="stress",
        created_at=T0,
        requested_by="alice",
        options={"users": 10, "nested": {"a": [1, 2.5, None]}},
        scenario_doc={"name": "shop", "load": {"users": 10}},
    )
    assert runs.create(rec) == "run-1"
    assert runs.get("run-1") == rec
    assert runs.get("nope") is None
    generated = runs.create(RunRecord(id="", scenario="shop"))
    assert len(generated) == 32

    started = T0 + timedelta(seconds=1)
    assert runs.set_status("run-1", "running", started_at=started)
    ended = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    assert runs.set_status("run-1", "passed", verdict="passed", ended_at=ended, duration_s=3599.0)
    got = runs.get("run-1")
    assert got is not None
    assert (got.status, got.verdict, got.started_at, got.ended_at, got.duration_s) == (
        "passed",
        "passed",
        started,
        ended,
        3599.0,
    )
    assert got.created_at.tzinfo is UTC and got.started_at is not None
    assert got.started_at.utcoffset() == timedelta(0)
    assert not runs.set_status("nope", "failed")
    with pytest.raises(ValueError, match="unknown run status"):
        runs.set_status("run-1", "exploded")
    with pytest.raises(TypeError, match="scenario"):
        runs.set_status("run-1", "failed", scenario="other")


def test_timestamps_are_stored_as_utc(db: Database) -> None:
    runs = RunRepository(db)
    local = datetime(2026, 11, 20, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    runs.create(RunRecord(id="r", scenario="s", created_at=local))
    got = runs.get("r")
    assert got is not None
    assert got.created_at == local and got.created_at.tzinfo is UTC and got.created_at.hour == 12
    with pytest.raises(ValueError, match="naive"):
        runs.create(RunRecord(id="naive", scenario="s", created_at=datetime(2026, 1, 1)))


def test_run_list_filters_and_pagination(db: Database) -> None:
    runs = RunRepository(db)
    for i in range(7):
        runs.create(
            RunRecord(
                id=f"r{i}",
                scenario="shop" if i % 2 == 0 else "search",
                status="passed" if i < 4 else "failed",
                created_at=T0 + timedelta(minutes=i),
            )
        )
    page, total = runs.list(limit=3)
    assert total == 7 and [r.id for r in page] == ["r6", "r5", "r4"]
    page, total = runs.list(limit=3, offset=6)
    assert total == 7 and [r.id for r in page] == ["r0"]
    page, total = runs.list(scenario="shop")
    assert total == 4 and [r.id for r in page] == ["r6", "r4", "r2", "r0"]
    page, total = runs.list(status="failed")
    assert total == 3 and [r.id for r in page] == ["r6", "r5", "r4"]
    page, total = runs.list(scenario="search", status="passed", limit=1)
    assert total == 2 and [r.id for r in page] == ["r3"]
    page, total = runs.list(status=["failed", "queued"], scenario="search")
    assert total == 1 and [r.id for r in page] == ["r5"]
    assert runs.list(scenario="none") == ([], 0)


def test_run_list_without_documents(db: Database) -> None:
    runs = RunRepository(db)
    full = RunRecord(id="d", scenario="shop", status="passed", verdict="passed",
                     created_at=T0, started_at=T0, ended_at=T0 + timedelta(seconds=30),
                     duration_s=30.0, requested_by="ci", options={"name": "nightly"},
                     scenario_doc={"name": "shop"}, summary={"verdict": "passed"}, error="e")
    runs.create(full)
    (brief,), total = runs.list(with_documents=False)
    assert total == 1
    assert brief == replace(full, summary=None, scenario_doc={})
    assert runs.list(status="passed", with_documents=False) == ([brief], 1)
    assert runs.list()[0] == [full]


def test_append_seconds_and_series_round_trip(db: Database) -> None:
    runs = RunRepository(db)
    run_id = new_run(runs)
    series = make_series(6)
    windows = [series.seconds[s] for s in sorted(series.seconds)]
    runs.append_seconds(run_id, T0, windows[:4])
    runs.append_seconds(run_id, T0, windows[4:])
    got = runs.series(run_id)
    assert got.to_dict() == series.to_dict()
    assert got.request_names == ["home", "search", "buy"]
    part = runs.series(run_id, start=2, end=3)
    assert sorted(part.seconds) == [2, 3]
    assert part.to_dict()["seconds"] == series.to_dict()["seconds"][2:4]
    assert sorted(runs.series(run_id, start=4).seconds) == [4, 5]
    assert sorted(runs.series(run_id, end=0).seconds) == [0]
    assert runs.series("other").seconds == {}
    runs.append_seconds(run_id, T0, [])


def test_append_seconds_replaces_a_resent_second(db: Database) -> None:
    runs = RunRepository(db)
    run_id = new_run(runs)
    series = make_series(3)
    runs.append_seconds(run_id, T0, list(series.seconds.values()))
    # The worker resends the final partial second, now complete (and with a later start).
    final = SecondWindow.from_dict(series.seconds[2].to_dict())
    final.window("home").ok += 100
    runs.append_seconds(run_id, T0, [final])
    runs.append_seconds(run_id, T0 + timedelta(milliseconds=3), [final])
    got = runs.series(run_id)
    assert sorted(got.seconds) == [0, 1, 2]
    assert got.seconds[2].to_dict() == final.to_dict()
    assert got.seconds[1].to_dict() == series.seconds[1].to_dict()
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM run_seconds")).scalar_one() == 3
    with pytest.raises(ValueError, match="aware"):
        runs.append_seconds(run_id, datetime(2026, 1, 1), [final])


def test_seconds_of_an_unknown_run_are_refused(db: Database) -> None:
    with pytest.raises(StorageError) as err:
        RunRepository(db).append_seconds("ghost", T0, [SecondWindow(0)])
    assert not err.value.retriable


def test_concurrent_writers(db: Database) -> None:
    runs = RunRepository(db)
    ids = [new_run(runs) for _ in range(4)]
    series = make_series(20, names=("a",))
    errors: list[BaseException] = []

    def write(run_id: str) -> None:
        try:
            for s in range(20):
                runs.append_seconds(run_id, T0, [series.seconds[s]])
        except BaseException as e:  # reported to the test thread
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for run_id in ids:
        assert runs.series(run_id).to_dict() == series.to_dict()


def test_save_result_and_criteria(db: Database) -> None:
    runs = RunRepository(db)
    run_id = new_run(runs)
    crit = [
        {"criterion": "p95 < 200ms", "passed": True, "observed": 120.5, "message": "ok",
         "window": None, "abort": False, "scope": None},
        {"criterion": "error_rate < 1%", "passed": False, "observed": None, "message": "no",
         "window": [3, 9], "abort": True, "scope": "buy"},
    ]
    summary = {"verdict": "failed", "global": {"requests": 10}}
    assert runs.save_result(run_id, summary, crit)
    got = runs.get(run_id)
    assert got is not None and got.summary == summary
    assert runs.criteria(run_id) == crit
    assert runs.save_result(run_id, summary, crit[1:])
    assert runs.criteria(run_id) == crit[1:]
    assert not runs.save_result("ghost", summary, crit)


def test_mark_unfinished_interrupted(db: Database) -> None:
    now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    runs = RunRepository(db, clock=lambda: now)
    for st in RUN_STATUSES:
        runs.create(RunRecord(id=f"r-{st}", scenario="s", status=st))
    assert runs.mark_unfinished_interrupted() == ["r-queued", "r-running"]
    for st in RUN_STATUSES:
        got = runs.get(f"r-{st}")
        assert got is not None
        if st in ("queued", "running"):
            assert (got.status, got.ended_at) == ("interrupted", now)
        else:
            assert (got.status, got.ended_at) == (st, None)
    assert runs.mark_unfinished_interrupted() == []


def test_deleting_a_run_deletes_its_data(db: Database) -> None:
    runs = RunRepository(db)
    run_id = new_run(runs)
    runs.append_seconds(run_id, T0, list(make_series(2).seconds.values()))
    runs.save_result(run_id, {}, [{"criterion": "p95 < 1s", "passed": True}])
    BaselineRepository(db).set("shop", run_id, "bob")
    assert runs.delete(run_id)
    assert not runs.delete(run_id)
    assert runs.series(run_id).seconds == {} and runs.criteria(run_id) == []
    assert BaselineRepository(db).get("shop") is None


def test_retention_removes_old_seconds(db: Database) -> None:
    runs = RunRepository(db)
    old, new = new_run(runs), new_run(runs)
    series = make_series(2)
    runs.append_seconds(old, datetime(2026, 1, 5, 23, 59, 59, tzinfo=UTC), [series.seconds[0]])
    runs.append_seconds(new, datetime(2026, 1, 6, 0, 0, 0, tzinfo=UTC), [series.seconds[0]])
    drop_partitions_before(db, date(2026, 1, 6))
    assert runs.series(old).seconds == {}
    assert runs.series(new).to_dict()["seconds"] == [series.seconds[0].to_dict()]


# --- baselines, schedules -------------------------------------------------------------------


def test_baselines(db: Database) -> None:
    runs = RunRepository(db)
    a, b = new_run(runs), new_run(runs)
    now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    baselines = BaselineRepository(db, clock=lambda: now)
    assert baselines.get("shop") is None
    baselines.set("shop", a, "alice")
    assert baselines.get("shop") == a
    baselines.set("shop", b, None)
    baselines.set("search", a, "bob")
    assert baselines.get("shop") == b
    assert [(r.scenario, r.run_id, r.set_by, r.set_at) for r in baselines.list()] == [
        ("search", a, "bob", now),
        ("shop", b, None, now),
    ]
    assert baselines.delete("search") and not baselines.delete("search")
    with pytest.raises(StorageError):
        baselines.set("x", "ghost-run", None)


def test_schedules(db: Database) -> None:
    now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    schedules = ScheduleRepository(db, clock=lambda: now)
    suite = [{"scenario": "shop", "testType": "load", "options": {"users": 5}}]
    sid = schedules.create("nightly", "0 2 * * *", suite, source="config")
    got = schedules.get(sid)
    assert got is not None
    assert (got.name, got.cron, got.suite, got.enabled, got.created_at, got.last_run_at,
            got.source) == ("nightly", "0 2 * * *", suite, True, now, None, "config")
    other = schedules.create("hourly", "0 * * * *", [], enabled=False)
    assert [s.name for s in schedules.list()] == ["hourly", "nightly"]
    assert [s.id for s in schedules.list(source="api")] == [other]
    assert schedules.get_by_name("hourly") == schedules.get(other)
    with pytest.raises(UsageError, match="already exists"):
        schedules.create("nightly", "* * * * *", [])
    with pytest.raises(ValueError, match="source"):
        schedules.create("x", "* * * * *", [], source="file")

    assert schedules.set_enabled(sid, False)
    updated = schedules.update(sid, cron="30 3 * * *", suite=[{"scenario": "search"}])
    assert updated is not None
    assert (updated.enabled, updated.cron, updated.suite) == (False, "30 3 * * *",
                                                              [{"scenario": "search"}])
    fired = now + timedelta(hours=1)
    assert schedules.mark_run(sid, fired)
    assert schedules.get(sid) == replace(updated, last_run_at=fired)
    assert schedules.update("ghost", enabled=True) is None
    assert not schedules.set_enabled("ghost", True)

    run_id = RunRepository(db).create(RunRecord(id="", scenario="shop", schedule_id=sid))
    assert schedules.delete(sid) and not schedules.delete(sid)
    assert schedules.get(sid) is None
    run = RunRepository(db).get(run_id)
    assert run is not None and run.schedule_id is None


# --- API keys, audit log -------------------------------------------------------------------


def test_api_keys(db: Database) -> None:
    keys = ApiKeyRepository(db)
    assert keys.count() == 0
    key_id, plaintext = keys.create("ci", "operator")
    admin_id, admin_key = keys.create("root", "admin")
    assert plaintext.startswith("ip_") and len(plaintext) == 3 + 43
    assert keys.count() == 2

    rec = keys.verify(plaintext)
    assert rec is not None
    assert (rec.id, rec.name, rec.role, rec.prefix, rec.active) == (
        key_id, "ci", "operator", plaintext[:8], True)
    assert keys.verify(plaintext + "x") is None
    assert keys.verify(plaintext[:-1]) is None
    assert keys.verify("") is None
    assert keys.verify("ip_" + "A" * 43) is None

    # Only the hash and the prefix are kept: the token itself is in no column of any row.
    with db.session() as s:
        rows = s.execute(text("SELECT * FROM api_keys")).mappings().all()
    for row in rows:
        for value in row.values():
            assert plaintext not in str(value) and admin_key not in str(value)
    hashes = {r["key_hash"] for r in rows}
    assert hashlib.sha256(plaintext.encode()).hexdigest() in hashes

    assert keys.revoke(key_id)
    assert not keys.revoke(key_id)
    assert not keys.revoke("ghost")
    assert keys.verify(plaintext) is None
    assert keys.count() == 1
    listed = {k.id: k for k in keys.list()}
    assert set(listed) == {key_id, admin_id}
    assert not listed[key_id].active and listed[key_id].revoked_at is not None
    assert keys.get(admin_id) == listed[admin_id]
    with pytest.raises(ValueError, match="role"):
        keys.create("x", "superuser")


def test_audit_log(db: Database) -> None:
    audit = AuditRepository(db)
    audit.record("alice", "run.submit", "r1", {"scenario": "shop"})
    audit.record("bob", "key.revoke", "k1", None)
    audit.record("system", "startup", None, {})
    entries = audit.list()
    assert [(e.actor, e.action, e.target, e.detail) for e in entries] == [
        ("system", "startup", None, {}),
        ("bob", "key.revoke", "k1", None),
        ("alice", "run.submit", "r1", {"scenario": "shop"}),
    ]
    assert all(e.at.tzinfo is UTC for e in entries)
    assert [e.actor for e in audit.list(limit=1, offset=1)] == ["bob"]
    assert audit.list(limit=5, offset=3) == []
