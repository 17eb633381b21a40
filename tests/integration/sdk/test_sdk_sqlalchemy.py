"""instrument_engine on SQLite and PostgreSQL: one DATABASE_QUERY event per statement, at the
loopback receiver, without parameters, with fingerprint, rows and errors; uninstrument."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from intperf.sdk import EventEmitter, HttpTransport, fingerprint, instrument_engine, uninstrument

from .conftest import API_KEY, Receiver

pytestmark = pytest.mark.integration

SECRET = "card-4111-1111-1111-1111"  # a parameter value that must never leave the app


@pytest.fixture
def emitter(receiver: Receiver) -> Iterator[EventEmitter]:
    with EventEmitter(HttpTransport(receiver.url, API_KEY), linger_s=3600.0) as em:
        yield em


def exercise(engine: sa.Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(
            sa.text(f"INSERT INTO {table} (id, note) VALUES (:id, :note)"),
            [{"id": i, "note": SECRET} for i in range(1, 4)],
        )
        conn.execute(
            sa.text(f"UPDATE {table} SET note = :note WHERE id > :id"), {"note": SECRET, "id": 1}
        )
        conn.execute(sa.text(f"SELECT id FROM {table} WHERE id = :id"), {"id": 2}).all()
    with pytest.raises(sa.exc.DBAPIError), engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table_here"))


def check(receiver: Receiver, emitter: EventEmitter, table: str, select_rows: int | None) -> None:
    assert emitter.flush(15.0)
    events = [e for e in receiver.events if table in e["query"]]
    by_start = {e["query"].split()[0].upper(): e for e in events}
    assert set(by_start) == {"CREATE", "INSERT", "UPDATE", "SELECT"}
    for e in receiver.events:
        assert e["kind"] == "DATABASE_QUERY" and e["service"] == "orders-db"
        assert e["fingerprint"] == fingerprint(e["query"])
        assert e["execution_time_ms"] >= 0
    assert by_start["UPDATE"]["rows"] == 2
    assert by_start["INSERT"]["rows"] == 3  # executemany: the driver's total
    assert by_start["SELECT"].get("rows") == select_rows
    failed = [e for e in receiver.events if "no_such_table_here" in e["query"]]
    assert len(failed) == 1 and failed[0]["attributes"]["error"]
    raw = b"".join(r.raw for r in receiver.requests)
    assert SECRET.encode() not in raw


def test_sqlite(receiver: Receiver, emitter: EventEmitter, tmp_path: object) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.db")
    handle = instrument_engine(engine, emitter, "orders-db")
    try:
        exercise(engine, "orders")
        check(receiver, emitter, "orders", select_rows=None)  # sqlite3: rowcount -1 on SELECT
        before = len(receiver.events)
        uninstrument(handle)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).all()
        assert emitter.flush(15.0)
        assert len(receiver.events) == before
    finally:
        handle.remove()
        engine.dispose()


def test_normalized_text_instead_of_literals(receiver: Receiver, emitter: EventEmitter) -> None:
    engine = sa.create_engine("sqlite://")
    with instrument_engine(engine, emitter, "orders-db", normalize_literals=True):
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT '{SECRET}' AS x, 42 AS y").all()
        assert emitter.flush(15.0)
    [event] = receiver.events
    assert event["query"] == "select ? as x, ? as y"
    engine.dispose()


def test_postgresql(receiver: Receiver, emitter: EventEmitter, postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    table = f"sdk_orders_{uuid.uuid4().hex[:8]}"
    handle = instrument_engine(engine, emitter, "orders-db")
    try:
        exercise(engine, table)
        check(receiver, emitter, table, select_rows=1)  # psycopg reports SELECT's rows
    finally:
        handle.remove()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_async_engine_is_unwrapped(receiver: Receiver, emitter: EventEmitter) -> None:
    engine = sa.create_engine("sqlite://")

    class AsyncEngineLike:  # what AsyncEngine offers: the sync engine the events fire on
        sync_engine = engine

    with instrument_engine(AsyncEngineLike(), emitter, "orders-db") as handle:
        assert handle.engine is engine
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).all()
        assert emitter.flush(15.0)
    assert [e["query"] for e in receiver.events] == ["SELECT 1"]
    engine.dispose()
