"""If and Transaction controllers as intperf group steps, and a thread group's error action.

Helpers for translate.py: they build the ``group`` step documents (docs/scenarios.md#groups)
and walk translated steps through nested groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from intperf.loadtest.jmeter.conditions import IfCondition
from intperf.loadtest.jmeter.model import JmxElement

__all__ = ["failure_actions", "if_group", "iter_requests", "transaction_group"]

_GROUP_TAGS = ("ThreadGroup", "OpenModelThreadGroup")
_STOPPING = {"stopthread": "stop the thread", "stoptest": "stop the test",
             "stoptestnow": "stop the test now"}


def iter_requests(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every request document of ``steps``, inside groups too, in order."""
    for step in steps:
        if "request" in step:
            yield step["request"]
        elif "group" in step:
            yield from iter_requests(step["group"]["steps"])


def transaction_group(el: JmxElement, steps: list[dict[str, Any]],
                      notes: list[str]) -> list[dict[str, Any]]:
    """A TransactionController: a transaction group named after it (none when empty)."""
    if not steps:
        notes.append(f"{el.path}: the transaction has nothing to run; left out")
        return []
    if el.flag("TransactionController.parent"):
        notes.append(f"{el.path}: 'Generate parent sample': the transaction is recorded and its "
                     "requests are still reported on their own")
    names = {r.get("name") for r in iter_requests(steps)}
    if el.testname in names:
        notes.append(f"{el.path}: the transaction has the name of one of its requests; their "
                     "statistics are reported together")
    include = el.flag("TransactionController.includeTimers")
    transaction: bool | dict[str, bool] = {"include_think_time": True} if include else True
    return [{"group": {"name": el.testname, "transaction": transaction, "steps": steps}}]


def if_group(el: JmxElement, condition: IfCondition,
             steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An IfController: its steps inline or dropped for a constant, else an ``if`` group."""
    if condition.constant is not None or condition.text is None:
        return steps if condition.constant else []
    if not steps:
        return []
    group: dict[str, Any] = {"name": el.testname, "if": condition.text}
    if el.flag("IfController.evaluateAll"):
        group["if_each_step"] = True
    group["steps"] = steps
    return [{"group": group}]


def failure_actions(root: JmxElement, notes: list[str]) -> dict[int, bool]:
    """For each element (by ``id``) under a thread group: does a failed sample let it go on?

    JMeter's "Action to be taken after a Sampler error" defaults to *Continue*; *Start Next
    Thread Loop* is intperf's own rule (end the iteration); stopping the thread or the test
    is approximated by ending the iteration, with a note.
    """
    out: dict[int, bool] = {}
    for group in (c for c in root.children if c.tag in _GROUP_TAGS):
        action = (group.get("ThreadGroup.on_sample_error") or "continue").strip().lower()
        if action in _STOPPING:
            notes.append(f"{group.path}: after a sampler error JMeter would "
                         f"{_STOPPING[action]}; intperf ends the user's iteration")
        go_on = action == "continue"
        stack = list(group.children)
        while stack:
            el = stack.pop()
            out[id(el)] = go_on
            stack.extend(el.children)
    return out
