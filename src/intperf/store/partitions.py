"""Daily partitions of ``run_seconds`` on PostgreSQL: created ahead, dropped for retention.

DDL cannot take bound parameters, so partition names and bounds are formatted here from
``date`` objects only (never from text read from anywhere); every other value is bound.
On SQLite there are no partitions and retention deletes rows.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, delete, text

from intperf.store.database import Database
from intperf.store.tables import RunSecondRow

__all__ = [
    "DEFAULT_PARTITION",
    "drop_partitions_before",
    "ensure_partitions",
    "list_partitions",
    "partition_name",
]

log = logging.getLogger(__name__)

PARENT = "run_seconds"
#: The catch-all partition for rows no daily partition covers.
DEFAULT_PARTITION = "run_seconds_default"
_DAILY = re.compile(r"run_seconds_p(\d{8})")


def partition_name(day: date) -> str:
    """The daily partition of ``day``: ``run_seconds_pYYYYMMDD``."""
    return f"{PARENT}_p{day:%Y%m%d}"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _bound(day: date) -> str:
    # A literal built from a date object: the only text that reaches DDL unbound.
    return f"'{day.isoformat()} 00:00:00+00'"


def _today() -> date:
    return datetime.now(UTC).date()


def list_partitions(db: Database) -> list[str]:
    """Names of run_seconds' partitions, oldest daily first, DEFAULT last (none on SQLite)."""
    if db.dialect != "postgresql":
        return []
    with db.session() as s:
        names = s.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:parent AS regclass)"
            ),
            {"parent": PARENT},
        ).scalars()
        return sorted(names, key=lambda n: (n == DEFAULT_PARTITION, n))


def _exists(conn: Connection, name: str) -> bool:
    found = conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
    return bool(found.scalar_one())


def _create_daily(conn: Connection, day: date) -> None:
    """Create ``day``'s partition, moving in rows the DEFAULT partition already holds for it.

    PostgreSQL refuses a new partition while the DEFAULT partition has rows in its range
    (https://www.postgresql.org/docs/15/sql-createtable.html, "DEFAULT"): they are set aside
    in a temporary table and inserted again through the parent once the partition exists.
    """
    name = partition_name(day)
    lo, hi = _start_of(day), _start_of(day + timedelta(days=1))
    # Writers wait for the few statements below; readers are not blocked.
    conn.execute(text("LOCK TABLE run_seconds IN SHARE ROW EXCLUSIVE MODE"))
    if _exists(conn, name):
        return
    moved = conn.execute(
        text("SELECT count(*) FROM run_seconds_default WHERE ts >= :lo AND ts < :hi"),
        {"lo": lo, "hi": hi},
    ).scalar_one()
    if moved:
        conn.execute(text("CREATE TEMPORARY TABLE _moving (LIKE run_seconds) ON COMMIT DROP"))
        conn.execute(
            text(
                "WITH m AS (DELETE FROM run_seconds_default WHERE ts >= :lo AND ts < :hi "
                "RETURNING *) INSERT INTO _moving SELECT * FROM m"
            ),
            {"lo": lo, "hi": hi},
        )
    conn.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ({_bound(day)}) TO ({_bound(day + timedelta(days=1))})"
        )
    )
    if moved:
        conn.execute(text("INSERT INTO run_seconds SELECT * FROM _moving"))
        conn.execute(text("DROP TABLE _moving"))
        log.info("moved %d rows from %s into %s", moved, DEFAULT_PARTITION, name)


def ensure_partitions(db: Database, days_ahead: int = 7, today: date | None = None) -> list[str]:
    """Create the daily partitions of ``today`` and the next ``days_ahead`` days.

    Idempotent; returns the names it created (missing ones only). Rows already in the DEFAULT
    partition for a new day move into that day's partition. A no-op on SQLite.
    """
    if days_ahead < 0:
        raise ValueError(f"days_ahead must be >= 0, not {days_ahead}")
    if db.dialect != "postgresql":
        return []
    first = today if today is not None else _today()
    created: list[str] = []
    for offset in range(days_ahead + 1):
        day = first + timedelta(days=offset)
        name = partition_name(day)
        # One transaction per day keeps the parent's lock short.
        with db.session() as s:
            conn = s.connection()
            if _exists(conn, name):
                continue
            _create_daily(conn, day)
        created.append(name)
        log.info("created partition %s", name)
    return created


def drop_partitions_before(db: Database, cutoff_date: date) -> list[str]:
    """Retention: drop daily partitions of days before ``cutoff_date``, delete older rows.

    Rows with ``ts`` before midnight UTC of ``cutoff_date`` are removed: on PostgreSQL by
    dropping whole daily partitions (cheap) and deleting the rest from DEFAULT; on SQLite by
    DELETE. Returns the dropped partitions' names.
    """
    cutoff = _start_of(cutoff_date)
    if db.dialect != "postgresql":
        with db.session() as s:
            # Through the mapped column, so the timestamp is bound in the stored format.
            s.execute(delete(RunSecondRow).where(RunSecondRow.ts < cutoff))
        return []
    dropped: list[str] = []
    for existing in list_partitions(db):
        m = _DAILY.fullmatch(existing)
        if m is None:
            continue
        day = datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC).date()
        if day >= cutoff_date:
            continue
        # The name is rebuilt from the parsed date, so catalog text never reaches the DDL.
        name = partition_name(day)
        with db.session() as s:
            s.execute(text(f"DROP TABLE IF EXISTS {name}"))
        dropped.append(name)
        log.info("dropped partition %s", name)
    with db.session() as s:
        s.execute(text("DELETE FROM run_seconds_default WHERE ts < :cutoff"), {"cutoff": cutoff})
    return dropped
