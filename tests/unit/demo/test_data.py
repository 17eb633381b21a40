"""Deterministic demo data, and the bundled scenario's feeder files that depend on it."""

from __future__ import annotations

import csv
import json
from importlib import resources

import pytest

from intperf.demo.data import DEFAULT_SEED, PASSWORD, generate_shop_data
from intperf.demo.state import DemoConfig, ShopState


def test_same_seed_gives_same_data() -> None:
    assert generate_shop_data(7) == generate_shop_data(7)


def test_different_seeds_give_different_data() -> None:
    a, b = generate_shop_data(1), generate_shop_data(2)
    assert [p.name for p in a.products] != [p.name for p in b.products]
    assert [p.text for p in a.posts] != [p.text for p in b.posts]


def test_sizes_and_shapes() -> None:
    data = generate_shop_data()
    assert data.seed == DEFAULT_SEED
    assert len(data.products) == 2000
    assert len(data.categories) == 20
    assert len(data.users) == 500
    assert len(data.posts) == 1000
    assert [p.id for p in data.products] == list(range(1, 2001))
    assert len({p.name for p in data.products}) == 2000
    slugs = {c.slug for c in data.categories}
    assert len(slugs) == 20
    for product in data.products:
        assert product.category in slugs
        assert product.brand in product.name
        assert product.price_cents > 0 and product.price_cents % 100 in (49, 99)
        assert product.price == product.price_cents / 100
        assert product.stock >= 5
        assert 2.5 <= product.rating <= 5.0


def test_users_and_posts() -> None:
    data = generate_shop_data()
    assert data.users[0].username == "user0001"
    assert data.users[-1].username == "user0500"
    assert all(u.password == PASSWORD == "secret" for u in data.users)
    assert data.users_by_name["user0042"].id == 42
    for post in data.posts:
        assert data.users_by_name[post.author].id == post.user_id
        assert data.products_by_id[post.product_id].name in post.text
        assert 0 <= post.likes <= 5000
    stamps = [p.created_at for p in data.posts]
    assert stamps == sorted(stamps)


def test_too_many_products_is_refused() -> None:
    with pytest.raises(ValueError, match="distinct products"):
        generate_shop_data(products=10**6)


def _scenario_file(name: str) -> str:
    return resources.files("intperf.scenarios").joinpath("data", name).read_text("utf-8")


def test_feeder_users_exist_in_the_shop() -> None:
    data = generate_shop_data()
    rows = list(csv.DictReader(_scenario_file("users.csv").splitlines()))
    assert len(rows) == 200
    for row in rows:
        assert data.users_by_name[row["username"]].password == row["password"]


def test_every_search_term_finds_products() -> None:
    shop = ShopState(DemoConfig())
    terms = [record["term"] for record in json.loads(_scenario_file("search-terms.json"))]
    assert len(terms) >= 20
    for term in terms:
        # The scenario extracts $.items[0].id from the first page: there must be a match.
        assert len(shop.search(term, "")) >= 10, term
