"""JMeter thread groups as intperf populations: the ``load`` of each group (docs/jmeter.md).

A classic ``ThreadGroup`` is a closed population: its threads are the users, its ramp-up the
ramp-up, its scheduler duration (ramp-up included, as in JMeter) the end, its loop count the
per-user iterations and its start-up delay ``start_after``. An ``OpenModelThreadGroup`` is an
open population whose schedule becomes injection steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intperf.loadtest.jmeter.model import JmxElement, JmxError
from intperf.loadtest.jmeter.schedule import parse_schedule

GROUPS = ("ThreadGroup", "OpenModelThreadGroup")
#: How long a group that loops forever without a scheduler duration is held.
FOREVER_HOLD = 60

Resolve = Callable[[str], str]


def group_load(g: JmxElement, static: Resolve, notes: list[str]) -> dict[str, Any] | None:
    """The ``load`` of thread group ``g``; None when it runs no thread (noted, skipped)."""
    if g.tag == "OpenModelThreadGroup":
        schedule = static(g.get("OpenModelThreadGroup.schedule"))
        try:
            return {"injection": parse_schedule(schedule)}
        except JmxError as e:
            raise JmxError(f"{g.path}: {e}") from None
    threads = _int(g, static, "ThreadGroup.num_threads", "number of threads", 1)
    if threads < 1:
        notes.append(f"{g.path}: {threads} threads; thread group skipped")
        return None
    ramp = max(_int(g, static, "ThreadGroup.ramp_time", "ramp-up", 0), 0)
    scheduled = g.flag("ThreadGroup.scheduler")
    duration = _int(g, static, "ThreadGroup.duration", "duration", 0) if scheduled else 0
    delay = _int(g, static, "ThreadGroup.delay", "start-up delay", 0) if scheduled else 0
    main = g.props.get("ThreadGroup.main_controller")
    main = main if isinstance(main, dict) else {}
    count = _number(g, static(str(main.get("LoopController.loops", "1"))), "loop count", 1)
    load: dict[str, Any] = {"users": threads, "ramp_up": ramp}
    if duration > 0:
        # JMeter's scheduler duration includes the ramp-up; ours is the hold after it.
        load["duration"] = max(duration - ramp, 0)
    if count >= 0:
        load["iterations"] = max(count, 1)  # JMeter runs a loop count of 0 once
    elif duration <= 0:
        load["duration"] = FOREVER_HOLD
        notes.append(f"{g.path}: loops forever without a scheduler duration; the group is "
                     f"held for {FOREVER_HOLD}s")
    if delay > 0:
        load["start_after"] = delay
    return load


def _int(g: JmxElement, static: Resolve, prop: str, what: str, default: int) -> int:
    return _number(g, static(g.get(prop)), what, default)


def _number(g: JmxElement, text: str, what: str, default: int) -> int:
    value = text.strip()
    if not value:
        return default
    try:
        return int(float(value))
    except ValueError:
        raise JmxError(f"{g.path}: {what} {value!r} is not a number") from None
