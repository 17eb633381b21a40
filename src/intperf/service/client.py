"""A small client of the intperf service API, for the CLI (``--server``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from intperf.errors import IntperfError, TargetUnreachableError, UsageError


class ServiceError(IntperfError):
    """The service answered with an error."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error") if isinstance(body, dict) else str(body)
        field = body.get("field") if isinstance(body, dict) else None
        super().__init__(f"the service answered {status}: {message}"
                         + (f" (field {field})" if field else ""))
        self.status = status
        self.exit_code = 2 if status in (400, 401, 403, 404, 409, 413, 422, 429) else 3


class ServiceClient:
    """Calls the API with an API key; raises ServiceError on 4xx/5xx."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"--server: {base_url!r} is not an http:// or https:// URL")
        headers = {"X-API-Key": api_key} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """One call; the decoded JSON answer (or text)."""
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            raise TargetUnreachableError(f"cannot reach the service at {self.base_url}: "
                                         f"{exc}") from None
        except httpx.HTTPError as exc:
            raise TargetUnreachableError(f"the service at {self.base_url} failed: {exc}") \
                from None
        ctype = resp.headers.get("content-type", "")
        body: Any = resp.json() if "json" in ctype else resp.text
        if resp.status_code >= 400:
            raise ServiceError(resp.status_code, body)
        return body

    def stream(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Server-sent events as (event, data)."""
        try:
            with self._http.stream("GET", path, timeout=None) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise ServiceError(resp.status_code, resp.json())
                event = "message"
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        yield event, json.loads(line[5:])
                        event = "message"
        except httpx.HTTPError as exc:
            raise TargetUnreachableError(f"lost the service's stream: {exc}") from None
