"""Importing intperf.sdk has no side effects: no thread, no framework, no NumPy."""

from __future__ import annotations

import subprocess
import sys

import intperf.sdk


def test_import_is_light_and_starts_nothing() -> None:
    code = (
        "import sys, threading\n"
        "import intperf.sdk\n"
        "heavy = [m for m in ('sqlalchemy', 'starlette', 'fastapi', 'numpy', 'pydantic',\n"
        "         'confluent_kafka', 'aiokafka', 'uvicorn', 'httpx') if m in sys.modules]\n"
        "print(heavy, threading.active_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[] 1"


def test_public_names() -> None:
    for name in intperf.sdk.__all__:
        assert hasattr(intperf.sdk, name), name
