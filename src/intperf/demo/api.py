"""The shop's ``/api`` handlers: catalogue, login, cart, orders, payments and the social feed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from intperf.demo.data import Post, Product
from intperf.demo.state import Order, Session, ShopState
from intperf.demo.web import (
    ClientError,
    current_session,
    int_value,
    json_object,
    page_of,
    page_params,
    shop_of,
)

PAYMENT_METHODS = frozenset({"card", "paypal"})
MAX_QUANTITY = 100


async def health(request: Request) -> Response:
    """Liveness probe."""
    return JSONResponse({"status": "UP"})


async def categories(request: Request) -> Response:
    """All categories with their product counts."""
    shop = shop_of(request)
    items = [
        {"id": c.id, "slug": c.slug, "name": c.name, "productCount": len(shop.search("", c.slug))}
        for c in shop.data.categories
    ]
    return JSONResponse({"items": items, "total": len(items)})


async def list_products(request: Request) -> Response:
    """Search by name substring and category, paginated."""
    shop = shop_of(request)
    params = request.query_params
    q, category = params.get("q", ""), params.get("category", "")
    if category and category not in shop.categories:
        raise ClientError(400, f"unknown category {category!r}", "category")
    page, size = page_params(request)
    found = shop.search(q, category)
    items, pages = page_of(found, page, size)
    return JSONResponse(
        {
            "items": [_product_summary(p) for p in items],
            "page": page,
            "size": size,
            "total": len(found),
            "pages": pages,
        }
    )


async def get_product(request: Request) -> Response:
    """One product with stock and description; 404 if unknown."""
    product = shop_of(request).data.products_by_id.get(request.path_params["id"])
    if product is None:
        raise ClientError(404, "product not found")
    return JSONResponse(
        _product_summary(product)
        | {"stock": product.stock, "reviews": product.reviews, "description": product.description}
    )


async def login(request: Request) -> Response:
    """Check username/password; answer the token and set the ``session`` cookie."""
    body = await json_object(request)
    username, password = body.get("username"), body.get("password")
    for field, value in (("username", username), ("password", password)):
        if not isinstance(value, str) or not value:
            raise ClientError(400, f"{field} is required", field)
    shop = shop_of(request)
    user = shop.data.users_by_name.get(str(username))
    if user is None or user.password != password:
        raise ClientError(401, "invalid username or password")
    session = shop.open_session(user.id)
    response = JSONResponse({"token": session.token, "userId": user.id, "username": user.username})
    # Written by hand: Starlette's set_cookie adds SameSite, the documented header has none.
    response.headers.append("set-cookie", f"session={session.token}; Path=/; HttpOnly")
    return response


async def get_cart(request: Request) -> Response:
    """The session's cart."""
    return JSONResponse(_cart_json(shop_of(request), current_session(request)))


async def add_to_cart(request: Request) -> Response:
    """Add ``quantity`` (default 1) of ``productId`` to the cart."""
    session = current_session(request)
    shop = shop_of(request)
    body = await json_object(request)
    product_id = int_value(body.get("productId"), "productId")
    quantity = int_value(body.get("quantity"), "quantity", default=1, maximum=MAX_QUANTITY)
    product = shop.data.products_by_id.get(product_id)
    if product is None:
        raise ClientError(404, f"product {product_id} not found", "productId")
    wanted = session.cart.get(product_id, 0) + quantity
    if wanted > product.stock:
        raise ClientError(409, f"only {product.stock} in stock", "quantity")
    session.cart[product_id] = wanted
    return JSONResponse(_cart_json(shop, session), status_code=201)


async def remove_from_cart(request: Request) -> Response:
    """Remove a product line from the cart; 404 if it is not in it."""
    session = current_session(request)
    if session.cart.pop(request.path_params["product_id"], None) is None:
        raise ClientError(404, "product not in cart")
    return JSONResponse(_cart_json(shop_of(request), session))


async def create_order(request: Request) -> Response:
    """Turn the cart into a PENDING order; 409 when the cart is empty."""
    session = current_session(request)
    if not session.cart:
        raise ClientError(409, "the cart is empty")
    order = shop_of(request).place_order(session)
    return JSONResponse(
        _order_json(order), status_code=201, headers={"Location": f"/api/orders/{order.id}"}
    )


async def get_order(request: Request) -> Response:
    """One of the caller's orders; 404 for unknown or foreign orders."""
    session = current_session(request)
    return JSONResponse(
        _order_json(_own_order(shop_of(request), session, request.path_params["id"]))
    )


async def pay(request: Request) -> Response:
    """Pay an order: 201 SUCCEEDED, or 402 DECLINED with probability ``decline_rate``."""
    session = current_session(request)
    shop = shop_of(request)
    body = await json_object(request)
    order = _own_order(shop, session, int_value(body.get("orderId"), "orderId"), field="orderId")
    method = body.get("method")
    if method not in PAYMENT_METHODS:
        raise ClientError(400, f"method must be one of card, paypal; not {method!r}", "method")
    amount = _amount_cents(body.get("amount"))
    if amount != order.total_cents:
        raise ClientError(
            400, f"amount must equal the order total {order.total_cents / 100:.2f}", "amount"
        )
    if order.status == "PAID":
        raise ClientError(409, f"order {order.id} is already paid", "orderId")
    payment_id = shop.next_payment_id
    shop.next_payment_id += 1
    result: dict[str, Any] = {"paymentId": payment_id, "orderId": order.id, "method": method}
    if shop.payment_declined():
        return JSONResponse(result | {"status": "DECLINED", "reason": "card declined"}, 402)
    order.status = "PAID"
    return JSONResponse(result | {"status": "SUCCEEDED", "amount": order.total_cents / 100}, 201)


async def feed(request: Request) -> Response:
    """Social posts, newest first, paginated."""
    shop = shop_of(request)
    page, size = page_params(request)
    items, pages = page_of(shop.feed, page, size)
    return JSONResponse(
        {
            "items": [_post_json(shop, p) for p in items],
            "page": page,
            "size": size,
            "total": len(shop.feed),
            "pages": pages,
        }
    )


async def like_post(request: Request) -> Response:
    """Like a post (needs a session); answers the new like count."""
    current_session(request)
    shop = shop_of(request)
    post_id: int = request.path_params["post_id"]
    if post_id not in shop.likes:
        raise ClientError(404, "post not found")
    shop.likes[post_id] += 1
    return JSONResponse({"postId": post_id, "likes": shop.likes[post_id]}, status_code=201)


# -- representations -----------------------------------------------------------------------
def _product_summary(p: Product) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "brand": p.brand,
        "category": p.category,
        "price": p.price,
        "rating": p.rating,
    }


def _cart_json(shop: ShopState, session: Session) -> dict[str, Any]:
    products = shop.data.products_by_id
    items = [
        {
            "productId": pid,
            "name": products[pid].name,
            "price": products[pid].price,
            "quantity": qty,
        }
        for pid, qty in session.cart.items()
    ]
    total = sum(products[pid].price_cents * qty for pid, qty in session.cart.items())
    return {"items": items, "count": sum(session.cart.values()), "total": total / 100}


def _order_json(order: Order) -> dict[str, Any]:
    return {
        "orderId": order.id,
        "userId": order.user_id,
        "status": order.status,
        "total": order.total_cents / 100,
        "createdAt": order.created_at,
        "items": [
            {
                "productId": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "price": line.unit_cents / 100,
            }
            for line in order.lines
        ],
    }


def _post_json(shop: ShopState, post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "author": post.author,
        "productId": post.product_id,
        "productName": shop.data.products_by_id[post.product_id].name,
        "text": post.text,
        "likes": shop.likes[post.id],
        "createdAt": post.created_at,
    }


def _own_order(shop: ShopState, session: Session, order_id: int, field: str | None = None) -> Order:
    order = shop.orders.get(order_id)
    if order is None or order.user_id != session.user_id:
        raise ClientError(404, f"order {order_id} not found", field)
    return order


def _amount_cents(value: Any) -> int:
    """Cents of a JSON number or numeric string (templated bodies often send strings)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ClientError(400, f"amount must be a number, not {value!r}", "amount")
    try:
        cents = Decimal(str(value)) * 100
    except InvalidOperation:
        raise ClientError(400, f"amount must be a number, not {value!r}", "amount") from None
    if not cents.is_finite() or cents != cents.to_integral_value():
        raise ClientError(400, f"amount must have at most two decimals, not {value!r}", "amount")
    return int(cents)
