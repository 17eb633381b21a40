"""DemoConfig validation and the shop's pure state logic."""

from __future__ import annotations

import pytest

from intperf.demo.state import DemoConfig, ShopState
from intperf.errors import UsageError


@pytest.mark.parametrize(
    "changes",
    [{"error_rate": 1.5}, {"decline_rate": -0.1}, {"latency_ms": -1}, {"record_limit": -1},
     {"latency_jitter_ms": float("nan")}],
)  # fmt: skip
def test_invalid_config_is_a_usage_error(changes: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        DemoConfig(**changes)  # type: ignore[arg-type]


def test_runtime_changes() -> None:
    config = DemoConfig().with_changes({"latency_ms": 5, "error_rate": 0.5})
    assert config.runtime_settings() == {
        "latency_ms": 5,
        "latency_jitter_ms": 0.0,
        "error_rate": 0.5,
        "decline_rate": 0.02,
    }
    with pytest.raises(UsageError, match="seed"):
        config.with_changes({"seed": 3})
    with pytest.raises(UsageError):
        config.with_changes({"error_rate": True})


def test_search_is_case_insensitive_and_cached() -> None:
    shop = ShopState(DemoConfig())
    found = shop.search("Wireless", "")
    assert found and all("wireless" in p.name.lower() for p in found)
    assert shop.search("wIRELESS", "") is found
    in_audio = shop.search("wireless", "audio")
    assert {p.category for p in in_audio} == {"audio"}


def test_decisions_are_deterministic_per_seed() -> None:
    def draws(seed: int) -> list[bool]:
        shop = ShopState(DemoConfig(seed=seed, decline_rate=0.5, error_rate=0.5))
        return [shop.payment_declined() for _ in range(50)] + [
            shop.injected_error() for _ in range(50)
        ]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)


def test_injected_latency_stays_in_range() -> None:
    shop = ShopState(DemoConfig(latency_ms=20, latency_jitter_ms=30))
    delays = [shop.injected_latency() for _ in range(500)]
    assert min(delays) == 0.0  # clamped: never negative
    assert max(delays) <= 0.05
    assert ShopState(DemoConfig()).injected_latency() == 0.0


def test_orders_empty_the_cart() -> None:
    shop = ShopState(DemoConfig())
    session = shop.open_session(1)
    session.cart[1] = 2
    order = shop.place_order(session)
    assert order.total_cents == 2 * shop.data.products_by_id[1].price_cents
    assert session.cart == {}
    assert shop.orders[order.id] is order
