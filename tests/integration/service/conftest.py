"""The service running for real: uvicorn on a free 127.0.0.1 port in a background thread,
on SQLite (a file under tmp) and on PostgreSQL (a fresh database on the session's server).

``service`` is one instance per test module and backend; ``make_service(**limits)`` starts
another (fresh storage) when a test needs different limits.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from service_support import ROLES, LiveService, MakeService
from sqlalchemy.engine import make_url

from intperf.config import load_settings
from intperf.service.app import create_app
from intperf.store import ApiKeyRepository, Database

START_TIMEOUT = 30.0

DEFAULT_LIMITS: dict[str, Any] = {
    "max-users": 50, "max-duration": 60, "max-concurrent-runs": 2,
    "submissions-per-minute": 100, "max-body-bytes": 4096,
}


def _environ(storage_url: str, base: Path, limits: dict[str, Any],
             extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "INTPERF_INTPERF__STORAGE_URL": storage_url,
        "INTPERF_INTPERF__RESULTS_DIR": str(base / "results"),
        "INTPERF_INTPERF__SCENARIO_DIR": str(base),
        "INTPERF_INTPERF__ALLOWED_TARGETS": json.dumps(["127.0.0.1/32"]),
        "INTPERF_INTPERF__STREAM__JOURNAL_DIR": str(base / "journal"),
    }
    for key, value in {**DEFAULT_LIMITS, **limits}.items():
        env[f"INTPERF_INTPERF__LIMITS__{key.upper().replace('-', '_')}"] = json.dumps(value)
    env.update(extra or {})
    return env


@contextlib.contextmanager
def _postgres_database(server_url: str) -> Iterator[str]:
    """A fresh database next to the session's test database; dropped afterwards."""
    url = make_url(server_url)
    name = f"svc_{secrets.token_hex(6)}"
    params: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username,
                              "dbname": url.database, "autocommit": True}
    with psycopg.connect(**params) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # a generated identifier, not user input
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**params) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def run_service(storage_url: str, base: Path, backend: str, *,
                extra_env: dict[str, str] | None = None,
                **limits: Any) -> Iterator[LiveService]:
    """Migrate, create one key per role, serve on a free loopback port; stop at exit.

    ``extra_env`` adds INTPERF_* settings beyond the limits (webhooks, schedules).
    """
    settings = load_settings(environ=_environ(storage_url, base, limits, extra_env))
    keys: dict[str, str] = {}
    key_ids: dict[str, str] = {}
    with Database(storage_url) as db:
        db.migrate()
        repo = ApiKeyRepository(db)
        for role in ROLES:
            key_ids[role], keys[role] = repo.create(f"test-{role}", role)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), ws="none", log_level="warning",
                            lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    thread = threading.Thread(target=serve, name=f"intperf-service-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if errors or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the service did not start: {errors!r}")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(10)
            sock.close()
            raise TimeoutError("the service did not start in time")
        thread.join(0.02)  # wait on the server thread, not a bare sleep
    try:
        yield LiveService(f"http://127.0.0.1:{port}", backend, settings, keys, key_ids)
    finally:
        server.should_exit = True
        thread.join(30)
        if thread.is_alive():
            server.force_exit = True
            thread.join(10)
        sock.close()
        assert not errors, errors


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def make_service(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeService]:
    """Start services on this module's backend; each gets fresh storage. All stop at the end."""
    backend: str = request.param
    server_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    with contextlib.ExitStack() as stack:

        def make(extra_env: dict[str, str] | None = None, **limits: Any) -> LiveService:
            base = tmp_path_factory.mktemp(f"service-{backend}")
            if server_url is None:
                storage = f"sqlite:///{base / 'intperf.db'}"
            else:
                storage = stack.enter_context(_postgres_database(server_url))
            return stack.enter_context(run_service(storage, base, backend,
                                                   extra_env=extra_env, **limits))

        yield make


@pytest.fixture(scope="module")
def service(make_service: MakeService) -> LiveService:
    """The service with the default test limits, shared by the tests of a module."""
    return make_service()
