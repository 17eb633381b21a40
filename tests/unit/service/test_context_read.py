"""ServiceContext.read: inline on SQLite, in a worker thread on PostgreSQL."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from intperf.service.context import ServiceContext


def fake_ctx(dialect: str) -> Any:
    return SimpleNamespace(db=SimpleNamespace(dialect=dialect))


@pytest.mark.parametrize(("dialect", "inline"), [("sqlite", True), ("postgresql", False)])
async def test_read_runs_inline_only_on_sqlite(dialect: str, inline: bool) -> None:
    def which(a: int, *, b: int) -> tuple[int, int]:
        return threading.get_ident(), a + b

    ident, total = await ServiceContext.read(fake_ctx(dialect), which, 1, b=2)
    assert total == 3
    assert (ident == threading.get_ident()) is inline
