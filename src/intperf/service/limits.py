"""ASGI middleware capping request bodies (413 with a JSON error before the body is read)."""

from __future__ import annotations

import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Reject bodies over ``max_bytes``, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                if length > self.max_bytes:
                    await self._reject(send)
                    return
        seen = 0
        too_big = False

        async def limited() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise _TooLarge
            return message

        started = False

        async def guarded(message: Message) -> None:
            nonlocal started
            # FastAPI turns an exception while reading the body into its own 400: once the
            # body is over the limit, whatever the app answers is replaced by the 413.
            if too_big and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited, guarded)
        if too_big and not started:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"error": f"request body over the limit of {self.max_bytes} bytes",
                           "field": "body", "detail": None}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


#: Routes whose JSON bodies NulGuard leaves to the route (it checks NUL per item itself).
UNGUARDED = frozenset({"/api/v1/events"})


class NulGuard:
    """Refuse NUL characters in the path, the query or a JSON body (422 naming where).

    PostgreSQL cannot store NUL in text or JSONB; refusing them at the edge turns what would
    be a storage error into a precise client error on every route at once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        if "\x00" in scope.get("path", "") or b"%00" in raw_path:
            await _reject_nul(send, "path")
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            await _reject_nul(send, "query")
            return
        content_type = b""
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                content_type = value
        # Events are validated one by one (a NUL refuses that event, not the batch), and a
        # gzip body holds NUL bytes of its own.
        if b"json" not in content_type or scope.get("path", "").rstrip("/") in UNGUARDED:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        if b"\\u0000" in body or b"\x00" in body:
            await _reject_nul(send, "body")
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body,
                                        "more_body": False}]), send)


def _replay(messages: list[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    return receive


async def _reject_nul(send: Send, where: str) -> None:
    body = json.dumps({"error": f"NUL characters are not allowed in the {where}",
                       "field": where, "detail": None}).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
