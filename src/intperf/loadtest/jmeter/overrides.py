"""Override the users, duration and ramp-up of a plan's thread groups by name (pure logic).

Applied to the parsed plan before :func:`~intperf.loadtest.jmeter.translate.translate`, so the
translation stays the one of ``intperf jmeter``: each thread group is a population of its own,
and an override changes the users, duration and ramp-up of that group's population only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intperf.loadtest.jmeter.model import JmxElement, JmxError, JmxPlan


@dataclass(frozen=True, slots=True)
class GroupOverride:
    """New settings for the thread group named ``name`` (None: keep the plan's)."""

    name: str
    users: int | None = None
    duration: float | None = None
    ramp_up: float | None = None


def thread_group_names(plan: JmxPlan) -> list[str]:
    """The names of the plan's (enabled, classic) thread groups, in plan order."""
    return [c.testname for c in plan.root.children if c.tag == "ThreadGroup"]


def apply_overrides(plan: JmxPlan, overrides: Sequence[GroupOverride],
                    field: str = "threadGroups") -> JmxPlan:
    """``plan`` with the overrides applied; a bad override is a :class:`JmxError` whose
    message starts with ``{field}[i].name``.

    A duration turns the group's scheduler on and makes its loop run forever, so the group
    runs for that long (including its ramp-up, as in JMeter); its start-up delay is kept when
    its scheduler was already on.
    """
    names = thread_group_names(plan)
    open_groups = {c.testname for c in plan.root.children if c.tag == "OpenModelThreadGroup"}
    by_name: dict[str, GroupOverride] = {}
    for i, o in enumerate(overrides):
        if o.name not in names and o.name in open_groups:
            raise JmxError(f"{field}[{i}].name: {o.name!r} is an open model thread group; its "
                           "schedule (arrival rates) cannot be overridden with users/duration")
        if o.name not in names:
            known = ", ".join(repr(n) for n in names) or "none"
            raise JmxError(f"{field}[{i}].name: the plan has no thread group {o.name!r}; "
                           f"its thread groups: {known}")
        if o.name in by_name:
            raise JmxError(f"{field}[{i}].name: thread group {o.name!r} is given twice")
        if o.users is not None and o.users < 1:
            raise JmxError(f"{field}[{i}].users: must be at least 1")
        for what, value in (("duration", o.duration), ("rampUp", o.ramp_up)):
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise JmxError(f"{field}[{i}].{what}: must be a finite, non-negative duration")
        by_name[o.name] = o
    if not by_name:
        return plan
    children = tuple(_override(c, by_name[c.testname])
                     if c.tag == "ThreadGroup" and c.testname in by_name else c
                     for c in plan.root.children)
    return dataclasses.replace(plan, root=dataclasses.replace(plan.root, children=children))


def _override(group: JmxElement, o: GroupOverride) -> JmxElement:
    props: dict[str, Any] = dict(group.props)
    if o.users is not None:
        props["ThreadGroup.num_threads"] = str(o.users)
    if o.ramp_up is not None:
        props["ThreadGroup.ramp_time"] = str(math.ceil(o.ramp_up))
    if o.duration is not None:
        if not group.flag("ThreadGroup.scheduler"):
            props["ThreadGroup.delay"] = "0"  # a stale delay of a scheduler that was off
        props["ThreadGroup.scheduler"] = "true"
        props["ThreadGroup.duration"] = str(math.ceil(o.duration))
        main = props.get("ThreadGroup.main_controller")
        main = dict(main) if isinstance(main, dict) else {}
        main["LoopController.loops"] = "-1"
        main["LoopController.continue_forever"] = "false"
        props["ThreadGroup.main_controller"] = main
    return dataclasses.replace(group, props=props)
