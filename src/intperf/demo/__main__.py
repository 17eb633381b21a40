"""``python -m intperf.demo``: run the demo shop in the foreground."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from intperf.demo.data import DEFAULT_SEED
from intperf.demo.server import DEFAULT_PORT, READY_PREFIX, serve
from intperf.demo.state import DemoConfig
from intperf.errors import UsageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m intperf.demo", description="Run the intperf demo shop (loopback only)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="mean added latency")
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 500")
    parser.add_argument("--decline-rate", type=float, default=0.02, help="payments declined")
    parser.add_argument("--record-limit", type=int, default=10_000)
    parser.add_argument("--allow-public", action="store_true", help="allow a non-loopback host")
    return parser


def _announce(url: str) -> None:
    print(f"{READY_PREFIX}{url}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and serve until interrupted; returns the exit code."""
    options = _parser().parse_args(argv)
    try:
        config = DemoConfig(
            seed=options.seed,
            latency_ms=options.latency_ms,
            latency_jitter_ms=options.latency_jitter_ms,
            error_rate=options.error_rate,
            decline_rate=options.decline_rate,
            record_limit=options.record_limit,
        )
        serve(
            options.host,
            options.port,
            config,
            allow_public=options.allow_public,
            on_started=_announce,
        )
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
