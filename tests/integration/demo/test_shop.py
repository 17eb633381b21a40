"""The demo shop over real HTTP on loopback (DemoServer on a free port, http.client)."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import math
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from intperf.demo import DemoConfig, DemoServer, run_in_subprocess, serve
from intperf.demo.server import is_loopback
from intperf.errors import UsageError

pytestmark = pytest.mark.integration


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _connect(base_url: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(base_url)
    assert parts.hostname == "127.0.0.1"
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return Reply(response.status, response.headers, response.read())


def call(base_url: str, method: str, path: str, **kwargs: Any) -> Reply:
    conn = _connect(base_url)
    try:
        return send(conn, method, path, **kwargs)
    finally:
        conn.close()


def login(base_url: str, username: str = "user0001") -> dict[str, str]:
    reply = call(
        base_url, "POST", "/api/auth/login", json_body={"username": username, "password": "secret"}
    )
    assert reply.status == 200, reply.body
    token = reply.json()["token"]
    assert reply.headers["Set-Cookie"] == f"session={token}; Path=/; HttpOnly"
    return {"Cookie": f"session={token}"}


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    """A shared shop for tests that do not change its configuration."""
    with DemoServer(DemoConfig(seed=42, decline_rate=0.0)) as shop:
        yield shop.url


@pytest.fixture
def fresh() -> Iterator[DemoServer]:
    """A shop of its own, for tests that reconfigure it or count what it received."""
    with DemoServer(DemoConfig(seed=42, record_limit=100)) as shop:
        yield shop


# -- catalogue -------------------------------------------------------------------------------
def test_health_and_categories(shop_url: str) -> None:
    assert call(shop_url, "GET", "/health").json() == {"status": "UP"}
    categories = call(shop_url, "GET", "/api/categories").json()
    assert categories["total"] == len(categories["items"]) == 20
    assert sum(c["productCount"] for c in categories["items"]) == 2000


def test_products_are_paginated(shop_url: str) -> None:
    first = call(shop_url, "GET", "/api/products?size=7").json()
    assert (first["page"], first["size"], first["total"]) == (1, 7, 2000)
    assert first["pages"] == math.ceil(2000 / 7)
    assert [p["id"] for p in first["items"]] == list(range(1, 8))
    second = call(shop_url, "GET", "/api/products?size=7&page=2").json()
    assert [p["id"] for p in second["items"]] == list(range(8, 15))
    beyond = call(shop_url, "GET", "/api/products?page=999").json()
    assert beyond["items"] == [] and beyond["total"] == 2000
    capped = call(shop_url, "GET", "/api/products?size=500").json()
    assert capped["size"] == 100 and len(capped["items"]) == 100


def test_search_matches_name_substring_and_category(shop_url: str) -> None:
    found = call(shop_url, "GET", "/api/products?q=LAMP&size=100").json()
    assert found["total"] > 0
    assert all("lamp" in p["name"].lower() for p in found["items"])
    in_home = call(shop_url, "GET", "/api/products?q=lamp&category=home&size=100").json()
    assert 0 < in_home["total"] <= found["total"]
    assert {p["category"] for p in in_home["items"]} == {"home"}
    none = call(shop_url, "GET", "/api/products?q=no-such-thing").json()
    assert (none["total"], none["pages"], none["items"]) == (0, 0, [])


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=0", "page"), ("page=abc", "page"), ("size=0", "size"), ("size=x", "size"),
     ("category=nope", "category")],
)  # fmt: skip
def test_bad_product_params_are_400(shop_url: str, query: str, field: str) -> None:
    reply = call(shop_url, "GET", f"/api/products?{query}")
    assert reply.status == 400
    assert reply.json()["field"] == field
    assert reply.json()["error"]


def test_product_detail_and_404(shop_url: str) -> None:
    product = call(shop_url, "GET", "/api/products/17").json()
    assert product["id"] == 17
    assert {"name", "price", "stock", "rating", "category", "description"} <= product.keys()
    assert call(shop_url, "GET", "/api/products/999999").status == 404
    assert call(shop_url, "GET", "/api/products/abc").status == 404


# -- login, cart, orders, payments -------------------------------------------------------------
def test_login_cart_order_payment_flow(shop_url: str) -> None:
    cookie = login(shop_url, "user0002")
    added = call(
        shop_url,
        "POST",
        "/api/cart/items",
        json_body={"productId": 3, "quantity": 2},
        headers=cookie,
    )
    assert added.status == 201
    # Templated bodies send numbers as strings: accepted too.
    added = call(shop_url, "POST", "/api/cart/items", json_body={"productId": "5"}, headers=cookie)
    cart = call(shop_url, "GET", "/api/cart", headers=cookie).json()
    assert cart == added.json()
    assert [(i["productId"], i["quantity"]) for i in cart["items"]] == [(3, 2), (5, 1)]
    assert cart["count"] == 3

    order = call(shop_url, "POST", "/api/orders", headers=cookie)
    assert order.status == 201
    created = order.json()
    assert created["status"] == "PENDING" and created["total"] == cart["total"]
    assert order.headers["Location"] == f"/api/orders/{created['orderId']}"
    assert call(shop_url, "GET", "/api/cart", headers=cookie).json()["items"] == []
    fetched = call(shop_url, "GET", order.headers["Location"], headers=cookie).json()
    assert fetched["orderId"] == created["orderId"]

    payment = {
        "orderId": str(created["orderId"]),
        "method": "card",
        "amount": str(created["total"]),
    }
    paid = call(shop_url, "POST", "/api/payments", json_body=payment, headers=cookie)
    assert paid.status == 201 and paid.json()["status"] == "SUCCEEDED"
    again = call(shop_url, "POST", "/api/payments", json_body=payment, headers=cookie)
    assert again.status == 409
    assert call(shop_url, "GET", order.headers["Location"], headers=cookie).json()["status"] == (
        "PAID"
    )


def test_payment_validation(shop_url: str) -> None:
    cookie = login(shop_url)
    call(shop_url, "POST", "/api/cart/items", json_body={"productId": 1}, headers=cookie)
    order = call(shop_url, "POST", "/api/orders", headers=cookie).json()
    for body, field in [
        ({"orderId": order["orderId"], "method": "cash", "amount": order["total"]}, "method"),
        ({"orderId": order["orderId"], "method": "card", "amount": 0.01}, "amount"),
        ({"orderId": "x", "method": "card", "amount": order["total"]}, "orderId"),
    ]:
        reply = call(shop_url, "POST", "/api/payments", json_body=body, headers=cookie)
        assert (reply.status, reply.json()["field"]) == (400, field)
    other = login(shop_url, "user0003")
    body = {"orderId": order["orderId"], "method": "paypal", "amount": order["total"]}
    assert call(shop_url, "POST", "/api/payments", json_body=body, headers=other).status == 404


def test_declined_payments_answer_402(fresh: DemoServer) -> None:
    call(fresh.url, "POST", "/__demo/config", json_body={"decline_rate": 1})
    cookie = login(fresh.url)
    call(fresh.url, "POST", "/api/cart/items", json_body={"productId": 1}, headers=cookie)
    order = call(fresh.url, "POST", "/api/orders", headers=cookie).json()
    body = {"orderId": order["orderId"], "method": "card", "amount": order["total"]}
    declined = call(fresh.url, "POST", "/api/payments", json_body=body, headers=cookie)
    assert declined.status == 402 and declined.json()["status"] == "DECLINED"


def test_session_is_required(shop_url: str) -> None:
    for method, path in [
        ("GET", "/api/cart"),
        ("POST", "/api/cart/items"),
        ("DELETE", "/api/cart/items/1"),
        ("POST", "/api/orders"),
        ("GET", "/api/orders/1"),
        ("POST", "/api/payments"),
        ("POST", "/api/feed/1/likes"),
    ]:
        assert call(shop_url, method, path).status == 401, path
        bad = call(shop_url, method, path, headers={"Cookie": "session=forged"})
        assert bad.status == 401, path
    wrong = call(
        shop_url, "POST", "/api/auth/login", json_body={"username": "user0001", "password": "x"}
    )
    assert wrong.status == 401
    assert "set-cookie" not in wrong.headers
    missing = call(shop_url, "POST", "/api/auth/login", json_body={"username": "user0001"})
    assert (missing.status, missing.json()["field"]) == (400, "password")


def test_bearer_token_works_like_the_cookie(shop_url: str) -> None:
    token = call(
        shop_url,
        "POST",
        "/api/auth/login",
        json_body={"username": "user0009", "password": "secret"},
    ).json()["token"]
    assert call(
        shop_url, "GET", "/api/cart", headers={"Authorization": f"Bearer {token}"}
    ).status == (200)


def test_empty_cart_order_is_409_and_cart_removal(shop_url: str) -> None:
    cookie = login(shop_url, "user0004")
    assert call(shop_url, "POST", "/api/orders", headers=cookie).status == 409
    call(shop_url, "POST", "/api/cart/items", json_body={"productId": 9}, headers=cookie)
    assert call(shop_url, "DELETE", "/api/cart/items/9", headers=cookie).json()["items"] == []
    assert call(shop_url, "DELETE", "/api/cart/items/9", headers=cookie).status == 404
    unknown = call(shop_url, "POST", "/api/cart/items", json_body={"productId": 0}, headers=cookie)
    assert (unknown.status, unknown.json()["field"]) == (400, "productId")


def test_feed_and_likes(shop_url: str) -> None:
    feed = call(shop_url, "GET", "/api/feed?size=5").json()
    assert feed["total"] == 1000 and len(feed["items"]) == 5
    stamps = [p["createdAt"] for p in feed["items"]]
    assert stamps == sorted(stamps, reverse=True)
    post = feed["items"][0]
    cookie = login(shop_url)
    liked = call(shop_url, "POST", f"/api/feed/{post['id']}/likes", headers=cookie)
    assert liked.status == 201
    assert liked.json()["likes"] == post["likes"] + 1
    assert call(shop_url, "POST", "/api/feed/99999/likes", headers=cookie).status == 404


# -- control endpoints -------------------------------------------------------------------------
def test_requests_are_recorded_and_cleared(fresh: DemoServer) -> None:
    call(
        fresh.url,
        "POST",
        "/api/auth/login?via=test",
        json_body={"username": "user0001", "password": "secret"},
        headers={"X-Trace-Id": "abc"},
    )
    call(fresh.url, "GET", "/__demo/stats")
    call(fresh.url, "GET", "/__demo/status/204")
    call(fresh.url, "PUT", "/__demo/echo", body=b"hello")
    recorded = call(fresh.url, "GET", "/__demo/requests").json()
    assert [(r["method"], r["path"]) for r in recorded["items"]] == [
        ("POST", "/api/auth/login"),
        ("PUT", "/__demo/echo"),
    ]
    first = recorded["items"][0]
    assert first["query_string"] == "via=test"
    assert first["headers"]["x-trace-id"] == "abc"
    assert first["headers"]["content-type"] == "application/json"
    assert json.loads(first["body"]) == {"username": "user0001", "password": "secret"}
    assert first["received_at"].endswith("Z")
    assert recorded["items"][1]["body"] == "hello"

    only = call(fresh.url, "GET", "/__demo/requests?path=/__demo/echo").json()
    assert [r["path"] for r in only["items"]] == ["/__demo/echo"]
    assert call(fresh.url, "DELETE", "/__demo/requests").status == 204
    assert call(fresh.url, "GET", "/__demo/requests").json()["items"] == []


def test_recording_is_a_ring_buffer_of_limited_bodies() -> None:
    with DemoServer(DemoConfig(record_limit=3)) as shop:
        for i in range(5):
            call(shop.url, "GET", f"/api/products/{i + 1}")
        call(shop.url, "POST", "/__demo/echo", body=b"x" * 5000)
        recorded = call(shop.url, "GET", "/__demo/requests").json()
    assert [r["path"] for r in recorded["items"]] == [
        "/api/products/4",
        "/api/products/5",
        "/__demo/echo",
    ]
    assert recorded["received"] == 6
    assert len(recorded["items"][-1]["body"]) == 2048


def test_stats_count_routes_and_statuses(fresh: DemoServer) -> None:
    call(fresh.url, "GET", "/api/products/1")
    call(fresh.url, "GET", "/api/products/2")
    call(fresh.url, "GET", "/api/products/999999")
    call(fresh.url, "GET", "/nowhere")
    stats = call(fresh.url, "GET", "/__demo/stats").json()
    assert stats["routes"]["GET /api/products/{id:int}"] == {"200": 2, "404": 1}
    assert stats["routes"]["GET <unmatched>"] == {"404": 1}
    assert stats["total"] == 4
    assert call(fresh.url, "DELETE", "/__demo/stats").status == 204
    assert call(fresh.url, "GET", "/__demo/stats").json()["total"] == 0


def test_config_changes_inject_errors_and_latency(fresh: DemoServer) -> None:
    assert call(fresh.url, "GET", "/__demo/config").json()["error_rate"] == 0
    changed = call(fresh.url, "POST", "/__demo/config", json_body={"error_rate": 1})
    assert changed.json()["error_rate"] == 1
    statuses = {call(fresh.url, "GET", "/api/products").status for _ in range(5)}
    assert statuses == {500}
    assert call(fresh.url, "GET", "/health").status == 200  # injection is for /api/* only
    stats = call(fresh.url, "GET", "/__demo/stats").json()
    assert stats["routes"]["GET /api/products"] == {"500": 5}

    call(fresh.url, "POST", "/__demo/config", json_body={"error_rate": 0, "latency_ms": 150})
    started = time.monotonic()
    assert call(fresh.url, "GET", "/api/products/1").status == 200
    assert time.monotonic() - started >= 0.14

    for bad in ({"error_rate": 2}, {"seed": 1}, {"latency_ms": "slow"}):
        reply = call(fresh.url, "POST", "/__demo/config", json_body=bad)
        assert reply.status == 400, bad


def test_stall_holds_requests_for_the_stall_time(fresh: DemoServer) -> None:
    keep_alive = _connect(fresh.url)
    try:
        assert send(keep_alive, "GET", "/api/products/1").status == 200  # connection is open
        started = time.monotonic()
        assert call(fresh.url, "POST", "/__demo/stall", json_body={"seconds": 1.0}).status == 200
        # Control endpoints still answer during the stall.
        assert call(fresh.url, "GET", "/__demo/stats").status == 200
        assert time.monotonic() - started < 0.5
        # A request on the already-open keep-alive connection waits for the stall to end.
        assert send(keep_alive, "GET", "/api/products/2").status == 200
        assert time.monotonic() - started >= 1.0
        after = time.monotonic()
        assert send(keep_alive, "GET", "/health").status == 200
        assert time.monotonic() - after < 0.5
    finally:
        keep_alive.close()
    assert call(fresh.url, "POST", "/__demo/stall", json_body={"seconds": -1}).status == 400


# -- fault endpoints ---------------------------------------------------------------------------
def test_status_and_slow(shop_url: str) -> None:
    assert call(shop_url, "GET", "/__demo/status/503").status == 503
    assert call(shop_url, "GET", "/__demo/status/204").body == b""
    assert call(shop_url, "GET", "/__demo/status/99").status == 400
    started = time.monotonic()
    assert call(shop_url, "GET", "/__demo/slow?ms=120").json() == {"slept_ms": 120}
    assert time.monotonic() - started >= 0.11


def test_gzip(shop_url: str) -> None:
    reply = call(shop_url, "GET", "/__demo/gzip", headers={"Accept-Encoding": "gzip"})
    assert reply.headers["Content-Encoding"] == "gzip"
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    assert json.loads(gzip.decompress(reply.body))["compressed"] is True


def test_chunked(shop_url: str) -> None:
    reply = call(shop_url, "GET", "/__demo/chunked?parts=4")
    assert reply.headers["Transfer-Encoding"] == "chunked"
    lines = [json.loads(line) for line in reply.body.splitlines()]
    assert lines == [{"part": i, "of": 4} for i in range(1, 5)]


def test_redirect(shop_url: str) -> None:
    reply = call(shop_url, "GET", "/__demo/redirect?to=/api/categories&code=307")
    assert (reply.status, reply.headers["Location"]) == (307, "/api/categories")
    assert call(shop_url, "GET", "/__demo/redirect").status == 302
    assert call(shop_url, "GET", "/__demo/redirect?to=//evil.example").status == 400
    assert call(shop_url, "GET", "/__demo/redirect?to=/x&code=200").status == 400


def test_echo_and_cookie(shop_url: str) -> None:
    echoed = call(
        shop_url, "POST", "/__demo/echo?a=1&a=2&b=", body=b'{"k": 1}', headers={"X-One": "1"}
    ).json()
    assert echoed["method"] == "POST"
    assert echoed["query"] == {"a": ["1", "2"], "b": [""]}
    assert echoed["headers"]["x-one"] == "1"
    assert echoed["body"] == '{"k": 1}'
    reply = call(shop_url, "GET", "/__demo/cookie/set?name=flavour&value=oat")
    assert reply.headers["Set-Cookie"] == "flavour=oat; Path=/"
    assert call(shop_url, "GET", "/__demo/cookie/set?name=a;b&value=1").status == 400


# -- running ---------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com", "::"])
def test_refuses_non_loopback_bind(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(UsageError, match="loopback"):
        DemoServer(host=host)
    with pytest.raises(UsageError, match="loopback"):
        serve(host, 0)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")


async def test_async_context_manager() -> None:
    async with DemoServer() as shop:
        reply = await asyncio.to_thread(call, shop.url, "GET", "/health")
    assert reply.status == 200


def test_stopped_server_refuses_connections() -> None:
    with DemoServer() as shop:
        url = shop.url
        assert call(url, "GET", "/health").status == 200
    with pytest.raises(ConnectionRefusedError):
        call(url, "GET", "/health")


def test_run_in_subprocess() -> None:
    with run_in_subprocess(0, args=("--seed", "7")) as process:
        assert call(process.url, "GET", "/health").status == 200
        assert call(process.url, "GET", "/api/products?size=1").json()["total"] == 2000
    assert process.process.returncode is not None
