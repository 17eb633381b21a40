"""The demo social-commerce shop: the system under test of the quick start, tests and benchmarks.

Usage in tests: ``with DemoServer(DemoConfig(seed=7)) as shop: ... shop.url ...``.
"""

from intperf.demo.data import ShopData, generate_shop_data
from intperf.demo.server import DemoProcess, DemoServer, run_in_subprocess, serve
from intperf.demo.shop import create_app
from intperf.demo.state import DemoConfig

__all__ = [
    "DemoConfig",
    "DemoProcess",
    "DemoServer",
    "ShopData",
    "create_app",
    "generate_shop_data",
    "run_in_subprocess",
    "serve",
]
