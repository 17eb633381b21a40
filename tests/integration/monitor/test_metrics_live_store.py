"""LiveLatency over a real (SQLite) store: priming, new windows, new services, UTC midnight."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from intperf.loadtest.results import SecondWindow
from intperf.monitor.metrics_live import LiveLatency, latency_bounds
from intperf.store import Database, StreamRepository
from intperf.store.stream_repository import LiveWindow, StreamProgress

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(f"sqlite:///{tmp_path / 'live.db'}") as database:
        database.migrate()
        yield database


def _store(db: Database, service: str, at: datetime, values_ms: list[float]) -> None:
    w = SecondWindow(0)
    rw = w.window("GET /x")
    rw.latency.record_many(values_ms)
    rw.service.record_many(values_ms)
    rw.ok = len(values_ms)
    StreamRepository(db).store_progress("t", StreamProgress(windows=[
        LiveWindow(service, int(at.timestamp() * 1000), w)]))


def test_counting_starts_at_the_first_scrape_and_resets_at_midnight(db: Database) -> None:
    late = DAY + timedelta(hours=23, minutes=57)
    _store(db, "shop", late, [10.0, 20.0])
    acc = LiveLatency(latency_bounds())
    [shop] = acc.refresh(db, late + timedelta(minutes=1))
    assert (shop.count, shop.windows, shop.latest_requests) == (0, 0, 2)  # history, shown
    _store(db, "shop", late + timedelta(minutes=1), [30.0] * 3)
    _store(db, "cart", late + timedelta(minutes=1), [5.0])  # appears after the first scrape
    cart, shop = acc.refresh(db, late + timedelta(minutes=2))
    assert (shop.count, shop.windows, shop.latest_requests) == (3, 1, 3)
    assert (cart.count, cart.windows) == (1, 1)  # counted from its first window
    again = acc.refresh(db, late + timedelta(minutes=2))
    assert [t.count for t in again] == [1, 3]  # nothing new: nothing added
    # The next UTC day: new live runs, counted from zero.
    _store(db, "shop", DAY + timedelta(days=1), [1.0])
    [shop] = acc.refresh(db, DAY + timedelta(days=1, seconds=30))
    assert (shop.count, shop.windows) == (1, 1)
    assert shop.day == DAY + timedelta(days=1)


def test_a_replayed_window_is_not_counted_twice(db: Database) -> None:
    acc = LiveLatency(latency_bounds())
    assert acc.refresh(db, DAY) == []  # primed before any window
    _store(db, "shop", DAY + timedelta(minutes=1), [10.0])
    assert acc.refresh(db, DAY + timedelta(minutes=2))[0].count == 1
    _store(db, "shop", DAY + timedelta(minutes=1), [10.0])  # replayed after a restart
    assert acc.refresh(db, DAY + timedelta(minutes=2))[0].count == 1
