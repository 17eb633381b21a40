"""Live progress of a run: a Rich view on a terminal, plain periodic lines elsewhere."""

from __future__ import annotations

import math
import sys
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from intperf.loadtest.results import RequestWindow
from intperf.loadtest.runner import Progress
from intperf.units import format_duration

PLAIN_EVERY = 5


def _ms(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.0f}ms" if v >= 10 else f"{v:.1f}ms"


class ProgressView:
    """Shows progress; call :meth:`update` once a second, use as a context manager."""

    def __init__(self, title: str, *, console: Console | None = None, quiet: bool = False,
                 stream: TextIO | None = None) -> None:
        self.title = title
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live: Live | None = None
        self._total = RequestWindow()
        self._seen = 0

    def __enter__(self) -> ProgressView:
        if not self.quiet and self.console.is_terminal:
            self.live = Live(Text(f"{self.title}: starting…"), console=self.console,
                             refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def update(self, p: Progress) -> None:
        """Show the latest complete second and the totals so far."""
        if self.quiet or p.last is None:
            return
        last = RequestWindow()
        for w in p.last.requests.values():
            last.merge(w)
        self._total.merge(last)
        self._seen += 1
        elapsed = p.elapsed
        if self.live is not None:
            self.live.update(self._render(p, last, elapsed))
        elif self._seen % PLAIN_EVERY == 0:
            total = self._total
            err = total.failed / total.requests if total.requests else 0.0
            remaining = "" if p.duration is None else \
                f"/{format_duration(p.duration)}"
            print(f"[{format_duration(elapsed)}{remaining}] rps={last.requests} "
                  f"p50={_ms(last.latency.quantile(0.5))} p99={_ms(last.latency.quantile(0.99))} "
                  f"requests={total.requests} errors={total.failed} ({err:.2%}) "
                  f"users={p.last.active_users}", file=self.stream, flush=True)

    def _render(self, p: Progress, last: RequestWindow, elapsed: float) -> Table:
        total = self._total
        dur = p.duration
        bar = ProgressBar(total=dur or 1.0, completed=min(elapsed, dur) if dur else 0.0,
                          width=40, pulse=dur is None)
        remaining = "" if dur is None else f"  remaining {format_duration(max(0.0, dur - elapsed))}"
        head = Text.assemble((f"{self.title}  ", "bold"),
                             f"elapsed {format_duration(elapsed)}{remaining}")
        t = Table.grid(padding=(0, 3))
        for _ in range(6):
            t.add_column(justify="right")
        err = total.failed / total.requests if total.requests else 0.0
        t.add_row("rps", "p50", "p99", "requests", "errors", "users", style="dim")
        t.add_row(str(last.requests), _ms(last.latency.quantile(0.5)),
                  _ms(last.latency.quantile(0.99)), f"{total.requests:,}",
                  Text(f"{total.failed:,} ({err:.2%})", style="red" if total.failed else ""),
                  str(p.last.active_users if p.last else 0))
        dropped = sum(s.dropped for s in p.series.seconds.values())
        layout = Table.grid()
        layout.add_row(head)
        layout.add_row(bar)
        layout.add_row(t)
        if dropped:
            layout.add_row(Text(f"dropped arrivals: {dropped}", style="yellow"))
        return layout
