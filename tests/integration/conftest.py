"""Real servers on loopback shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from intperf.demo import DemoConfig, DemoServer


@pytest.fixture(scope="session")
def demo_shop() -> Iterator[DemoServer]:
    """The demo shop on a free loopback port for the whole session."""
    with DemoServer(DemoConfig(seed=42, decline_rate=0.0)) as shop:
        yield shop
