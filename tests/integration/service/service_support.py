"""Helpers shared by the service's API tests: submit a run, follow its event stream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from intperf.config import Settings

API = "/api/v1/performance"
ROLES = ("viewer", "operator", "admin")
FINAL = frozenset({"passed", "failed", "aborted", "interrupted", "cancelled", "error"})


@dataclass(frozen=True, slots=True)
class LiveService:
    """A running service: where it listens and one API key per role."""

    base_url: str
    backend: str
    settings: Settings
    keys: dict[str, str]
    key_ids: dict[str, str]

    def client(self, role: str | None = "admin", timeout: float = 30.0) -> httpx.Client:
        """An httpx client on the service authenticated as ``role`` (None: no key)."""
        headers = {"X-API-Key": self.keys[role]} if role is not None else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)


MakeService = Callable[..., LiveService]


def run_body(base_url: str, **overrides: Any) -> dict[str, Any]:
    """A small NATIVE run of the bundled social-commerce scenario against ``base_url``."""
    body: dict[str, Any] = {"testType": "NATIVE", "scenario": "social-commerce", "users": 5,
                            "duration": "2s", "rampUp": "0s", "baseUrl": base_url}
    body.update(overrides)
    return body


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    """Submit ``body``; assert 202 and return the run id."""
    r = client.post(f"{API}/load-test", json=body)
    assert r.status_code == 202, r.text
    run_id: str = r.json()["runId"]
    assert r.headers["location"] == f"{API}/runs/{run_id}"
    return run_id


def events(client: httpx.Client, run_id: str, *, timeout: float = 60.0,
           stop_after: str = "end") -> list[tuple[str, dict[str, Any]]]:
    """The run's server-sent events, in order, up to the first ``stop_after`` event."""
    out: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    name = "message"
    with client.stream("GET", f"{API}/runs/{run_id}/stream",
                       timeout=httpx.Timeout(timeout, read=20.0)) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {stop_after!r} event for {run_id} in {timeout}s: {out}")
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                out.append((name, json.loads(line.partition(":")[2])))
                if name == stop_after:
                    return out
    raise AssertionError(f"the stream of {run_id} closed before {stop_after!r}: {out}")


def finish(client: httpx.Client, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait (on the event stream) until the run ends; return its detail."""
    evs = events(client, run_id, timeout=timeout)
    assert evs[-1][0] == "end"
    r = client.get(f"{API}/runs/{run_id}")
    assert r.status_code == 200, r.text
    detail: dict[str, Any] = r.json()
    assert detail["status"] in FINAL, detail
    return detail
