"""The social-commerce workload of benchmarks/dbopt: schema, a reproducible data generator
(`generate_series` in SQL, seeded) and 24 queries with a frequency mix and parameter makers.

Rows at scale 1.0: users 50k, products 20k, orders 150k, order_items 360k, payments 140k,
follows 120k, posts 80k, likes 150k (about 1.07 million). Only primary keys exist at the start.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: Every timestamp is generated in the year before this instant (reproducible "now").
ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)
SEED = 0.42
COUNTRIES = ["US", "DE", "FR", "GB", "IN", "BR", "JP", "CA", "ES", "IT", "NL", "SE", "PL", "MX",
             "AU", "KR", "TR", "AR", "ZA", "EG"]
ORDER_STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled"]
PAYMENT_STATUSES = ["captured", "failed", "refunded"]

SCHEMA = """
CREATE TABLE users (
    id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, country char(2) NOT NULL,
    status text NOT NULL, created_at timestamptz NOT NULL, last_login_at timestamptz);
CREATE TABLE products (
    id bigint PRIMARY KEY, seller_id bigint NOT NULL, category_id int NOT NULL,
    title text NOT NULL, price numeric(10,2) NOT NULL, stock int NOT NULL, active boolean NOT NULL,
    created_at timestamptz NOT NULL);
CREATE TABLE orders (
    id bigint PRIMARY KEY, user_id bigint NOT NULL, status text NOT NULL,
    total numeric(12,2) NOT NULL, shipping_country char(2) NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE order_items (
    id bigint PRIMARY KEY, order_id bigint NOT NULL, product_id bigint NOT NULL,
    quantity int NOT NULL, unit_price numeric(10,2) NOT NULL);
CREATE TABLE payments (
    id bigint PRIMARY KEY, order_id bigint NOT NULL, method text NOT NULL,
    amount numeric(12,2) NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE follows (
    follower_id bigint NOT NULL, followee_id bigint NOT NULL, created_at timestamptz NOT NULL,
    PRIMARY KEY (follower_id, followee_id));
CREATE TABLE posts (
    id bigint PRIMARY KEY, user_id bigint NOT NULL, body text NOT NULL,
    created_at timestamptz NOT NULL, deleted_at timestamptz, like_count int NOT NULL);
CREATE TABLE likes (
    user_id bigint NOT NULL, post_id bigint NOT NULL, created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, post_id));
"""


@dataclass(frozen=True, slots=True)
class Sizes:
    """Row counts at a scale."""

    users: int
    products: int
    orders: int
    items_per_order: float
    payments: int
    follows: int
    posts: int
    likes: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        """Row counts at `scale` (1.0 is about a million rows)."""
        def n(x: int) -> int:
            return max(int(x * scale), 100)
        return cls(n(50_000), n(20_000), n(150_000), 2.4, n(140_000), n(120_000), n(80_000),
                   n(150_000))

    def total(self) -> int:
        """All rows."""
        return (self.users + self.products + self.orders + int(self.orders * self.items_per_order)
                + self.payments + self.follows + self.posts + self.likes)


def data_sql(s: Sizes) -> list[str]:
    """INSERT ... SELECT statements that fill the schema (run after ``setseed``).

    Activity is skewed: a user's id is drawn as ``1 + floor(N * random()^2)``, so low ids are
    the heavy users, as in real social and shop data.
    """
    anchor = f"timestamptz '{ANCHOR.isoformat()}'"
    year = f"({anchor} - interval '365 days' * random())"
    countries = "ARRAY[" + ",".join(f"'{c}'" for c in COUNTRIES) + "]"
    statuses = "ARRAY[" + ",".join(f"'{c}'" for c in ORDER_STATUSES) + "]"
    items = int(s.orders * s.items_per_order)
    skew = "1 + floor({n} * random() ^ 2)::bigint"
    return [
        f"""INSERT INTO users SELECT i, 'user' || i || '@example.com', 'User ' || i,
            ({countries})[1 + floor(random() ^ 1.5 * 20)::int],
            CASE WHEN random() < 0.9 THEN 'active' WHEN random() < 0.5 THEN 'suspended'
                 ELSE 'deleted' END,
            {anchor} - interval '365 days' * (1 - i::float8 / {s.users}),
            {year} FROM generate_series(1, {s.users}) i""",
        f"""INSERT INTO products SELECT i, {skew.format(n=s.users // 10)},
            1 + floor(random() ^ 2 * 200)::int, 'Product ' || i,
            round((5 + random() * 495)::numeric, 2), floor(random() * 1000)::int,
            random() < 0.85, {year} FROM generate_series(1, {s.products}) i""",
        # Orders arrive in time order (append-mostly): id and created_at grow together.
        f"""INSERT INTO orders SELECT i, {skew.format(n=s.users)},
            CASE WHEN i > {s.orders} * 0.97 THEN (ARRAY['pending','paid'])[1 + (i % 2)]
                 ELSE ({statuses})[2 + floor(random() * 4)::int] END,
            round((10 + random() * 490)::numeric, 2),
            ({countries})[1 + floor(random() ^ 1.5 * 20)::int],
            {anchor} - interval '365 days' * (1 - i::float8 / {s.orders}),
            {anchor} - interval '365 days' * (1 - i::float8 / {s.orders})
            FROM generate_series(1, {s.orders}) i""",
        f"""INSERT INTO order_items SELECT i, 1 + floor((i - 1) / {s.items_per_order})::bigint,
            {skew.format(n=s.products)}, 1 + floor(random() * 4)::int,
            round((5 + random() * 495)::numeric, 2) FROM generate_series(1, {items}) i""",
        f"""INSERT INTO payments SELECT i, i, (ARRAY['card','paypal','transfer'])
            [1 + floor(random() * 3)::int], round((10 + random() * 490)::numeric, 2),
            CASE WHEN random() < 0.93 THEN 'captured' WHEN random() < 0.7 THEN 'failed'
                 ELSE 'refunded' END,
            {anchor} - interval '365 days' * (1 - i::float8 / {s.orders})
            FROM generate_series(1, {min(s.payments, s.orders)}) i""",
        f"""INSERT INTO follows SELECT DISTINCT ON (f, e) f, e, {year} FROM (
            SELECT 1 + floor(random() * {s.users})::bigint f, {skew.format(n=s.users)} e
            FROM generate_series(1, {s.follows}) i) x WHERE f <> e""",
        f"""INSERT INTO posts SELECT i, {skew.format(n=s.users)}, repeat('post body ', 8) || i,
            {anchor} - interval '365 days' * (1 - i::float8 / {s.posts}),
            CASE WHEN random() < 0.05 THEN {anchor} ELSE NULL END,
            floor(random() * 50)::int FROM generate_series(1, {s.posts}) i""",
        f"""INSERT INTO likes SELECT DISTINCT ON (u, p) u, p, {year} FROM (
            SELECT 1 + floor(random() * {s.users})::bigint u, {skew.format(n=s.posts)} p
            FROM generate_series(1, {s.likes}) i) x""",
    ]


Params = Callable[[random.Random, Sizes], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Query:
    """One statement of the mix: its text (psycopg placeholders), weight and parameters."""

    name: str
    sql: str
    weight: int  # executions per period in the frequency mix
    params: Params
    write: bool = False


def _user(r: random.Random, s: Sizes) -> int:
    return 1 + int(s.users * r.random() ** 2)


def _days_ago(days: float) -> datetime:
    return ANCHOR - timedelta(days=days)


QUERIES: list[Query] = [
    Query("user by email", "SELECT id, name, status FROM users WHERE email = %s", 300,
          lambda r, s: (f"user{_user(r, s)}@example.com",)),
    Query("recent orders of a user", "SELECT id, status, total, created_at FROM orders"
          " WHERE user_id = %s ORDER BY created_at DESC LIMIT 20", 300,
          lambda r, s: (_user(r, s),)),
    Query("items of an order", "SELECT oi.product_id, oi.quantity, oi.unit_price, p.title"
          " FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id = %s",
          300, lambda r, s: (r.randint(1, s.orders),)),
    Query("payments of an order", "SELECT id, method, amount, status FROM payments"
          " WHERE order_id = %s", 200, lambda r, s: (r.randint(1, s.orders),)),
    Query("home feed", "SELECT p.id, p.user_id, p.body, p.created_at FROM posts p"
          " JOIN follows f ON f.followee_id = p.user_id WHERE f.follower_id = %s"
          " AND p.deleted_at IS NULL ORDER BY p.created_at DESC LIMIT 50", 200,
          lambda r, s: (r.randint(1, s.users),)),
    Query("follower count", "SELECT count(*) FROM follows WHERE followee_id = %s", 200,
          lambda r, s: (_user(r, s),)),
    Query("likes of a post", "SELECT count(*) FROM likes WHERE post_id = %s", 300,
          lambda r, s: (1 + int(s.posts * r.random() ** 2),)),
    Query("posts of a user", "SELECT id, body, created_at FROM posts WHERE user_id = %s"
          " AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 20", 150,
          lambda r, s: (_user(r, s),)),
    Query("category page", "SELECT id, title, price FROM products WHERE category_id = %s"
          " AND active ORDER BY price LIMIT 30", 150,
          lambda r, s: (1 + int(200 * r.random() ** 2),)),
    Query("products of a seller", "SELECT id, title, stock FROM products WHERE seller_id = %s",
          60, lambda r, s: (1 + int(s.users // 10 * r.random() ** 2),)),
    Query("stale pending orders", "SELECT id, user_id, created_at FROM orders WHERE status = %s"
          " AND created_at < %s ORDER BY created_at LIMIT 100", 40,
          lambda r, s: ("pending", _days_ago(r.uniform(1, 5)))),
    Query("daily revenue", "SELECT date_trunc('day', created_at) AS day, sum(total) FROM orders"
          " WHERE created_at >= %s AND status <> 'cancelled' GROUP BY 1 ORDER BY 1", 20,
          lambda r, s: (_days_ago(r.choice([7, 14, 30])),)),
    Query("top products this week", "SELECT oi.product_id, sum(oi.quantity) AS q"
          " FROM order_items oi JOIN orders o ON o.id = oi.order_id WHERE o.created_at >= %s"
          " GROUP BY oi.product_id ORDER BY q DESC LIMIT 10", 10,
          lambda r, s: (_days_ago(7),)),
    Query("failed payments", "SELECT id, order_id, amount FROM payments WHERE status = %s"
          " AND created_at >= %s", 30, lambda r, s: ("failed", _days_ago(r.choice([1, 3, 7])))),
    Query("new users of a country", "SELECT id, email FROM users WHERE country = %s"
          " AND created_at >= %s ORDER BY created_at DESC LIMIT 50", 40,
          lambda r, s: (r.choice(COUNTRIES), _days_ago(30))),
    Query("who liked a post", "SELECT l.user_id, u.name FROM likes l JOIN users u"
          " ON u.id = l.user_id WHERE l.post_id = %s ORDER BY l.created_at DESC LIMIT 20", 100,
          lambda r, s: (1 + int(s.posts * r.random() ** 2),)),
    Query("did I like it", "SELECT 1 FROM likes WHERE user_id = %s AND post_id = %s", 300,
          lambda r, s: (_user(r, s), r.randint(1, s.posts))),
    Query("sales of a product", "SELECT count(*), sum(quantity) FROM order_items"
          " WHERE product_id = %s", 80, lambda r, s: (1 + int(s.products * r.random() ** 2),)),
    Query("payment history", "SELECT pm.id, pm.amount, pm.created_at FROM payments pm"
          " JOIN orders o ON o.id = pm.order_id WHERE o.user_id = %s"
          " ORDER BY pm.created_at DESC LIMIT 20", 60, lambda r, s: (_user(r, s),)),
    Query("trending posts", "SELECT post_id, count(*) AS n FROM likes WHERE created_at >= %s"
          " GROUP BY post_id ORDER BY n DESC LIMIT 20", 10, lambda r, s: (_days_ago(1),)),
    Query("dormant users", "SELECT id FROM users WHERE last_login_at < %s AND status = %s"
          " LIMIT 100", 5, lambda r, s: (_days_ago(300), "active")),
    Query("orders by country and status", "SELECT count(*) FROM orders"
          " WHERE shipping_country = %s AND status = %s", 20,
          lambda r, s: (r.choice(COUNTRIES), r.choice(ORDER_STATUSES))),
    Query("set order status", "UPDATE orders SET status = %s, updated_at = now() WHERE id = %s",
          100, lambda r, s: (r.choice(ORDER_STATUSES), r.randint(1, s.orders)), write=True),
    Query("like a post", "INSERT INTO likes (user_id, post_id, created_at) VALUES (%s, %s, now())"
          " ON CONFLICT DO NOTHING", 100,
          lambda r, s: (r.randint(1, s.users), r.randint(1, s.posts)), write=True),
]
