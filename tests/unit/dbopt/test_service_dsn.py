"""The service's DSN check: allowed parameters, loopback or allowed hosts, the address pinned,
libpq kept away from the service's own credentials. A stub resolver answers names."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from intperf.errors import TargetNotAllowedError, UsageError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.service.api_db import LOOPBACK, check_dsn, scrub

NAMES = {"db.internal": ["10.1.2.3"], "evil.example": ["10.9.9.9"],
         "localhost": ["127.0.0.1"], "mixed.internal": ["10.1.2.3", "192.0.2.7"]}


def policy(*allowed: str) -> TargetPolicy:
    return TargetPolicy.parse([*allowed, *LOOPBACK], resolver=lambda h: NAMES[h])


def checked(dsn: str, *allowed: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(
        check_dsn(dsn, list(allowed), policy(*allowed))).items()}


def test_loopback_is_always_allowed_and_pinned() -> None:
    p = checked("postgresql://app:pw@127.0.0.1:6543/shop")
    assert (p["host"], p["hostaddr"], p["port"], p["password"]) == (
        "127.0.0.1", "127.0.0.1", "6543", "pw")
    assert p["passfile"] == p["sslcert"] == p["sslkey"] == "/nonexistent/intperf"
    assert checked("host=localhost dbname=x")["hostaddr"] == "127.0.0.1"
    assert checked("host=::1 dbname=x")["hostaddr"] == "::1"


def test_no_password_means_none_not_the_services() -> None:
    assert checked("postgresql://app@127.0.0.1/shop")["password"] == ""


def test_other_hosts_need_the_allowlist() -> None:
    with pytest.raises(TargetNotAllowedError, match=r"^dsn: 10\.1\.2\.3 is not in the allowed"):
        checked("host=10.1.2.3 dbname=x")
    assert checked("host=10.1.2.3 dbname=x", "10.0.0.0/8")["hostaddr"] == "10.1.2.3"
    # A name is pinned to the address it was checked with (no second DNS answer).
    p = checked("postgresql://u@db.internal/x", "10.0.0.0/8")
    assert (p["host"], p["hostaddr"]) == ("db.internal", "10.1.2.3")
    with pytest.raises(TargetNotAllowedError, match=r"192\.0\.2\.7"):
        checked("postgresql://u@mixed.internal/x", "10.0.0.0/8")
    # hostaddr is what is checked: the name only names the server for TLS.
    with pytest.raises(TargetNotAllowedError):
        checked("host=localhost hostaddr=10.9.9.9 dbname=x")


@pytest.mark.parametrize(("dsn", "message"), [
    ("dbname=x", "name the host"),
    ("host=/tmp dbname=x", "Unix-socket"),
    ("host=@abstract dbname=x", "Unix-socket"),
    ("host=127.0.0.1 passfile=/root/.pgpass", "'passfile' is not accepted"),
    ("host=127.0.0.1 options='-c statement_timeout=0'", "'options' is not accepted"),
    ("host=127.0.0.1 service=prod", "'service' is not accepted"),
    ("host=127.0.0.1,127.0.0.2", "one host only"),
    ("host=127.0.0.1 port=99999", "out of range"),
    ("host=127.0.0.1 port=http", "not a number"),
    ("nonsense", "not a valid PostgreSQL connection string"),
])
def test_refused(dsn: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        checked(dsn)
    assert str(info.value).startswith("dsn: ")


def test_scrub_removes_the_password_from_audit_details() -> None:
    detail = {"error": "password s3cr3t rejected", "n": 1, "ids": ["a s3cr3t", 2],
              "nested": {"sql": "s3cr3t"}}
    assert scrub(detail, "s3cr3t") == {"error": "password *** rejected", "n": 1,
                                       "ids": ["a ***", 2], "nested": {"sql": "***"}}
    assert scrub(detail, None) is detail
