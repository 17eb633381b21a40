"""A scenario compiled for execution: interned request names, prebuilt bytes, opened feeders."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from typing import cast

from intperf.loadtest.checks import CompiledChecks
from intperf.loadtest.feeders import Feeder
from intperf.loadtest.http import NEED_BODY, NEED_HEADERS, Pool, frame_request
from intperf.loadtest.request import Origin, RequestTemplate
from intperf.loadtest.scenario import (
    FeedStep,
    RequestStep,
    Scenario,
    ThinkStep,
    ThinkTime,
)

STEP_REQUEST = 0
STEP_THINK = 1
STEP_FEED = 2


class CompiledRequest:
    """Everything the hot path needs about one request step."""

    __slots__ = (
        "checks",
        "follow_redirects",
        "index",
        "name",
        "need",
        "origin",
        "pool",
        "static_body",
        "static_data",
        "static_head",
        "template",
        "think_time",
        "want_body",
        "want_headers",
    )

    def __init__(
        self,
        template: RequestTemplate,
        checks: CompiledChecks,
        index: int,
        *,
        follow_redirects: bool,
        think_time: ThinkTime | None,
        cookies: bool,
    ) -> None:
        self.template = template
        self.checks = checks
        self.index = index
        self.name = template.name
        self.origin: Origin = template.origin
        self.follow_redirects = follow_redirects
        self.think_time = think_time
        # Bodies may be gzip-encoded: reading one needs Content-Encoding. Cookies do not
        # need header callbacks: the connection sniffs Set-Cookie from the raw bytes.
        self.want_body = checks.needs_body
        self.want_headers = checks.needs_headers or follow_redirects or checks.needs_body
        self.need = (NEED_HEADERS if self.want_headers else 0) | (
            NEED_BODY if self.want_body else 0)
        self.static_head: bytes | None = None
        self.static_body: bytes | None = None
        self.pool: Pool | None = None
        """Set by the engine: the pool of ``origin`` (saves hashing the origin per request)."""
        self.static_data: bytes | None = None
        static = template.static if template.is_static else None
        if static is not None:
            self.static_head, self.static_body = static
            self.static_data = frame_request(static[0], b"", static[1])


Step = tuple[int, object]


@dataclass(slots=True)
class CompiledJourney:
    """A journey's steps in executable form."""

    name: str
    steps: list[Step]
    pacing: float | None


@dataclass(slots=True)
class ExecutionPlan:
    """A scenario ready to run in one worker."""

    scenario: Scenario
    journeys: list[CompiledJourney]
    cumulative_weights: list[float]
    request_names: list[str]
    origins: list[Origin]
    feeders: dict[str, Feeder] = field(default_factory=dict)
    only_journey: CompiledJourney | None = None
    """The journey when there is just one (no weighted choice needed)."""

    def requests(self) -> list[CompiledRequest]:
        """Every request step of every journey."""
        return [
            cast(CompiledRequest, payload)
            for j in self.journeys
            for kind, payload in j.steps
            if kind == STEP_REQUEST
        ]

    def pick_journey(self, rng: random.Random) -> CompiledJourney:
        """Choose a journey by weight."""
        if len(self.journeys) == 1:
            return self.journeys[0]
        x = rng.random() * self.cumulative_weights[-1]
        return self.journeys[bisect.bisect_right(self.cumulative_weights, x)]


def compile_plan(
    scenario: Scenario, *, worker: int = 0, workers: int = 1, seed: int | None = None
) -> ExecutionPlan:
    """Compile ``scenario`` for worker ``worker`` of ``workers``."""
    names: list[str] = []
    origins: dict[Origin, None] = {}
    feeders: dict[str, Feeder] = {}
    for fname, fspec in scenario.feeders.items():
        feeders[fname] = Feeder.open(
            fname, fspec, scenario.base_dir, worker=worker, workers=workers, seed=seed
        )
    journeys: list[CompiledJourney] = []
    for journey in scenario.journeys:
        steps: list[Step] = []
        for step in journey.steps:
            if isinstance(step, RequestStep):
                spec = step.request
                template = RequestTemplate.compile(spec, scenario)
                if template.name not in names:
                    names.append(template.name)
                origins.setdefault(template.origin, None)
                checks = CompiledChecks.compile(spec.checks, spec.extract)
                follow = (
                    spec.follow_redirects
                    if spec.follow_redirects is not None
                    else scenario.follow_redirects
                )
                think = spec.think_time if spec.think_time is not None else journey.think_time
                steps.append(
                    (
                        STEP_REQUEST,
                        CompiledRequest(
                            template,
                            checks,
                            names.index(template.name),
                            follow_redirects=follow,
                            think_time=think,
                            cookies=scenario.cookies,
                        ),
                    )
                )
            elif isinstance(step, ThinkStep):
                steps.append((STEP_THINK, step.think))
            elif isinstance(step, FeedStep):
                steps.append((STEP_FEED, feeders[step.feed]))
        journeys.append(CompiledJourney(journey.name, steps, journey.pacing))
    cumulative: list[float] = []
    total = 0.0
    for journey in scenario.journeys:
        total += journey.weight
        cumulative.append(total)
    only = journeys[0] if len(journeys) == 1 else None
    return ExecutionPlan(scenario, journeys, cumulative, names, list(origins), feeders, only)
