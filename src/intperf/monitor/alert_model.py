"""The values of alerting: signals from sources, rules, silences, the policy and dispatches.

An alert is identified by its fingerprint (rule name + sorted labels); its lifecycle and the
grouping of notifications live in :mod:`intperf.monitor.alert_engine` (docs/alerting.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from intperf.store.alert_repository import AlertRecord, SilenceRecord

__all__ = [
    "BUILTIN_RULES",
    "AlertSignal",
    "AlertState",
    "AlertingPolicy",
    "Dispatch",
    "EscalationStep",
    "RuleSpec",
    "Severity",
    "fingerprint",
    "match_labels",
    "silence_matches",
]

Severity = Literal["info", "warning", "critical"]
AlertState = Literal["pending", "firing", "resolved"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

#: Rules the service's own sources raise (docs/alerting.md lists them).
BUILTIN_RULES = ("response-time-99th", "error-rate", "throughput-min", "cache-miss-storm",
                 "payment-success-rate", "run.failed", "run.regression")


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """The identity of an alert: a hash of its rule and its sorted labels."""
    doc = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """What a source observed: the condition of ``rule`` for ``labels`` is true or not."""

    rule: str
    labels: Mapping[str, str]
    active: bool = True
    severity: Severity = "warning"
    title: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def fingerprint(self) -> str:
        """See :func:`fingerprint`."""
        return fingerprint(self.rule, self.labels)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """How one rule behaves: ``for_s`` pending time, severity and channel overrides."""

    name: str
    for_s: float = 0.0
    severity: Severity | None = None
    channels: tuple[str, ...] | None = None
    enabled: bool = True
    resolve_after_s: float | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """After ``after_s`` firing unacknowledged, also notify ``channel``."""

    channel: str
    after_s: float


@dataclass(frozen=True, slots=True)
class AlertingPolicy:
    """Routing, grouping and escalation: Alertmanager's route with one level."""

    receivers: tuple[str, ...] = ("log",)
    group_by: tuple[str, ...] = ("alertname",)
    group_wait_s: float = 10.0
    group_interval_s: float = 60.0
    repeat_interval_s: float = 4 * 3600.0
    escalation: tuple[EscalationStep, ...] = ()
    rules: Mapping[str, RuleSpec] = field(default_factory=dict)

    def rule(self, name: str) -> RuleSpec:
        """The configured rule ``name``, or the defaults."""
        return self.rules.get(name) or RuleSpec(name)

    def route(self, rule: str) -> tuple[str, ...]:
        """The channels a group of ``rule``'s alerts goes to."""
        spec = self.rules.get(rule)
        return spec.channels if spec is not None and spec.channels is not None \
            else self.receivers

    def group_key(self, rule: str, labels: Mapping[str, str], severity: str) -> str:
        """``{alertname="error-rate"}``, prefixed by the channels when the rule routes apart."""
        all_labels = match_labels(rule, labels, severity)
        inner = ",".join(f'{k}="{all_labels.get(k, "")}"' for k in self.group_by)
        route = self.route(rule)
        prefix = "" if route == self.receivers else f"{'+'.join(route)}:"
        return f"{prefix}{{{inner}}}"

    def escalation_due(self, fired_at: datetime, now: datetime) -> int:
        """How many escalation steps are due for an alert firing since ``fired_at``."""
        elapsed = now - fired_at
        return sum(1 for s in self.escalation if elapsed >= timedelta(seconds=s.after_s))


def match_labels(rule: str, labels: Mapping[str, str], severity: str) -> dict[str, str]:
    """The labels matchers and group-by see: ``alertname`` and ``severity`` added."""
    return {"alertname": rule, "severity": severity, **labels}


def silence_matches(silence: SilenceRecord, alert: AlertRecord, now: datetime) -> bool:
    """Whether ``silence`` is active at ``now`` and all its matchers equal the alert's labels."""
    if not silence.starts_at <= now < silence.ends_at:
        return False
    labels = match_labels(alert.rule, alert.labels, alert.severity)
    return all(labels.get(k) == v for k, v in silence.matchers.items())


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One notification of one group to its channels (``reason`` says why it goes out)."""

    group_key: str
    reason: Literal["firing", "resolved", "repeat", "escalation"]
    channels: tuple[str, ...]
    alerts: tuple[AlertRecord, ...]
    at: datetime

    @property
    def status(self) -> Literal["firing", "resolved"]:
        """``resolved`` when no alert of the notification is firing any more."""
        return "firing" if any(a.state == "firing" for a in self.alerts) else "resolved"
