"""``POST /api/v1/cache/analyses`` end to end: the service (uvicorn on loopback) analyzes the
session's redis-server; hosts outside the allowed targets are refused before any connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ..live_service import run_service as _run_service

pytestmark = pytest.mark.integration



@pytest.fixture
def service(tmp_path: Path) -> Iterator[Any]:
    storage = f"sqlite:///{tmp_path / 'intperf.db'}"
    with _run_service()(storage, tmp_path, "sqlite") as svc:
        yield svc


def test_cache_analysis_through_the_api(service: Any, redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        for i in range(20):
            client.set(f"order:{i}", "x")
    url = redis_url.replace("redis://", "redis://:s3cret-pw@")
    with service.client("operator") as c:
        r = c.post("/api/v1/cache/analyses", json={"redis": url, "intervalSeconds": 0.2})
        assert r.status_code == 200, r.text
        assert "s3cret-pw" not in r.text
        body = r.json()
        assert {p["pattern"]: p["keys"] for p in body["patterns"]}["order:*"] == 20
        assert r.headers["Location"] == f"/api/v1/cache/analyses/{body['id']}"
        refused = c.post("/api/v1/cache/analyses", json={"redis": "redis://192.0.2.1:6379"})
        assert refused.status_code == 422, refused.text
        with socket.socket() as s:  # a port nobody listens on (and no breaker knows yet:
            s.bind(("127.0.0.1", 0))  # the service runs in this process, beside other tests)
            free = f"redis://:pw@127.0.0.1:{s.getsockname()[1]}/0"
        down = c.post("/api/v1/cache/analyses", json={"redis": free, "intervalSeconds": 0.1})
        assert down.status_code == 502, down.text
    with service.client("viewer") as c:
        assert c.post("/api/v1/cache/analyses", json={"redis": url}).status_code == 403
        listed = c.get("/api/v1/cache/analyses").json()
        assert listed["total"] == 2
        failed, done = listed["items"]
        assert (failed["status"], done["status"]) == ("failed", "done")
        assert done["report"] is None and done["summary"]["keys"] == 20
        assert "s3cret-pw" not in str(listed) and ":***@" in done["redis"]
        assert "unreachable" in failed["error"]
        one = c.get(f"/api/v1/cache/analyses/{body['id']}").json()
        assert one["report"]["keyspace"]["keys"] == 20
        assert c.get("/api/v1/cache/analyses/nope").status_code == 404
        changes = c.get("/api/v1/cache/ttl-changes").json()
        assert changes == {"enabled": False, "items": [], "total": 0, "limit": 100, "offset": 0}
