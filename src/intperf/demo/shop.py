"""The demo shop's Starlette application: route table and app factory.

Handlers live in :mod:`intperf.demo.api` (the shop) and :mod:`intperf.demo.faults`
(``/__demo`` control and fault endpoints); their state hangs off ``app.state.shop``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from intperf.demo import api, faults
from intperf.demo.data import ShopData
from intperf.demo.middleware import DemoMiddleware
from intperf.demo.state import DemoConfig, ShopState
from intperf.demo.web import ClientError, client_error_response

__all__ = ["DemoConfig", "create_app"]


def _routes() -> list[BaseRoute]:
    return [
        Route("/health", api.health),
        Route("/api/categories", api.categories),
        Route("/api/products", api.list_products),
        Route("/api/products/{id:int}", api.get_product),
        Route("/api/auth/login", api.login, methods=["POST"]),
        Route("/api/cart", api.get_cart),
        Route("/api/cart/items", api.add_to_cart, methods=["POST"]),
        Route("/api/cart/items/{product_id:int}", api.remove_from_cart, methods=["DELETE"]),
        Route("/api/orders", api.create_order, methods=["POST"]),
        Route("/api/orders/{id:int}", api.get_order),
        Route("/api/payments", api.pay, methods=["POST"]),
        Route("/api/feed", api.feed),
        Route("/api/feed/{post_id:int}/likes", api.like_post, methods=["POST"]),
        Route("/__demo/requests", faults.list_requests),
        Route("/__demo/requests", faults.clear_requests, methods=["DELETE"]),
        Route("/__demo/stats", faults.get_stats),
        Route("/__demo/stats", faults.clear_stats, methods=["DELETE"]),
        Route("/__demo/config", faults.get_config),
        Route("/__demo/config", faults.set_config, methods=["POST"]),
        Route("/__demo/stall", faults.stall, methods=["POST"]),
        Route("/__demo/status/{code:int}", faults.status),
        Route("/__demo/slow", faults.slow),
        Route("/__demo/gzip", faults.gzipped),
        Route("/__demo/chunked", faults.chunked),
        Route("/__demo/redirect", faults.redirect),
        Route("/__demo/echo", faults.echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/__demo/cookie/set", faults.set_cookie),
    ]


def create_app(config: DemoConfig | None = None, *, data: ShopData | None = None) -> Starlette:
    """A fresh demo shop; ``data`` may be passed to share one generated data set."""
    config = config if config is not None else DemoConfig()
    shop = ShopState(config, data)
    routes = _routes()
    app = Starlette(
        routes=routes,
        middleware=[Middleware(DemoMiddleware, shop=shop, routes=routes)],
        exception_handlers={ClientError: client_error_response},
    )
    app.state.shop = shop
    return app
