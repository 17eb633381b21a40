"""SQLAlchemy instrumentation: one ``DATABASE_QUERY`` event per statement run through an
engine (sync ``Engine`` or ``AsyncEngine.sync_engine``), from cursor-execute events.

The statement text is sent without its parameters, with a cheap fingerprint
(:mod:`intperf.sdk.fingerprint`). SQLAlchemy is imported when an engine is instrumented.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from intperf.sdk.emitter import EventEmitter
from intperf.sdk.events import database_query
from intperf.sdk.fingerprint import fingerprint, normalize_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine, ExceptionContext

__all__ = ["EngineInstrumentation", "instrument_engine", "uninstrument"]

_STARTS: Final = "intperf.sdk.starts"  # Connection.info key: execution id -> start time
#: More pending starts than this means events were lost (an interrupted execute): reset.
_MAX_PENDING: Final = 64


def _key(context: Any, cursor: Any) -> int:
    """One execution: its ExecutionContext (present in SQLAlchemy 2), else its cursor."""
    return id(context) if context is not None else id(cursor)


def _sync_engine(engine: Any) -> Engine:
    sync: Engine = getattr(engine, "sync_engine", engine)
    return sync


class EngineInstrumentation:
    """The listeners attached to one engine; :meth:`remove` (or ``with``) detaches them."""

    def __init__(
        self,
        engine: Engine,
        emitter: EventEmitter,
        service: str,
        *,
        normalize_literals: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.engine = engine
        self._emitter = emitter
        self._service = service
        self._normalize = normalize_literals
        self._clock = clock
        self._attached = False

    def attach(self) -> Self:
        """Listen to the engine's cursor executions and errors."""
        from sqlalchemy import event

        if not self._attached:
            event.listen(self.engine, "before_cursor_execute", self._before)
            event.listen(self.engine, "after_cursor_execute", self._after)
            event.listen(self.engine, "handle_error", self._error)
            self._attached = True
        return self

    def remove(self) -> None:
        """Detach the listeners; statements are no longer reported."""
        from sqlalchemy import event

        if self._attached:
            event.remove(self.engine, "before_cursor_execute", self._before)
            event.remove(self.engine, "after_cursor_execute", self._after)
            event.remove(self.engine, "handle_error", self._error)
            self._attached = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def _before(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        try:
            starts: dict[int, float] = conn.info.setdefault(_STARTS, {})
            if len(starts) >= _MAX_PENDING:
                starts.clear()
            starts[_key(context, cursor)] = self._clock()
        except Exception:  # noqa: BLE001 - never fail the application's query
            return

    def _after(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        try:
            started = conn.info.get(_STARTS, {}).pop(_key(context, cursor), None)
            if started is not None:
                rows = getattr(cursor, "rowcount", -1)
                self._report(statement, started, rows if isinstance(rows, int) else -1, None)
        except Exception:  # noqa: BLE001 - never fail the application's query
            return

    def _error(self, context: ExceptionContext) -> None:
        try:
            conn, statement = context.connection, context.statement
            if conn is None or statement is None:
                return
            # ExceptionContext.cursor is documented but unset in SQLAlchemy 2.1: use getattr.
            key = _key(context.execution_context, getattr(context, "cursor", None))
            started = conn.info.get(_STARTS, {}).pop(key, None)
            if started is not None:
                error = type(context.original_exception).__name__
                self._report(statement, started, -1, error)
        except Exception:  # noqa: BLE001 - never mask the application's database error
            return

    def _report(self, statement: str, started: float, rows: int, error: str | None) -> None:
        try:
            elapsed_ms = (self._clock() - started) * 1000.0
            normalized = normalize_sql(statement) if self._normalize else None
            self._emitter.emit(
                database_query(
                    self._service,
                    normalized if normalized is not None else statement,
                    max(0.0, elapsed_ms),
                    rows=rows if rows >= 0 else None,
                    fingerprint=fingerprint(statement),
                    attributes={"error": error} if error else None,
                )
            )
        except Exception:  # noqa: BLE001 - never fail the application's query
            return


def instrument_engine(
    engine: Any,
    emitter: EventEmitter,
    service: str,
    *,
    normalize_literals: bool = False,
) -> EngineInstrumentation:
    """Report every statement ``engine`` runs (an ``Engine`` or an ``AsyncEngine``).

    ``normalize_literals`` sends the normalised text (literals as ``?``) instead of the
    statement, for code that inlines values into SQL. Returns the handle for
    :func:`uninstrument`.
    """
    return EngineInstrumentation(
        _sync_engine(engine), emitter, service, normalize_literals=normalize_literals
    ).attach()


def uninstrument(instrumentation: EngineInstrumentation) -> None:
    """Detach what :func:`instrument_engine` attached."""
    instrumentation.remove()
