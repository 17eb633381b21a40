"""EventBuffer: bounded, drops counted, batches by size, by age (fake clock), flush, close."""

from __future__ import annotations

import threading

import pytest

from intperf.sdk.buffer import EventBuffer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ev(i: int) -> dict[str, int]:
    return {"i": i}


def test_full_buffer_drops_and_counts() -> None:
    buf = EventBuffer(capacity=3, batch_size=10, linger_s=1.0, clock=FakeClock())
    results = [buf.put(ev(i)) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert len(buf) == 3
    assert buf.dropped_full == 2
    assert buf.accepted == 3


def test_batch_leaves_when_size_reached() -> None:
    buf = EventBuffer(capacity=100, batch_size=4, linger_s=60.0, clock=FakeClock())
    for i in range(3):
        buf.put(ev(i))
    assert buf.poll() == []
    buf.put(ev(3))
    assert buf.poll() == [ev(0), ev(1), ev(2), ev(3)]
    assert buf.poll() == []


def test_batch_is_at_most_batch_size() -> None:
    buf = EventBuffer(capacity=100, batch_size=4, linger_s=60.0, clock=FakeClock())
    for i in range(10):
        buf.put(ev(i))
    assert [e["i"] for e in buf.poll()] == [0, 1, 2, 3]
    assert [e["i"] for e in buf.poll()] == [4, 5, 6, 7]
    assert buf.poll() == []  # two events left, younger than linger


def test_batch_leaves_when_oldest_lingered() -> None:
    clock = FakeClock()
    buf = EventBuffer(capacity=100, batch_size=500, linger_s=1.0, clock=clock)
    buf.put(ev(0))
    clock.advance(0.6)
    buf.put(ev(1))
    assert buf.poll() == []
    clock.advance(0.39)
    assert buf.poll() == []
    clock.advance(0.01)  # the oldest has now waited exactly linger_s
    assert buf.poll() == [ev(0), ev(1)]
    # The age restarts with the next event after the buffer was empty.
    clock.advance(10.0)
    buf.put(ev(2))
    assert buf.poll() == []
    clock.advance(1.0)
    assert buf.poll() == [ev(2)]


def test_take_waits_for_the_clock_and_wakes_on_size() -> None:
    clock = FakeClock()
    buf = EventBuffer(capacity=100, batch_size=3, linger_s=1.0, clock=clock)
    buf.put(ev(0))
    assert buf.take(timeout_s=0.05) == []  # not due: the fake clock did not move
    clock.advance(1.0)
    assert buf.take(timeout_s=5.0) == [ev(0)]

    got: list[object] = []
    taker = threading.Thread(target=lambda: got.append(buf.take(timeout_s=10.0)))
    taker.start()
    for i in range(1, 4):
        buf.put(ev(i))  # the third put completes a batch and notifies the taker
    taker.join(10.0)
    assert got == [[ev(1), ev(2), ev(3)]]


def test_flush_makes_everything_due_and_waits_for_done() -> None:
    buf = EventBuffer(capacity=100, batch_size=500, linger_s=3600.0, clock=FakeClock())
    for i in range(3):
        buf.put(ev(i))
    assert buf.flush(timeout_s=0.01) is False  # nobody is taking
    batch = buf.poll()
    assert batch == [ev(0), ev(1), ev(2)]
    flushed: list[bool] = []
    waiter = threading.Thread(target=lambda: flushed.append(buf.flush(timeout_s=10.0)))
    waiter.start()
    buf.done(len(batch))
    waiter.join(10.0)
    assert flushed == [True]


def test_close_refuses_new_events_and_drains() -> None:
    buf = EventBuffer(capacity=100, batch_size=2, linger_s=3600.0, clock=FakeClock())
    for i in range(3):
        buf.put(ev(i))
    buf.close()
    assert buf.put(ev(9)) is False
    assert buf.dropped_closed == 1
    assert buf.take() == [ev(0), ev(1)]
    assert buf.take() == [ev(2)]
    assert buf.take() is None


@pytest.mark.parametrize(
    ("capacity", "batch_size", "linger"), [(0, 1, 1.0), (1, 0, 1.0), (1, 1, -1)]
)
def test_invalid_settings(capacity: int, batch_size: int, linger: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        EventBuffer(capacity, batch_size, linger)
