"""The ``group`` step of a journey: steps run under a condition and/or timed as a transaction.

``{group: {name, if, transaction, steps}}``; see docs/scenarios.md#groups. The model lives
here (scenario.py holds the step union that refers back to it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from intperf.loadtest.conditions import Condition, ConditionSyntaxError, parse_condition
from intperf.loadtest.fields import STRICT

if TYPE_CHECKING:
    from intperf.loadtest.scenario import RequestSpec, Step

__all__ = ["GroupSpec", "GroupStep", "OnFailure", "TransactionOptions", "request_specs"]

OnFailure = Literal["end_iteration", "continue"]
"""What a failed request does: end the user's iteration (default) or let it go on."""


def _condition(v: str) -> str:
    try:
        parse_condition(v)
    except ConditionSyntaxError as e:
        raise ValueError(str(e)) from None
    return v


def _non_empty(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty")
    return v


ConditionText = Annotated[str, AfterValidator(_condition)]


class TransactionOptions(BaseModel):
    """How a transaction group is timed."""

    model_config = STRICT
    include_think_time: bool = False
    """Count the pauses inside the group (think times) in its time; JMeter's includeTimers."""


class GroupSpec(BaseModel):
    """Steps that run together: only when ``if`` holds, timed when ``transaction`` is set."""

    model_config = STRICT
    name: Annotated[str, AfterValidator(_non_empty)] | None = None
    """Names the transaction in reports (required with ``transaction``)."""
    condition: ConditionText | None = Field(default=None, alias="if")
    """Run the group only when this holds (checked when the group is reached)."""
    if_each_step: bool = False
    """Check ``if`` again before each step; the rest of the group is skipped once it fails."""
    transaction: TransactionOptions | None = None
    """Record the group's elapsed time under ``name``, failed when a request in it failed."""
    on_failure: OnFailure | None = None
    """Default for the group's requests (and nested groups); None: inherited."""
    steps: Annotated[list[Step], Field(min_length=1)]

    @field_validator("transaction", mode="before")
    @classmethod
    def _bool(cls, v: Any) -> Any:
        if v is True:
            return {}
        if v is False:
            return None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> GroupSpec:
        if self.transaction is not None and self.name is None:
            raise ValueError("a transaction needs the group's 'name' (it names the "
                             "transaction in reports)")
        if self.if_each_step and self.condition is None:
            raise ValueError("'if_each_step' needs an 'if' condition")
        return self

    @property
    def compiled_condition(self) -> Condition | None:
        """The parsed ``if``, or None."""
        return None if self.condition is None else parse_condition(self.condition)


class GroupStep(BaseModel):
    """A step grouping other steps."""

    model_config = STRICT
    group: GroupSpec


def request_specs(steps: Iterable[Step]) -> Iterator[RequestSpec]:
    """Every request of ``steps``, inside groups too, in order."""
    for step in steps:
        if isinstance(step, GroupStep):
            yield from request_specs(step.group.steps)
        elif hasattr(step, "request"):
            yield step.request
