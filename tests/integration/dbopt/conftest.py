"""Targets for the PostgreSQL optimizer's tests: ``pg_target`` is a fresh database on the
session's private PostgreSQL 15 (``postgres_url``: pg_stat_statements preloaded) with
``pg_stat_statements`` and ``hypopg`` created, dropped after the test.

Shared by the analysis and the advisor tests (docs/internals-dbopt.md).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


@dataclass
class PgTarget:
    """A throwaway database: ``dsn`` is a libpq URL for the superuser ``postgres``."""

    host: str
    port: int
    dbname: str
    user: str = "postgres"
    roles: list[str] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/DBNAME``."""
        return self.dsn_for(self.user)

    def dsn_for(self, user: str, password: str | None = None) -> str:
        """The DSN of this database for another role (the server trusts loopback, so the
        password is only carried, never checked)."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A superuser connection in autocommit mode (for setting up schemas and workloads)."""
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)

    def create_role(self, *grants: str, password: str | None = None) -> str:
        """A LOGIN role holding ``grants`` (role names such as ``pg_read_all_stats``); dropped
        with the database. Returns its name."""
        name = f"role_{secrets.token_hex(4)}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            if password is not None:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)))
            for grant in grants:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant),
                                                             sql.Identifier(name)))
        self.roles.append(name)
        return name

    def reset_statements(self) -> None:
        """Forget this database's pg_stat_statements entries (the set-up's own)."""
        with self.connect() as conn:
            conn.execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
                         "WHERE datname = current_database()), 0)")


@pytest.fixture
def pg_target(postgres_url: str, hypopg_available: bool) -> Iterator[PgTarget]:
    """A fresh database with pg_stat_statements and hypopg, its statements reset."""
    url = make_url(postgres_url)
    name = f"dbopt_{secrets.token_hex(6)}"
    admin: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username,
                             "dbname": url.database, "autocommit": True}
    with psycopg.connect(**admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    target = PgTarget(str(url.host), int(url.port or 5432), name, str(url.username))
    try:
        with target.connect() as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE EXTENSION hypopg")
        target.reset_statements()
        yield target
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            for role in target.roles:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
