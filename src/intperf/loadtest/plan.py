"""A scenario compiled for execution: interned request names, prebuilt bytes, opened feeders."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from typing import cast

from intperf.loadtest.checks import CompiledChecks
from intperf.loadtest.feeders import Feeder
from intperf.loadtest.flow import STEP_IF, STEP_TX_BEGIN, STEP_TX_END, Branch, TransactionStep
from intperf.loadtest.groups import GroupStep
from intperf.loadtest.http import NEED_BODY, NEED_HEADERS, Pool, frame_request
from intperf.loadtest.request import Origin, RequestTemplate
from intperf.loadtest.scenario import (
    FeedStep,
    Journey,
    RequestStep,
    Scenario,
    ThinkStep,
    ThinkTime,
)
from intperf.loadtest.scenario import Step as StepSpec

STEP_REQUEST = 0
STEP_THINK = 1
STEP_FEED = 2
# Control steps (groups) are numbered above these: see intperf.loadtest.flow.
__all__ = [
    "STEP_FEED",
    "STEP_IF",
    "STEP_REQUEST",
    "STEP_THINK",
    "STEP_TX_BEGIN",
    "STEP_TX_END",
    "CompiledJourney",
    "CompiledRequest",
    "ExecutionPlan",
    "Step",
    "compile_plan",
]


class CompiledRequest:
    """Everything the hot path needs about one request step."""

    __slots__ = (
        "checks",
        "continue_on_failure",
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
        "track_url",
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
        continue_on_failure: bool = False,
    ) -> None:
        self.template = template
        self.checks = checks
        self.index = index
        self.name = template.name
        self.origin: Origin = template.origin
        self.follow_redirects = follow_redirects
        self.think_time = think_time
        self.continue_on_failure = continue_on_failure
        """A failure does not end the iteration (``on_failure: continue``)."""
        self.track_url = follow_redirects or checks.needs_url
        """The user keeps the URL it requests (redirects, ``url_*`` checks)."""
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
        _StepCompiler(scenario, journey, names, origins, feeders).compile(
            journey.steps, steps, continue_on_failure=False
        )
        journeys.append(CompiledJourney(journey.name, steps, journey.pacing))
    cumulative: list[float] = []
    total = 0.0
    for journey in scenario.journeys:
        total += journey.weight
        cumulative.append(total)
    only = journeys[0] if len(journeys) == 1 else None
    return ExecutionPlan(scenario, journeys, cumulative, names, list(origins), feeders, only)


@dataclass(slots=True)
class _StepCompiler:
    """Turns a journey's steps into the flat list the virtual user walks.

    A group becomes ``[IF] [TX_BEGIN] (IF before each step)? steps... [TX_END]`` with the
    ``IF`` jumping past the group (or, re-checked inside a transaction, to its ``TX_END``).
    """

    scenario: Scenario
    journey: Journey
    names: list[str]
    origins: dict[Origin, None]
    feeders: dict[str, Feeder]

    def intern(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def compile(
        self, specs: list[StepSpec], out: list[Step], *, continue_on_failure: bool
    ) -> None:
        for step in specs:
            if isinstance(step, RequestStep):
                out.append((STEP_REQUEST, self.request(step, continue_on_failure)))
            elif isinstance(step, ThinkStep):
                out.append((STEP_THINK, step.think))
            elif isinstance(step, FeedStep):
                out.append((STEP_FEED, self.feeders[step.feed]))
            elif isinstance(step, GroupStep):
                self.group(step, out, continue_on_failure)

    def request(self, step: RequestStep, inherited: bool) -> CompiledRequest:
        spec = step.request
        scenario = self.scenario
        template = RequestTemplate.compile(spec, scenario)
        index = self.intern(template.name)
        self.origins.setdefault(template.origin, None)
        follow = (
            spec.follow_redirects if spec.follow_redirects is not None
            else scenario.follow_redirects
        )
        return CompiledRequest(
            template,
            CompiledChecks.compile(spec.checks, spec.extract),
            index,
            follow_redirects=follow,
            think_time=spec.think_time if spec.think_time is not None else self.journey.think_time,
            cookies=scenario.cookies,
            continue_on_failure=(
                inherited if spec.on_failure is None else spec.on_failure == "continue"
            ),
        )

    def group(self, step: GroupStep, out: list[Step], inherited: bool) -> None:
        g = step.group
        cont = inherited if g.on_failure is None else g.on_failure == "continue"
        condition = g.compiled_condition
        entry = len(out)
        if condition is not None:
            out.append((STEP_IF, None))  # patched below, once the end is known
        if g.transaction is not None:
            assert g.name is not None  # validated: a transaction has a name
            tx = TransactionStep(self.intern(g.name), g.name, g.transaction.include_think_time)
            out.append((STEP_TX_BEGIN, tx))
        rechecks: list[int] = []
        for k, child in enumerate(g.steps):
            if g.if_each_step and k > 0:
                rechecks.append(len(out))
                out.append((STEP_IF, None))
            self.compile([child], out, continue_on_failure=cont)
        inner_end = len(out)
        if g.transaction is not None:
            out.append((STEP_TX_END, None))
        if condition is not None:
            out[entry] = (STEP_IF, Branch(condition, len(out)))
            for at in rechecks:
                out[at] = (STEP_IF, Branch(condition, inner_end))
