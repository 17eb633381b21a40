"""Control steps of a compiled journey: ``if`` branches and transaction windows.

Groups are compiled into a flat step list with jumps (plan.py), so the virtual user's hot
loop stays flat and a journey without groups never reaches this module. A transaction is
recorded like a request, under the group's name: its time from the group's start to its
end (pauses left out unless ``include_think_time``), failed when a request in it failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from intperf.loadtest.conditions import Condition
from intperf.loadtest.results import ErrorClass

if TYPE_CHECKING:
    from intperf.loadtest.recorder import Recorder
    from intperf.loadtest.user import VirtualUser

__all__ = [
    "STEP_IF",
    "STEP_TX_BEGIN",
    "STEP_TX_END",
    "Branch",
    "OpenTransaction",
    "TransactionStep",
    "abandon",
    "count_request",
    "exclude_pause",
    "run_control",
]

STEP_IF = 3
"""Payload :class:`Branch`: jump to ``skip_to`` unless the condition holds."""
STEP_TX_BEGIN = 4
"""Payload :class:`TransactionStep`: open a transaction window."""
STEP_TX_END = 5
"""Payload None: close and record the innermost open transaction."""

_clock = time.monotonic


@dataclass(frozen=True, slots=True)
class Branch:
    """A group's ``if``: where to go when the condition does not hold."""

    condition: Condition
    skip_to: int


@dataclass(frozen=True, slots=True)
class TransactionStep:
    """A group timed as a transaction, recorded under request-name index ``index``."""

    index: int
    name: str
    include_think_time: bool


class OpenTransaction:
    """A transaction in progress for one virtual user."""

    __slots__ = ("error", "excluded", "failures", "latency_start", "requests", "start", "step")

    def __init__(self, step: TransactionStep, start: float, latency_start: float) -> None:
        self.step = step
        self.start = start
        self.latency_start = latency_start
        self.excluded = 0.0
        """Seconds of pauses left out of the transaction's time."""
        self.requests = 0
        self.failures = 0
        self.error: ErrorClass | None = None
        """The class of the first failed request."""

    def record(self, recorder: Recorder, now: float) -> None:
        """Record the window: ok, or failed with the first failure's class."""
        service = max(now - self.start - self.excluded, 0.0) * 1000.0
        latency = max(now - self.latency_start - self.excluded, 0.0) * 1000.0
        if self.error is None:
            recorder.ok(self.step.index, latency, service, 0, 0)
        else:
            message = f"{self.failures} of {self.requests} requests failed"
            recorder.fail(self.step.index, self.error, message, latency, service, 0, 0)


def run_control(user: VirtualUser, kind: int, payload: object) -> None:
    """Run one control step for ``user`` (may move ``user.step``)."""
    if kind == STEP_IF:
        branch = cast(Branch, payload)
        if not branch.condition.evaluate(user.vars, user.ctx, user.last_ok):
            user.step = branch.skip_to
    elif kind == STEP_TX_BEGIN:
        now = _clock()
        step = cast(TransactionStep, payload)
        user.txs.append(OpenTransaction(step, now, min(user.intended, now)))
    elif kind == STEP_TX_END:
        user.txs.pop().record(user.engine.recorder, _clock())


def count_request(txs: list[OpenTransaction], error: ErrorClass | None) -> None:
    """A request of the open transactions finished (``error`` None: it succeeded)."""
    for tx in txs:
        tx.requests += 1
        if error is not None:
            tx.failures += 1
            if tx.error is None:
                tx.error = error


def exclude_pause(txs: list[OpenTransaction], seconds: float) -> None:
    """A pause of ``seconds`` ended: leave it out of the transactions that exclude pauses."""
    for tx in txs:
        if not tx.step.include_think_time:
            tx.excluded += seconds


def abandon(txs: list[OpenTransaction], recorder: Recorder) -> None:
    """The iteration ends early: record every open transaction (failed) and forget them."""
    now = _clock()
    while txs:
        tx = txs.pop()
        if tx.error is None:
            tx.error = ErrorClass.OTHER
        tx.record(recorder, now)
