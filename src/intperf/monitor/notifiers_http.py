"""HTTP channels: the generic JSON webhook and the Slack-compatible webhook.

Webhook URLs often carry tokens in their path or query (Slack, Teams), so only
``scheme://host[:port]`` is ever logged, by us or by httpx's own request log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from intperf.errors import IntperfError, UsageError
from intperf.monitor.notification import Notification

__all__ = ["RETRY_STATUSES", "DeliveryError", "SlackNotifier", "WebhookNotifier",
           "hide_from_httpx_logs", "redact_url"]

#: Statuses worth another attempt: server errors, rate limiting, request timeout.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

ClientFactory = Callable[[], httpx.AsyncClient]


class DeliveryError(IntperfError):
    """One delivery attempt failed; the message (a type name, an HTTP status or an SMTP code)
    is safe to log. ``retriable`` says whether another attempt may succeed."""

    def __init__(self, problem: str, *, retriable: bool) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retriable = retriable


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what may be logged of a webhook address."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


class _HttpxUrlRedactor(logging.Filter):
    """Shortens webhook URLs in httpx's own ``HTTP Request: POST <url>`` INFO lines.

    httpx logs every request's full URL, token included; this filter on the ``httpx`` logger
    (attached when a webhook channel is built, never at import) rewrites only registered URLs.
    """

    def __init__(self) -> None:
        super().__init__("intperf-webhook-redactor")
        self.secret_urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(a, str | httpx.URL) and str(a) in self.secret_urls
                for a in record.args):
            record.args = tuple(redact_url(str(a)) if isinstance(a, str | httpx.URL)
                                and str(a) in self.secret_urls else a for a in record.args)
        return True


_REDACTOR = _HttpxUrlRedactor()


def hide_from_httpx_logs(urls: Iterable[str]) -> None:
    """Have httpx's request log show only the origin of ``urls``."""
    for url in urls:
        _REDACTOR.secret_urls.update({url, str(httpx.URL(url))})
    httpx_logger = logging.getLogger("httpx")
    if _REDACTOR not in httpx_logger.filters:
        httpx_logger.addFilter(_REDACTOR)


def check_http_url(url: str, where: str) -> None:
    """Refuse anything but an http(s) URL with a host (the message shows only the origin)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}: not an http(s) URL ({redact_url(url)})")


async def post_json(client: httpx.AsyncClient, url: str, body: Any) -> None:
    """POST ``body``; a failure is a DeliveryError naming only the problem's type or status."""
    try:
        response = await client.post(url, json=body)
    except httpx.TransportError as exc:  # connect, read, timeout: worth another try
        raise DeliveryError(type(exc).__name__, retriable=True) from None
    except httpx.HTTPError as exc:  # invalid request and the like: will not improve
        raise DeliveryError(type(exc).__name__, retriable=False) from None
    if not response.is_success:
        raise DeliveryError(f"HTTP {response.status_code}",
                            retriable=response.status_code in RETRY_STATUSES)


class WebhookNotifier:
    """POSTs the notification's ``payload`` as JSON (the generic webhook)."""

    def __init__(self, name: str, url: str, *, timeout: float = 10.0,
                 client_factory: ClientFactory | None = None) -> None:
        check_http_url(url, f"channel {name}")
        hide_from_httpx_logs([url])
        self.name = name
        self.url = url
        self.where = redact_url(url)
        self._timeout = timeout
        self._client_factory = client_factory or self._default_client

    def _default_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)

    def body(self, n: Notification) -> Any:
        """What is posted."""
        if n.payload:
            return dict(n.payload)
        return {"source": "intperf", "kind": n.kind, "severity": n.severity,
                "subject": n.subject, "text": n.text,
                "attachments": [a.filename for a in n.attachments]}

    async def deliver(self, n: Notification) -> None:
        """POST once; raises DeliveryError."""
        try:
            async with self._client_factory() as client:
                await post_json(client, self.url, self.body(n))
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the client could not be built or closed
            raise DeliveryError(type(exc).__name__, retriable=False) from None


class SlackNotifier(WebhookNotifier):
    """POSTs ``{"text": ...}`` (Slack's incoming webhooks, Mattermost, Rocket.Chat)."""

    def body(self, n: Notification) -> Any:
        """Slack's message: the subject in bold, then the text."""
        text = f"*{n.subject}*\n{n.text}" if n.text else f"*{n.subject}*"
        if n.attachments:
            text += "\n(attached: " + ", ".join(a.filename for a in n.attachments) + ")"
        return {"text": text}
