"""The store on a private PostgreSQL 15: the shared cases plus partitioning and retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url, text

from intperf.errors import StorageError
from intperf.loadtest.results import SecondWindow
from intperf.store import (
    Database,
    RunRecord,
    RunRepository,
    drop_partitions_before,
    ensure_partitions,
    list_partitions,
)

from .cases import *  # noqa: F403 - the shared cases run here against PostgreSQL
from .cases import make_series
from .stream_cases import *  # noqa: F403

pytestmark = pytest.mark.integration


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database,
                           autocommit=True)


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server for each test."""
    name = f"store_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with _admin(postgres_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def partition_of(db: Database, run_id: str) -> dict[int, str]:
    with db.session() as s:
        rows = s.execute(
            text("SELECT second, tableoid::regclass::text FROM run_seconds WHERE run_id = :r"),
            {"r": run_id},
        )
        return {int(sec): str(part) for sec, part in rows}


def test_pg_stat_statements_is_preloaded(postgres_url: str) -> None:
    with _admin(postgres_url) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert row is not None and "pg_stat_statements" in str(row[0])


def test_run_seconds_is_partitioned_by_ts(db: Database) -> None:
    with db.session() as s:
        strategy, key = s.execute(
            text(
                "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
                "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
                "WHERE p.partrelid = CAST(:t AS regclass)"
            ),
            {"t": "run_seconds"},
        ).one()
        fk = s.execute(
            text("SELECT count(*) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
                 "AND contype = 'f'"),
            {"t": "run_seconds"},
        ).scalar_one()
    assert (strategy, key, fk) == ("r", "ts", 1)
    assert list_partitions(db) == ["run_seconds_default"]


def test_ensure_partitions_creates_daily_partitions(db: Database) -> None:
    day = date(2031, 12, 30)
    created = ensure_partitions(db, days_ahead=3, today=day)
    expected = ["run_seconds_p20311230", "run_seconds_p20311231", "run_seconds_p20320101",
                "run_seconds_p20320102"]
    assert created == expected
    assert ensure_partitions(db, days_ahead=3, today=day) == []  # idempotent
    assert ensure_partitions(db, days_ahead=4, today=day) == ["run_seconds_p20320103"]
    assert list_partitions(db) == [*expected, "run_seconds_p20320103", "run_seconds_default"]
    with pytest.raises(ValueError, match="days_ahead"):
        ensure_partitions(db, days_ahead=-1)


def test_ensure_partitions_defaults_to_today(db: Database) -> None:
    before = datetime.now(UTC).date()
    created = ensure_partitions(db, days_ahead=1)
    after = datetime.now(UTC).date()  # the same day, unless the test ran across midnight UTC
    assert created in [
        [f"run_seconds_p{d:%Y%m%d}" for d in (today, today + timedelta(days=1))]
        for today in (before, after)
    ]


def test_rows_land_in_their_day_partition(db: Database) -> None:
    ensure_partitions(db, days_ahead=1, today=date(2031, 3, 1))
    runs = RunRepository(db)
    run_id = runs.create(RunRecord(id="", scenario="s"))
    # Starts 2 s before midnight: seconds 0-1 on March 1st, 2-3 on March 2nd.
    start = datetime(2031, 3, 1, 23, 59, 58, tzinfo=UTC)
    series = make_series(4)
    runs.append_seconds(run_id, start, list(series.seconds.values()))
    other = runs.create(RunRecord(id="", scenario="s"))
    runs.append_seconds(other, datetime(2031, 5, 1, tzinfo=UTC), [SecondWindow(0)])
    assert partition_of(db, run_id) == {0: "run_seconds_p20310301", 1: "run_seconds_p20310301",
                                        2: "run_seconds_p20310302", 3: "run_seconds_p20310302"}
    assert partition_of(db, other) == {0: "run_seconds_default"}
    assert runs.series(run_id).to_dict() == series.to_dict()


def test_new_partition_takes_its_rows_from_default(db: Database) -> None:
    runs = RunRepository(db)
    run_id = runs.create(RunRecord(id="", scenario="s"))
    series = make_series(3)
    runs.append_seconds(run_id, datetime(2031, 7, 4, 10, tzinfo=UTC), list(series.seconds.values()))
    assert set(partition_of(db, run_id).values()) == {"run_seconds_default"}
    assert ensure_partitions(db, days_ahead=0, today=date(2031, 7, 4)) == ["run_seconds_p20310704"]
    assert set(partition_of(db, run_id).values()) == {"run_seconds_p20310704"}
    assert runs.series(run_id).to_dict() == series.to_dict()


def test_drop_partitions_before(db: Database) -> None:
    ensure_partitions(db, days_ahead=2, today=date(2031, 1, 10))
    runs = RunRepository(db)
    ids = {}
    for when in (datetime(2031, 1, 9, 12, tzinfo=UTC), datetime(2031, 1, 10, 12, tzinfo=UTC),
                 datetime(2031, 1, 11, 12, tzinfo=UTC)):
        ids[when.day] = runs.create(RunRecord(id="", scenario="s"))
        runs.append_seconds(ids[when.day], when, [SecondWindow(0)])
    assert partition_of(db, ids[9]) == {0: "run_seconds_default"}
    assert drop_partitions_before(db, date(2031, 1, 11)) == ["run_seconds_p20310110"]
    assert list_partitions(db) == ["run_seconds_p20310111", "run_seconds_p20310112",
                                   "run_seconds_default"]
    assert runs.series(ids[9]).seconds == {}
    assert runs.series(ids[10]).seconds == {}
    assert sorted(runs.series(ids[11]).seconds) == [0]
    assert drop_partitions_before(db, date(2031, 1, 11)) == []


def test_downgrade_drops_partitions_too(db: Database) -> None:
    ensure_partitions(db, days_ahead=1, today=date(2031, 2, 1))
    db.downgrade("base")
    with db.session() as s:
        left = s.execute(
            text("SELECT count(*) FROM pg_class WHERE relname LIKE :p AND relkind IN ('r', 'p')"),
            {"p": "run_seconds%"},
        ).scalar_one()
    assert left == 0
    db.migrate()
    assert list_partitions(db) == ["run_seconds_default"]


def test_unreachable_server_gives_storage_error_without_password() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port now that it is closed again.
    url = f"postgresql://intperf:s3cret-Pa55@127.0.0.1:{port}/intperf"
    with Database(url) as db, pytest.raises(StorageError) as err:
        db.migrate()
    msg = str(err.value)
    assert "s3cret-Pa55" not in msg
    assert f"postgresql+psycopg://intperf:***@127.0.0.1:{port}/intperf" in msg
    assert err.value.retriable
    assert "s3cret-Pa55" not in repr(db)


def test_unsupported_url_gives_storage_error_without_password() -> None:
    with pytest.raises(StorageError) as err:
        Database("mysql://root:hunter2@localhost/db")
    assert "hunter2" not in str(err.value) and "***" in str(err.value)
    assert not err.value.retriable
