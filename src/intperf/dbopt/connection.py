"""Sessions on the target PostgreSQL: :func:`connect_target` (timeouts, read-only, the connect
guarded by a circuit breaker per target and retries), DSN redaction and the translation of
psycopg errors into :class:`TargetDatabaseError`."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from intperf.errors import CallNotPermittedError, TargetDatabaseError, UsageError
from intperf.resilience.outbound import OutboundGuards, OutboundPolicy

__all__ = [
    "CONNECT_GUARDS",
    "MARKER",
    "TargetDatabaseError",
    "connect_target",
    "describe_error",
    "dsn_params",
    "is_connection_failure",
    "redact_dsn",
    "translate_error",
]

log = logging.getLogger(__name__)

#: Leads every statement intperf sends, so pg_stat_statements readers can leave ours out.
MARKER = "/* intperf-dbopt */"
REDACTED = "***"

#: Connecting to an analyzed database: a breaker per host/port/database, 3 attempts with
#: jittered backoff, a retry budget shared by every target (docs/dbopt.md, "Safety").
CONNECT_GUARDS = OutboundGuards("dbopt-connect", OutboundPolicy(initial_interval_s=0.2,
                                                                max_interval_s=2.0))
#: SQLSTATE classes of a connection attempt that another attempt will not fix (28: bad
#: password or role, 3D: no such database); the rest (refused, timeouts, too many
#: connections) are worth another try.
_FINAL_CONNECT_STATES = ("28", "3D")

_URL = re.compile(r"^(?P<scheme>postgres(?:ql)?://)(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***`` (URL and ``key=value`` forms); never raises.

    Malformed text is redacted conservatively: an unterminated quoted password hides the rest.
    """
    match = _URL.match(dsn)
    if match:
        return match.group("scheme") + _redact_url_rest(match.group("rest"))
    return _redact_keywords(dsn)


def _redact_url_rest(rest: str) -> str:
    # The user info ends at the last '@' before the query string, or the last '@' at all when
    # the password itself holds an unencoded '?': hiding too much beats showing a password.
    query = rest.find("?")
    at = rest.rfind("@", 0, query if query >= 0 else len(rest))
    if at < 0 and query >= 0:
        at = rest.rfind("@")
    if at >= 0:
        userinfo, host_part = rest[:at], rest[at:]
        user, colon, _password = userinfo.partition(":")
        rest = (user + colon + REDACTED if colon else userinfo) + host_part
    return _QUERY_PASSWORD.sub(lambda m: m.group(1) + REDACTED, rest)


def _redact_keywords(dsn: str) -> str:
    """libpq's ``key = value`` syntax: values are bare (backslash escapes) or single-quoted."""
    out: list[str] = []
    i, n = 0, len(dsn)
    while i < n:
        start = i
        while i < n and dsn[i].isspace():
            i += 1
        key_start = i
        while i < n and dsn[i] != "=" and not dsn[i].isspace():
            i += 1
        key = dsn[key_start:i]
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n or dsn[i] != "=":
            out.append(dsn[start:i])
            continue
        i += 1
        while i < n and dsn[i].isspace():
            i += 1
        value_start = i
        i = _value_end(dsn, i)
        if key.lower() == "password":
            out.append(dsn[start:value_start] + REDACTED)
        else:
            out.append(dsn[start:i])
    return "".join(out)


def _value_end(dsn: str, i: int) -> int:
    """Index just past the value starting at ``i`` (end of text when a quote is unterminated)."""
    n = len(dsn)
    if i < n and dsn[i] == "'":
        i += 1
        while i < n:
            if dsn[i] == "\\":
                i += 2
            elif dsn[i] == "'":
                return i + 1
            else:
                i += 1
        return n
    while i < n and not dsn[i].isspace():
        i += 2 if dsn[i] == "\\" else 1
    return min(i, n)


def dsn_params(dsn: str) -> dict[str, str]:
    """The DSN's parameters as libpq parses them; UsageError (password-free) when it cannot."""
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except (psycopg.Error, ValueError, TypeError) as exc:
        reason = str(exc).replace(dsn, redact_dsn(dsn)).strip() or type(exc).__name__
        raise UsageError(f"dsn: not a valid PostgreSQL connection string: {reason}") from None


def is_connection_failure(exc: BaseException, conn: psycopg.Connection[Any] | None = None
                          ) -> bool:
    """True when the session is gone rather than one statement failed: the analysis must stop.

    A closed or broken connection, a client-side failure, SQLSTATE class 08 (connection
    exception) or an administrator shutting the session down (57P01-57P03).
    """
    if conn is not None and (conn.closed or conn.broken):
        return True
    if not isinstance(exc, psycopg.Error):
        return False
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return state.startswith("08") or state in ("57P01", "57P02", "57P03")


def describe_error(exc: BaseException, *, statement_timeout_ms: int | None = None,
                   lock_timeout_ms: int | None = None) -> str:
    """One line saying why a statement failed, naming the timeout that fired."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, pg_errors.LockNotAvailable):
        limit = f" ({lock_timeout_ms} ms)" if lock_timeout_ms is not None else ""
        return f"lock_timeout{limit} expired waiting for a lock: {first}"
    if isinstance(exc, pg_errors.QueryCanceled):
        limit = f" ({statement_timeout_ms} ms)" if statement_timeout_ms is not None else ""
        return f"statement_timeout{limit} expired: {first}"
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return (f"permission denied ({first}); a role with pg_read_all_stats is enough for the "
                "analysis")
    return first


def translate_error(exc: BaseException, dsn: str, *, statement_timeout_ms: int | None = None,
                    lock_timeout_ms: int | None = None) -> TargetDatabaseError:
    """A :class:`TargetDatabaseError` for a psycopg error on ``dsn`` (password never shown)."""
    password = dsn_password(dsn)
    why = describe_error(exc, statement_timeout_ms=statement_timeout_ms,
                         lock_timeout_ms=lock_timeout_ms)
    if password:
        why = why.replace(password, REDACTED)
    return TargetDatabaseError(f"{redact_dsn(dsn)}: {why}",
                               retriable=is_connection_failure(exc))


def dsn_password(dsn: str) -> str | None:
    """The password written in ``dsn`` (to scrub it from messages), or None."""
    try:
        return conninfo_to_dict(dsn).get("password") or None  # type: ignore[return-value]
    except (psycopg.Error, ValueError, TypeError):
        return None


@contextmanager
def connect_target(dsn: str, *, statement_timeout_ms: int = 5000, lock_timeout_ms: int = 1000,
                   read_only: bool = True, application_name: str = "intperf-dbopt",
                   connect_timeout_s: int = 10, guards: OutboundGuards | None = None
                   ) -> Iterator[psycopg.Connection[Any]]:
    """A session on the target with timeouts set, read-only by default; closed on exit.

    Autocommit is off. ``statement_timeout``, ``lock_timeout`` and
    ``idle_in_transaction_session_timeout`` are set for the session (the last to the statement
    timeout plus 5 s, so an abandoned transaction of ours never holds locks for long);
    ``default_transaction_read_only`` is on when ``read_only``. psycopg errors leaving the block
    become :class:`TargetDatabaseError` whose message names the DSN through :func:`redact_dsn`.
    Connecting goes through ``guards`` (default :data:`CONNECT_GUARDS`): retried while the
    failure is retriable, refused at once while the target's breaker is open.
    """
    shown = redact_dsn(dsn)
    conn = _connect(dsn, shown, application_name, connect_timeout_s, guards or CONNECT_GUARDS)
    timeouts = {"statement_timeout_ms": statement_timeout_ms, "lock_timeout_ms": lock_timeout_ms}
    try:
        with conn:
            conn.execute(
                "/* intperf-dbopt */ SELECT pg_catalog.set_config('statement_timeout', %s, false),"
                " pg_catalog.set_config('lock_timeout', %s, false),"
                " pg_catalog.set_config('idle_in_transaction_session_timeout', %s, false),"
                " pg_catalog.set_config('default_transaction_read_only', %s, false)",
                (f"{statement_timeout_ms}ms", f"{lock_timeout_ms}ms",
                 f"{statement_timeout_ms + 5000}ms", "on" if read_only else "off"))
            conn.commit()
            log.debug("connected to %s (statement_timeout %d ms, lock_timeout %d ms)", shown,
                      statement_timeout_ms, lock_timeout_ms)
            yield conn
    except psycopg.Error as exc:
        raise translate_error(exc, dsn, **timeouts) from exc


def _target_key(dsn: str) -> str:
    try:
        p = conninfo_to_dict(dsn)
    except (psycopg.Error, ValueError, TypeError):
        return "?"
    host = str(p.get("hostaddr") or p.get("host") or "localhost")
    return f"{host}:{p.get('port') or 5432}/{p.get('dbname') or ''}"


def _connect(dsn: str, shown: str, application_name: str, connect_timeout_s: int,
             guards: OutboundGuards) -> psycopg.Connection[Any]:
    password = dsn_password(dsn)

    def attempt() -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(dsn, autocommit=False, application_name=application_name,
                                   connect_timeout=max(1, connect_timeout_s))
        except psycopg.Error as exc:
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if password:
                why = why.replace(password, REDACTED)
            final = (exc.sqlstate or "").startswith(_FINAL_CONNECT_STATES)
            error = TargetDatabaseError(f"cannot connect to {shown}: {why}", retriable=not final)
            # A wrong password says nothing of the target's health: the breaker ignores it.
            error.counts_as_failure = not final
            raise error from exc

    target = _target_key(dsn)
    try:
        return guards.call_sync(target, attempt)
    except CallNotPermittedError as exc:
        wait = guards.breaker(target).wait_remaining
        raise TargetDatabaseError(
            f"cannot connect to {shown}: it failed repeatedly, not trying again for "
            f"{wait:.0f} s (circuit breaker open)", retriable=False) from exc
