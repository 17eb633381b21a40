"""``redact_dsn``: the password never survives, in either DSN form; nothing else changes."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from intperf.dbopt.connection import describe_error, dsn_params, redact_dsn
from intperf.errors import UsageError

passwords = st.text(min_size=1, max_size=40).filter(lambda p: "\x00" not in p)
users = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
hosts = st.sampled_from(["127.0.0.1", "db.example.com", "[::1]", "localhost"])


def libpq_quote(value: str) -> str:
    """A value quoted as libpq's key=value syntax reads it."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@given(user=users, password=passwords, host=hosts, port=st.integers(1, 65535))
def test_url_form(user: str, password: str, host: str, port: int) -> None:
    dsn = f"postgresql://{user}:{quote(password, safe='')}@{host}:{port}/shop?sslmode=disable"
    assert redact_dsn(dsn) == f"postgresql://{user}:***@{host}:{port}/shop?sslmode=disable"


@given(user=users, password=passwords)
def test_keyword_form_quoted(user: str, password: str) -> None:
    dsn = f"host=127.0.0.1 user={user} password={libpq_quote(password)} dbname=shop"
    assert conninfo_to_dict(dsn)["password"] == password  # the DSN means what we think
    assert redact_dsn(dsn) == f"host=127.0.0.1 user={user} password=*** dbname=shop"


@given(password=st.text(alphabet="abcXYZ019!#$%&()*+,-./:;<>?@[]^_`{|}~", min_size=1))
def test_keyword_form_bare_and_spaced(password: str) -> None:
    dsn = f"dbname=shop  password =  {password}   port=5432"
    assert redact_dsn(dsn) == "dbname=shop  password =  ***   port=5432"


@given(password=passwords)
def test_password_in_the_url_query(password: str) -> None:
    dsn = f"postgresql://127.0.0.1/shop?user=app&password={quote(password, safe='')}&x=1"
    assert redact_dsn(dsn) == "postgresql://127.0.0.1/shop?user=app&password=***&x=1"


@given(st.text())
def test_never_raises(text: str) -> None:
    redact_dsn(text)


@pytest.mark.parametrize(("dsn", "shown"), [
    ("postgresql://app@127.0.0.1/shop", "postgresql://app@127.0.0.1/shop"),
    ("postgres://app:p%40ss@h/db", "postgres://app:***@h/db"),
    ("postgresql://app:p@ss@h/db", "postgresql://app:***@h/db"),  # unencoded '@': hide more
    ("host=h password='unterminated secret", "host=h password=***"),
    ("host=h password=a\\ b port=1", "host=h password=*** port=1"),
    ("PASSWORD=x host=h", "PASSWORD=*** host=h"),
    ("host=h", "host=h"),
])
def test_examples(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


def test_dsn_params_errors_never_show_the_password() -> None:
    with pytest.raises(UsageError, match="dsn: not a valid") as info:
        dsn_params("host=h password='s3cret")
    assert "s3cret" not in str(info.value)
    assert dsn_params("postgresql://u:p@h:5433/d")["port"] == "5433"


def test_describe_error_names_the_timeout() -> None:
    from psycopg import errors

    assert describe_error(errors.QueryCanceled("canceling statement due to statement timeout"),
                          statement_timeout_ms=200).startswith("statement_timeout (200 ms)")
    assert describe_error(errors.LockNotAvailable("canceling statement due to lock timeout"),
                          lock_timeout_ms=50).startswith("lock_timeout (50 ms)")
    assert "pg_read_all_stats" in describe_error(errors.InsufficientPrivilege("permission"))
