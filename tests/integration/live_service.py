"""``run_service`` of the service tests, for test packages outside ``tests/integration/service``.

That function lives in the service tests' conftest (which imports ``service_support`` from its
own folder), so it is loaded from there once, under its own module name.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from typing import Any

SERVICE_DIR = Path(__file__).parent / "service"


@cache
def run_service() -> Any:
    """The service tests' ``run_service(storage_url, base, backend, *, extra_env, **limits)``."""
    if str(SERVICE_DIR) not in sys.path:
        sys.path.insert(0, str(SERVICE_DIR))  # the conftest imports service_support
    spec = importlib.util.spec_from_file_location("intperf_service_test_fixtures",
                                                  SERVICE_DIR / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_service
