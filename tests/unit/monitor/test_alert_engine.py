"""The alerting state machine with an injected clock: for, dedup, grouping, repeat, resolved,
silences, acknowledgement and escalation; Hypothesis for "one notification per group change"."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.monitor.alert_engine import AckError, AlertEngine
from intperf.monitor.alert_model import (
    AlertingPolicy,
    AlertSignal,
    Dispatch,
    EscalationStep,
    RuleSpec,
    fingerprint,
)
from intperf.store.alert_repository import SilenceRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def engine(**kw: object) -> AlertEngine:
    ids = (f"a{i}" for i in itertools.count(1))
    base: dict[str, object] = {"receivers": ("log", "hook"), "group_wait_s": 10.0,
                               "group_interval_s": 60.0, "repeat_interval_s": 3600.0}
    base.update(kw)
    return AlertEngine(AlertingPolicy(**base), ids=lambda: next(ids))  # type: ignore[arg-type]


def sig(service: str, active: bool = True, rule: str = "error-rate",
        severity: str = "warning") -> AlertSignal:
    return AlertSignal(rule, {"service": service}, active=active,
                       severity=severity, title=f"{rule} {service}")  # type: ignore[arg-type]


def test_fingerprint_is_rule_and_sorted_labels() -> None:
    assert fingerprint("r", {"a": "1", "b": "2"}) == fingerprint("r", {"b": "2", "a": "1"})
    assert fingerprint("r", {"a": "1"}) != fingerprint("s", {"a": "1"})


def test_alerts_of_a_group_within_group_wait_make_one_notification() -> None:
    e = engine()
    for i, name in enumerate(["api", "web", "db"]):
        e.observe(sig(name), at(i))
    assert e.tick(at(9)) == []
    [d] = e.tick(at(10))
    assert d.reason == "firing" and d.status == "firing"
    assert d.group_key == '{alertname="error-rate"}'
    assert d.channels == ("log", "hook")
    assert sorted(a.labels["service"] for a in d.alerts) == ["api", "db", "web"]
    assert e.tick(at(11)) == []


def test_a_new_alert_after_the_first_notification_waits_for_group_interval() -> None:
    e = engine()
    e.observe(sig("api"), at(0))
    assert len(e.tick(at(10))) == 1
    e.observe(sig("web"), at(20))
    assert e.tick(at(69)) == []
    [d] = e.tick(at(70))
    assert len(d.alerts) == 2


def test_dedup_same_fingerprint_updates_the_alert_without_news() -> None:
    e = engine()
    first = e.observe(sig("api"), at(0))
    again = e.observe(AlertSignal("error-rate", {"service": "api"}, details={"observed": 9}),
                      at(5))
    assert first is not None and again is not None and again.id == first.id
    assert again.details == {"observed": 9}
    assert len(e.alerts()) == 1
    assert len(e.tick(at(10))) == 1
    e.observe(sig("api"), at(30))
    assert e.tick(at(100)) == []  # nothing changed: no notification before the repeat


def test_for_keeps_an_alert_pending_and_a_cleared_condition_never_fires() -> None:
    e = engine(rules={"error-rate": RuleSpec("error-rate", for_s=120)}, group_wait_s=0.0)
    e.observe(sig("api"), at(0))
    assert [a.state for a in e.alerts()] == ["pending"]
    assert e.tick(at(119)) == []
    [d] = e.tick(at(120))
    assert d.alerts[0].state == "firing" and d.alerts[0].fired_at == at(120)
    e.observe(sig("web"), at(200))
    resolved = e.observe(sig("web", active=False), at(250))
    assert resolved is not None and resolved.state == "resolved"
    assert e.tick(at(400)) == []


def test_resolution_is_notified_once_then_the_group_is_gone() -> None:
    e = engine()
    e.observe(sig("api"), at(0))
    e.tick(at(10))
    e.observe(sig("api", active=False), at(30))
    assert e.tick(at(69)) == []
    [d] = e.tick(at(70))
    assert d.status == "resolved" and d.alerts[0].state == "resolved"
    assert e.tick(at(10_000)) == []
    assert e.alerts() == []


def test_repeat_interval_and_acknowledgement_stops_repeats() -> None:
    e = engine()
    a = e.observe(sig("api"), at(0))
    assert a is not None
    e.tick(at(10))
    [d] = e.tick(at(3610))
    assert d.reason == "repeat"
    e.acknowledge(a.id, "alice", at(3700), "looking")
    assert e.tick(at(7300)) == []
    with pytest.raises(AckError):
        e.acknowledge("nope", "alice", at(7300))


def test_severity_change_is_news_for_the_group() -> None:
    e = engine()
    e.observe(sig("api"), at(0))
    e.tick(at(10))
    e.observe(sig("api", severity="critical"), at(20))
    [d] = e.tick(at(70))
    assert d.alerts[0].severity == "critical"


def test_a_silenced_alert_is_not_notified_until_the_silence_ends() -> None:
    e = engine()
    e.add_silence(SilenceRecord("s1", {"service": "api"}, at(0), at(100), "deploy", "bob",
                                at(0)), at(0))
    a = e.observe(sig("api"), at(1))
    assert a is not None and a.silenced_by == "s1"
    assert e.tick(at(50)) == []
    [d] = e.tick(at(100))  # the silence ran out and the alert still fires
    assert [x.silenced_by for x in d.alerts] == [None]


def test_a_silence_ended_early_and_matchers_on_alertname() -> None:
    e = engine()
    e.add_silence(SilenceRecord("s1", {"alertname": "error-rate"}, at(0), at(1000), "c", "b",
                                at(0)), at(0))
    e.observe(sig("api"), at(1))
    e.observe(sig("api", rule="throughput-min"), at(1))
    [d] = e.tick(at(20))
    assert d.alerts[0].rule == "throughput-min"
    e.end_silence("s1", at(30))
    [d] = e.tick(at(80))
    assert {a.rule for a in d.alerts} == {"error-rate"}


def test_escalation_after_time_unacknowledged() -> None:
    e = engine(escalation=(EscalationStep("email", 300), EscalationStep("pager", 900)),
               group_wait_s=0.0)
    a = e.observe(sig("api"), at(0))
    b = e.observe(sig("web"), at(0))
    assert a is not None and b is not None
    e.tick(at(0))
    e.acknowledge(b.id, "alice", at(100))
    assert e.tick(at(299)) == []
    [d] = e.tick(at(300))
    assert (d.reason, d.channels, [x.id for x in d.alerts]) == ("escalation", ("email",),
                                                                [a.id])
    assert d.alerts[0].escalation_level == 1
    assert e.tick(at(899)) == []
    [d] = e.tick(at(900))
    assert d.channels == ("pager",)
    e.acknowledge(a.id, "alice", at(901))
    assert e.tick(at(100_000)) == []


def test_rule_channels_route_apart_and_disabled_rules_are_ignored() -> None:
    e = engine(rules={"run.failed": RuleSpec("run.failed", channels=("email",)),
                      "error-rate": RuleSpec("error-rate", enabled=False)}, group_wait_s=0.0)
    assert e.observe(sig("api"), at(0)) is None
    e.observe(AlertSignal("run.failed", {"scenario": "shop"}), at(0))
    [d] = e.tick(at(0))
    assert d.channels == ("email",) and d.group_key.startswith("email:")


def test_resolve_after_expires_one_shot_alerts() -> None:
    e = engine(rules={"run.failed": RuleSpec("run.failed", resolve_after_s=600)},
               group_wait_s=0.0)
    e.observe(AlertSignal("run.failed", {"scenario": "shop"}), at(0))
    e.tick(at(0))
    [d] = e.tick(at(600))
    assert d.status == "resolved"


def test_restore_counts_firing_alerts_as_notified() -> None:
    e = engine(group_wait_s=0.0)
    e.observe(sig("api"), at(0))
    e.tick(at(0))
    stored = e.alerts()
    again = engine(group_wait_s=0.0)
    again.restore(stored, [], at(50))
    assert again.tick(at(60)) == []
    [d] = again.tick(at(50 + 3600))
    assert d.reason == "repeat"


# -- property: never more than one notification per group and change ----------------------

_step = st.one_of(
    st.tuples(st.just("signal"), st.sampled_from(["api", "web", "db"]),
              st.sampled_from(["error-rate", "throughput-min"]), st.booleans()),
    st.tuples(st.just("wait"), st.floats(min_value=0.5, max_value=400)),
    st.tuples(st.just("ack"), st.integers(min_value=0, max_value=5)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_step, max_size=40))
def test_one_notification_per_group_per_change(steps: list[tuple[object, ...]]) -> None:
    e = engine(escalation=(EscalationStep("email", 600),))
    now = 0.0
    last: dict[str, float] = {}
    notified_firing: set[str] = set()
    for step in steps:
        if step[0] == "signal":
            _, service, rule, active = step
            e.observe(sig(str(service), bool(active), str(rule)), at(now))
        elif step[0] == "ack":
            alerts = e.alerts()
            if alerts:
                e.acknowledge(alerts[int(str(step[1])) % len(alerts)].id, "x", at(now))
        else:
            now += float(str(step[1]))
        out: list[Dispatch] = e.tick(at(now))
        groups = [d.group_key for d in out if d.reason != "escalation"]
        assert len(groups) == len(set(groups))  # one per group per tick
        for d in out:
            assert d.alerts, "a notification always carries alerts"
            if d.reason == "escalation":
                continue
            if d.group_key in last:  # group_interval between two notifications
                assert now - last[d.group_key] >= 60.0
            last[d.group_key] = now
            for a in d.alerts:
                if a.state == "resolved":  # only what was announced firing is resolved
                    assert a.fingerprint in notified_firing
                else:
                    notified_firing.add(a.fingerprint)
        # A group that ended (all resolved and told) starts afresh with group_wait.
        last = {k: v for k, v in last.items() if k in e._groups}
