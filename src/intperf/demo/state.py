"""Configuration and mutable run-time state of one demo shop (kept on ``app.state.shop``).

The shop runs on a single event loop, so the state needs no locks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from intperf.demo.data import DEFAULT_SEED, Post, Product, ShopData, generate_shop_data
from intperf.errors import UsageError

RUNTIME_KEYS = ("latency_ms", "latency_jitter_ms", "error_rate", "decline_rate")
"""Settings that ``POST /__demo/config`` may change while the shop runs."""

MAX_SESSIONS = 100_000
MAX_ORDERS = 100_000
_SEARCH_CACHE_SIZE = 4_096
BODY_PREVIEW_BYTES = 2_048


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """How the demo shop behaves: data seed and injected faults."""

    seed: int = DEFAULT_SEED
    latency_ms: float = 0.0
    """Mean latency added to every ``/api/*`` request."""
    latency_jitter_ms: float = 0.0
    """Added latency is uniform in ``latency_ms ± latency_jitter_ms`` (never negative)."""
    error_rate: float = 0.0
    """Fraction of ``/api/*`` requests answered ``500``."""
    decline_rate: float = 0.02
    """Fraction of payments declined with ``402``."""
    record_limit: int = 10_000
    """How many received requests ``/__demo/requests`` keeps (a ring buffer; 0 = none)."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("latency_ms", "latency_jitter_ms"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                problems.append(f"{name} must be a number >= 0, not {value!r}")
        for name in ("error_rate", "decline_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value <= 1):
                problems.append(f"{name} must be a fraction between 0 and 1, not {value!r}")
        if not isinstance(self.record_limit, int) or self.record_limit < 0:
            problems.append(f"record_limit must be an integer >= 0, not {self.record_limit!r}")
        if problems:
            raise UsageError("invalid demo shop configuration: " + "; ".join(problems))

    def runtime_settings(self) -> dict[str, float]:
        """The settings that may change at run time, as JSON-ready values."""
        return {key: getattr(self, key) for key in RUNTIME_KEYS}

    def with_changes(self, changes: dict[str, Any]) -> DemoConfig:
        """A copy with run-time settings changed; raises ``UsageError`` on unknown keys."""
        unknown = sorted(set(changes) - set(RUNTIME_KEYS))
        if unknown:
            raise UsageError(
                f"cannot change {', '.join(unknown)}; valid: {', '.join(RUNTIME_KEYS)}"
            )
        for key, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UsageError(f"{key} must be a number, not {value!r}")
        return dataclasses.replace(self, **changes)


@dataclass(slots=True)
class Session:
    """A logged-in session; each session has its own cart (productId -> quantity)."""

    token: str
    user_id: int
    cart: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One product line of an order, priced when the order was placed."""

    product_id: int
    name: str
    quantity: int
    unit_cents: int


@dataclass(slots=True)
class Order:
    """An order created from a cart; ``status`` is PENDING until a payment succeeds."""

    id: int
    user_id: int
    lines: tuple[OrderLine, ...]
    total_cents: int
    created_at: str
    status: str = "PENDING"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as received, for ``GET /__demo/requests``; formatted only when read."""

    seq: int
    received_at: float
    method: str
    path: str
    query_string: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def to_json(self) -> dict[str, Any]:
        """JSON form: header names lower-case, repeated headers joined with ``, ``."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        when = datetime.fromtimestamp(self.received_at, UTC).isoformat(timespec="milliseconds")
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query_string": self.query_string.decode("latin-1"),
            "headers": headers,
            "body": self.body.decode("utf-8", errors="replace"),
            "received_at": when.replace("+00:00", "Z"),
        }


class RequestRecorder:
    """Ring buffer of the last ``limit`` received requests."""

    def __init__(self, limit: int) -> None:
        self._entries: deque[RecordedRequest] = deque(maxlen=limit)
        self.enabled = limit > 0
        self.received = 0

    def add(
        self,
        method: str,
        path: str,
        query_string: bytes,
        headers: tuple[tuple[bytes, bytes], ...],
        body: bytes,
    ) -> None:
        """Keep one request (the body is cut to its first 2 KB)."""
        self.received += 1
        self._entries.append(
            RecordedRequest(
                self.received, time.time(), method, path, query_string, headers,
                body[:BODY_PREVIEW_BYTES],
            )
        )  # fmt: skip

    def clear(self) -> None:
        """Forget everything recorded so far."""
        self._entries.clear()
        self.received = 0

    def entries(self) -> list[RecordedRequest]:
        """The kept requests, oldest first."""
        return list(self._entries)


class ShopState:
    """Everything that changes while the shop runs."""

    def __init__(self, config: DemoConfig, data: ShopData | None = None) -> None:
        self.config = config
        self.data = data if data is not None else generate_shop_data(config.seed)
        self.categories = {c.slug for c in self.data.categories}
        self.feed: tuple[Post, ...] = tuple(reversed(self.data.posts))  # newest first
        self.likes: dict[int, int] = {p.id: p.likes for p in self.data.posts}
        self.sessions: dict[str, Session] = {}
        self.orders: dict[int, Order] = {}
        self.next_order_id = 1
        self.next_payment_id = 1
        self.payment_rng = random.Random(f"payments:{config.seed}")
        self.fault_rng = random.Random(f"faults:{config.seed}")
        self.recorder = RequestRecorder(config.record_limit)
        self.stats: Counter[tuple[str, str, int]] = Counter()
        self.stall_until = 0.0
        self._stall_over: asyncio.Event | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._search_cache: dict[tuple[str, str], tuple[Product, ...]] = {}
        self._lower_names = [(p.name.lower(), p) for p in self.data.products]

    # -- catalogue -------------------------------------------------------------------------
    def search(self, q: str, category: str) -> tuple[Product, ...]:
        """Products whose name contains ``q`` (case-insensitive), optionally in a category."""
        key = (q.lower(), category)
        found = self._search_cache.get(key)
        if found is None:
            needle = key[0]
            found = tuple(
                p
                for name, p in self._lower_names
                if needle in name and (not category or p.category == category)
            )
            if len(self._search_cache) >= _SEARCH_CACHE_SIZE:
                self._search_cache.clear()
            self._search_cache[key] = found
        return found

    # -- sessions and orders ---------------------------------------------------------------
    def open_session(self, user_id: int) -> Session:
        """Create a session with an empty cart; the oldest sessions are evicted past a cap."""
        if len(self.sessions) >= MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]
        session = Session(secrets.token_urlsafe(24), user_id)
        self.sessions[session.token] = session
        return session

    def place_order(self, session: Session) -> Order:
        """Turn the session's (non-empty) cart into a PENDING order and empty the cart."""
        products = self.data.products_by_id
        lines = tuple(
            OrderLine(pid, products[pid].name, qty, products[pid].price_cents)
            for pid, qty in session.cart.items()
        )
        total = sum(line.quantity * line.unit_cents for line in lines)
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        order = Order(self.next_order_id, session.user_id, lines, total, now)
        self.next_order_id += 1
        if len(self.orders) >= MAX_ORDERS:
            del self.orders[next(iter(self.orders))]
        self.orders[order.id] = order
        session.cart.clear()
        return order

    def payment_declined(self) -> bool:
        """Draw from the payment generator: True with probability ``decline_rate``."""
        return self.payment_rng.random() < self.config.decline_rate

    # -- fault injection -------------------------------------------------------------------
    def injected_latency(self) -> float:
        """Seconds to delay an API request (0 when no latency is configured)."""
        mean, jitter = self.config.latency_ms, self.config.latency_jitter_ms
        if mean <= 0 and jitter <= 0:
            return 0.0
        return max(0.0, self.fault_rng.uniform(mean - jitter, mean + jitter)) / 1000

    def injected_error(self) -> bool:
        """True when this API request should fail with 500 (probability ``error_rate``)."""
        rate = self.config.error_rate
        return rate > 0 and self.fault_rng.random() < rate

    def stall(self, seconds: float) -> float:
        """Hold every request until ``seconds`` from now (a stall is extended, never shortened).

        Must be called on the shop's event loop.
        """
        self.stall_until = max(self.stall_until, time.monotonic() + seconds)
        if self._stall_over is None or self._stall_over.is_set():
            self._stall_over = asyncio.Event()
        self._check_stall()
        return self.stall_until

    def _check_stall(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
        # time.monotonic, not the loop clock: uvloop's clock has millisecond granularity and
        # could end a stall a little early; a timer firing early is simply re-armed.
        remaining = self.stall_until - time.monotonic()
        if remaining > 0:
            loop = asyncio.get_running_loop()
            self._stall_timer = loop.call_later(remaining, self._check_stall)
            return
        self._stall_timer = None
        self.stall_until = 0.0
        if self._stall_over is not None:
            self._stall_over.set()

    async def wait_out_stall(self) -> None:
        """Return once no stall is in force."""
        if self._stall_over is not None and not self._stall_over.is_set():
            await self._stall_over.wait()
