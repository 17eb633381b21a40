"""The store on SQLite (a file under tmp_path): the shared cases plus SQLite specifics."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from intperf.errors import StorageError
from intperf.store import Database, drop_partitions_before, ensure_partitions, list_partitions

from .cases import *  # noqa: F403 - the shared cases run here against SQLite
from .cases import HEAD_REVISION
from .stream_cases import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'intperf.db'}"


def test_connection_settings(db: Database) -> None:
    with db.engine.connect() as conn:
        pragma = {
            p: conn.execute(text(f"PRAGMA {p}")).scalar_one()
            for p in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        }
    assert pragma == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1,
                      "synchronous": 1}


def test_partitions_are_a_no_op(db: Database) -> None:
    assert ensure_partitions(db, days_ahead=3) == []
    assert list_partitions(db) == []
    assert drop_partitions_before(db, date(2026, 1, 1)) == []


def test_unopenable_file_gives_storage_error(tmp_path: Path) -> None:
    with Database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}") as db, \
            pytest.raises(StorageError, match=r"storage sqlite:///.*unable to open"):
        db.migrate()


def test_in_memory_database_is_shared_between_threads() -> None:
    import threading

    with Database("sqlite://") as db:
        db.migrate()
        seen: list[str | None] = []
        t = threading.Thread(target=lambda: seen.append(db.revision()))
        t.start()
        t.join()
        assert seen == [HEAD_REVISION]
