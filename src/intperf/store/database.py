"""The run database: one SQLAlchemy engine (SQLite or PostgreSQL), sessions and migrations.

Every SQLAlchemy/driver failure leaves this module as :class:`~intperf.errors.StorageError`
naming the URL with its password redacted.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from intperf.errors import StorageError

__all__ = ["MIGRATIONS_DIR", "Database"]

log = logging.getLogger(__name__)

#: The Alembic script folder shipped inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: SQLite waits this long for a competing writer before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000

# Any constant key: serializes concurrent `migrate()` calls against one PostgreSQL database.
_MIGRATION_LOCK_KEY = 0x1_4E_7FE_0F

_RETRIABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)

_stdlib_dumps = functools.partial(json.dumps, separators=(",", ":"), allow_nan=False)
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _json_dumps(value: Any) -> str:
    """JSON text of a column value: orjson, ~7x faster than ``json`` on run seconds.

    Storing an imported 10 M-line JTL spent 2.3 s of 6.5 in ``json.dumps`` (issue 4's
    benchmark). orjson writes what ``json.loads`` reads back equal; what it refuses (an int
    beyond 64 bits, a key that is not a plain scalar) goes to ``json``, which also keeps
    refusing NaN and infinities. orjson itself would write those as null, so a float
    anywhere sends the value through a finiteness check first.
    """
    try:
        text = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return _stdlib_dumps(value)
    if b"null" in text and _has_non_finite(value):
        return _stdlib_dumps(value)  # raises ValueError, as before
    return text.decode()


def _has_non_finite(value: Any) -> bool:
    """Whether a NaN or infinity is anywhere in ``value`` (orjson writes them as null)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def _sqlite_on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """Per-connection SQLite settings: WAL, a busy timeout and enforced foreign keys."""
    cur = dbapi_conn.cursor()
    try:
        # WAL lets readers run alongside the one writer; NORMAL sync is durable against a
        # process crash (what the executor guards against), only an OS crash may lose the
        # last commits. https://www.sqlite.org/wal.html
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _normalize(url: str | URL) -> URL:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the only PostgreSQL driver we ship: a bare `postgresql://` means it.
        u = u.set(drivername="postgresql+psycopg")
    return u


class Database:
    """The run database at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        try:
            self._url = _normalize(url)
        except exc.ArgumentError as e:
            # The URL did not parse: it is not shown, it may hold a password.
            raise StorageError(f"invalid storage URL: {e}", retriable=False) from None
        self.url = self._url.render_as_string(hide_password=True)
        """The URL with its password replaced by ``***`` (safe to log and show)."""
        backend = self._url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StorageError(
                f"unsupported storage URL {self.url}: use sqlite:/// or postgresql://",
                retriable=False,
            )
        with self.translated():
            if backend == "sqlite":
                self.engine = self._sqlite_engine(echo)
            else:
                self.engine = create_engine(
                    self._url, pool_pre_ping=True, echo=echo, json_serializer=_json_dumps
                )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _sqlite_engine(self, echo: bool) -> Engine:
        db = self._url.database
        memory = not db or db == ":memory:" or self._url.query.get("mode") == "memory"
        extra: dict[str, Any] = {"poolclass": StaticPool} if memory else {}
        engine = create_engine(
            self._url,
            connect_args={"check_same_thread": False},
            echo=echo,
            json_serializer=_json_dumps,
            **extra,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine

    @property
    def dialect(self) -> str:
        """The backend's name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def _translate(self, e: BaseException) -> StorageError:
        """A StorageError for a SQLAlchemy/driver failure, without the password anywhere."""
        orig = getattr(e, "orig", None)
        reason = str(orig if orig is not None else e).strip().splitlines()
        msg = reason[0] if reason else type(e).__name__
        if self._url.password:
            msg = msg.replace(str(self._url.password), "***")
        retriable = isinstance(e, _RETRIABLE) or bool(getattr(e, "connection_invalidated", False))
        return StorageError(f"storage {self.url}: {msg}", retriable=retriable)

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Turn SQLAlchemy errors raised in the block into StorageError."""
        try:
            yield
        except exc.StatementError as e:
            # A value our code could not bind (naive datetime, NaN in JSON) is the caller's
            # mistake, not the database's: hand back the original error.
            if not isinstance(e, exc.DBAPIError) and isinstance(e.orig, ValueError | TypeError):
                raise e.orig from e
            raise self._translate(e) from e
        except exc.SQLAlchemyError as e:
            raise self._translate(e) from e

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One short transaction: committed when the block ends, rolled back on an error."""
        with self.translated(), self._sessions.begin() as s:
            yield s

    def _alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("path_separator", "os")
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (Alembic ``upgrade head`` by default)."""
        self._run_alembic(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        """Take the schema back to ``revision`` (``base`` drops every table)."""
        self._run_alembic(command.downgrade, revision)

    def _run_alembic(self, fn: Callable[[Config, str], None], revision: str) -> None:
        cfg = self._alembic_config()
        log.info("migrating %s to %s", self.url, revision)
        with self.translated(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            fn(cfg, revision)

    def revision(self) -> str | None:
        """The schema's current Alembic revision (None when never migrated)."""
        with self.translated(), self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.url!r})"
