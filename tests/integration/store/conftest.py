"""Databases for the store tests; each test module provides ``database_url`` for its backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from intperf.store import Database


@pytest.fixture
def empty_db(database_url: str) -> Iterator[Database]:
    """A database with no schema yet."""
    with Database(database_url) as db:
        yield db


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A database migrated to the latest revision."""
    empty_db.migrate()
    return empty_db
