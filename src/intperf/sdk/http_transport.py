"""Batches to intperf over HTTP: ``POST {url}/api/v1/events`` with gzip NDJSON, on one
keep-alive connection (stdlib ``http.client``), answers mapped to results and errors.

The API key goes in the ``X-API-Key`` header only; it is never part of a message or a repr.
"""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import os
import ssl
import time
import urllib.parse
from typing import Any, Final

from intperf import __version__
from intperf.sdk.transport import Batch, DeliveryError, SendResult, ServerRejection

__all__ = ["EVENTS_PATH", "HttpTransport", "parse_retry_after"]

EVENTS_PATH: Final = "/api/v1/events"
#: Answers longer than this are not read (the connection is then closed, not reused).
MAX_ANSWER_BYTES: Final = 1 << 20
#: Statuses worth sending the same batch again for (RFC 9110 15.5.9, 15.6; RFC 6585 4).
RETRIABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
# Errors on a reused keep-alive connection that mean the server closed it while idle: the
# request was not processed, so it is sent again at once on a new connection.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date, RFC 9110
    10.2.3); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def _rejections(doc: Any) -> tuple[ServerRejection, ...]:
    # 2xx answers list them in "rejected"; the service's 422 (no valid event) in "detail".
    items = (doc.get("rejected", doc.get("detail"))) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return ()
    out = []
    for item in items:
        if isinstance(item, dict):
            index = item.get("index")
            out.append(
                ServerRejection(
                    index if isinstance(index, int) else -1,
                    str(item.get("field", "")),
                    str(item.get("reason", "")),
                )
            )
    return tuple(out)


def _result(doc: Any, sent: int) -> SendResult:
    rejected = _rejections(doc)
    accepted = doc.get("accepted") if isinstance(doc, dict) else None
    if not isinstance(accepted, int) or isinstance(accepted, bool):
        accepted = sent - len(rejected)
    return SendResult(accepted=max(0, min(accepted, sent)), rejected=rejected)


class HttpTransport:
    """Sends batches to an intperf service, e.g. ``HttpTransport("http://127.0.0.1:8105", key)``.

    ``timeout_s`` bounds the connection and every read and write; ``compress_level`` is
    gzip's (1 fastest, 9 smallest). ``https`` URLs use ``ssl_context`` (default: verified).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 5.0,
        compress_level: int = 5,
        ssl_context: ssl.SSLContext | None = None,
        path: str = EVENTS_PATH,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL such as http://127.0.0.1:8105, got {url!r}")
        if parts.username or parts.password:
            raise ValueError("put the API key in api_key, not in the URL")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + path
        self._timeout_s = timeout_s
        self._level = compress_level
        self._ssl = ssl_context
        self._api_key = api_key
        self._conn: http.client.HTTPConnection | None = None
        self._pid = os.getpid()
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, self._path, "", ""))

    def __repr__(self) -> str:
        return f"HttpTransport({self.url!r})"

    def _headers(self, batch: Batch) -> dict[str, str]:
        headers = {
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "Accept": "application/json",
            "User-Agent": f"intperf-sdk/{__version__}",
            # draft-ietf-httpapi-idempotency-key-header: lets a receiver drop a retried copy.
            "Idempotency-Key": batch.id,
        }
        if self._api_key:
            headers["X-API-Key"] = self._api_key
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None and self._pid != os.getpid():
            self._conn = None  # inherited across fork(): the parent owns that socket
        if self._conn is None:
            self._pid = os.getpid()
            if self._https:
                context = self._ssl or ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout_s, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout_s
                )
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any, bytes]:
        """One request/response; retries once at once on a stale keep-alive connection."""
        for fresh_attempt in (False, True):
            reused = self._conn is not None and self._pid == os.getpid()
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read(MAX_ANSWER_BYTES)
            except _STALE as exc:
                self._drop_connection()
                if not reused or fresh_attempt:
                    raise DeliveryError(_describe(exc), retriable=True) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                raise DeliveryError(_describe(exc), retriable=True) from exc
            else:
                if response.will_close or not response.isclosed():
                    self._drop_connection()  # asked to close, or an answer we did not finish
                return response.status, response.headers, data
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, batch: Batch) -> SendResult:
        """POST ``batch`` as gzip NDJSON; map the answer to a result or a DeliveryError."""
        ndjson = b"".join(e.data + b"\n" for e in batch.events)
        body = gzip.compress(ndjson, compresslevel=self._level, mtime=0)
        status, headers, data = self._exchange(body, self._headers(batch))
        doc = _json(data)
        if 200 <= status < 300:
            return _result(doc, len(batch))
        if status == 413:
            raise DeliveryError(
                f"HTTP 413: a batch of {len(batch)} events is too large for the receiver",
                retriable=False,
                status=status,
                too_large=True,
            )
        if status in (401, 403):
            raise DeliveryError(
                f"HTTP {status}: the receiver refused the API key "
                f"({'none was set' if not self._api_key else 'check it and its role'})",
                retriable=False,
                status=status,
            )
        if status in RETRIABLE_STATUSES:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            raise DeliveryError(
                f"HTTP {status} from {self.url}",
                retriable=True,
                status=status,
                retry_after_s=retry_after,
            )
        if status == 422:  # no event was valid: each is rejected, with its reason if given
            return SendResult(accepted=0, rejected=_rejections(doc))
        if 400 <= status < 500 and isinstance(doc, dict) and "rejected" in doc:
            return _result(doc, len(batch))
        raise DeliveryError(f"HTTP {status} from {self.url}", retriable=False, status=status)

    def close(self) -> None:
        """Close the keep-alive connection."""
        self._drop_connection()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
