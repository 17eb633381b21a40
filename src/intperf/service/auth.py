"""API keys and roles: viewer < operator < admin; plus the submission rate limit.

Keys arrive as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``; they are stored
hashed (store.ApiKeyRepository). Verified keys are cached briefly so a busy dashboard does
not hit the database on every request; a revoked key stops working within ``ttl``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from intperf.service.errors import ApiError

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "operator": 2, "admin": 3}
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling."""

    key_id: str
    name: str
    role: str


class KeyVerifier(Protocol):
    """What the authenticator needs from the key store."""

    def verify(self, plaintext: str) -> object | None:
        """The key record (with id, name, role) or None."""


class Authenticator:
    """Verifies keys against the store with a short positive/negative cache."""

    def __init__(self, keys: KeyVerifier, *, ttl: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """(hit, principal) from the cache only: no I/O."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[1] > self._clock():
            return True, hit[0]
        return False, None

    def authenticate(self, token: str) -> Principal | None:
        """The principal for ``token`` or None (may query the store)."""
        hit, principal = self.cached(token)
        if hit:
            return principal
        record = self._keys.verify(token)
        principal = None
        if record is not None:
            principal = Principal(str(getattr(record, "id", "")), str(getattr(record, "name", "")),
                                  str(getattr(record, "role", "viewer")))
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (principal, self._clock() + self._ttl)
        return principal

    def forget_all(self) -> None:
        """Drop the cache (after a key is revoked)."""
        with self._lock:
            self._cache.clear()


def _token(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency admitting callers with at least ``role``."""

    async def dependency(request: Request) -> Principal:
        token = _token(request)
        if token is None:
            raise ApiError(401, "an API key is required: send it as X-API-Key or "
                                "'Authorization: Bearer <key>'")
        auth: Authenticator = request.app.state.ctx.auth
        hit, principal = auth.cached(token)
        if not hit:
            principal = await run_in_threadpool(auth.authenticate, token)
        if principal is None:
            raise ApiError(401, "the API key is not valid (unknown or revoked)")
        if ROLE_RANK.get(principal.role, 0) < ROLE_RANK[role]:
            raise ApiError(403, f"this needs the {role} role; the key "
                                f"{principal.name!r} has {principal.role}")
        return principal

    return dependency


class RateLimiter:
    """At most ``per_minute`` events per key in any sliding minute (token bucket)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds to wait before the next one is allowed)."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1.0 - tokens) / self.rate
