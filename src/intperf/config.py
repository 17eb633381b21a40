"""Settings: ``application.yml`` with the reference keys, our ``intperf.*`` keys, INTPERF_* env.

Every key is documented in docs/configuration.md. Precedence: defaults < the YAML file <
environment variables. An environment variable names a key path with ``__`` between levels
and ``_`` for ``-``: ``INTPERF_SERVER__PORT=9000``, ``INTPERF_INTPERF__STORAGE_URL=...``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from intperf.errors import UsageError
from intperf.loadtest.fields import Duration, Rate, Ratio

ENV_PREFIX = "INTPERF_"
log = logging.getLogger(__name__)


def kebab(name: str) -> str:
    """``max_users`` -> ``max-users``: the spelling of keys in application.yml."""
    return name.replace("_", "-")


class KebabModel(BaseModel):
    """A strict, frozen configuration section whose keys are written in kebab-case."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=kebab,
                              populate_by_name=True)


_Section = KebabModel


class ServerSettings(_Section):
    port: Annotated[int, Field(ge=1, le=65535)] = 8105
    host: str = "127.0.0.1"


class HikariSettings(_Section):
    """HikariCP pool knobs of the user's service (the DB advisor reasons about them)."""

    model_config = ConfigDict(extra="allow", frozen=True, alias_generator=kebab,
                              populate_by_name=True)
    maximum_pool_size: int = 20
    minimum_idle: int = 5
    connection_timeout: int = 30000
    idle_timeout: int = 600000
    max_lifetime: int = 1800000


class DatasourceSettings(_Section):
    model_config = ConfigDict(extra="allow", frozen=True, alias_generator=kebab,
                              populate_by_name=True)
    hikari: HikariSettings = HikariSettings()


class RedisClusterSettings(_Section):
    nodes: str = ""


class RedisSettings(_Section):
    model_config = ConfigDict(extra="allow", frozen=True, alias_generator=kebab,
                              populate_by_name=True)
    cluster: RedisClusterSettings = RedisClusterSettings()
    timeout: Duration = 2.0


class SpringSettings(_Section):
    """The reference's ``spring.*`` keys; unknown ones (``jpa``, ``application``) are kept."""

    model_config = ConfigDict(extra="allow", frozen=True, alias_generator=kebab,
                              populate_by_name=True)
    datasource: DatasourceSettings = DatasourceSettings()
    redis: RedisSettings = RedisSettings()


class GatlingSettings(_Section):
    base_url: str = "http://127.0.0.1:8080"
    max_users: Annotated[int, Field(ge=1)] = 1000
    ramp_duration: Duration = 300.0


class JMeterSettings(_Section):
    test_plan_path: str = "load-testing/jmeter-test-plan.jmx"
    thread_groups: Annotated[int, Field(ge=1)] = 5


class TestingSettings(_Section):
    gatling: GatlingSettings = GatlingSettings()
    jmeter: JMeterSettings = JMeterSettings()


class AlertThresholds(_Section):
    response_time_99th: Duration = 2.0
    error_rate: Ratio = 0.05
    throughput_min: Rate = 100.0


class MonitoringSettings(_Section):
    metrics_interval: Duration = 30.0
    alert_thresholds: AlertThresholds = AlertThresholds()


class OptimizationSettings(_Section):
    auto_tune: bool = False
    cache_optimization: bool = False
    query_optimization: bool = False
    """Whether ``POST /api/v1/db/analyses`` may apply the index advice (``"apply": true``)."""
    maintenance_window: str | None = None
    """``HH:MM-HH:MM [time zone]``: the service builds indexes only inside it (docs/dbopt.md)."""
    measure_period: Annotated[Duration, Field(ge=0, le=3600)] = 60.0
    """Apply mode measures statement times this long before and after creating indexes."""

    @field_validator("maintenance_window")
    @classmethod
    def _window_parses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from intperf.dbopt.maintenance import MaintenanceWindow

        try:
            return str(MaintenanceWindow.parse(value))
        except UsageError as exc:
            raise ValueError(str(exc)) from None


class PerformanceSettings(_Section):
    testing: TestingSettings = TestingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    optimization: OptimizationSettings = OptimizationSettings()


class LimitSettings(_Section):
    """Caps that keep a shared service from being turned into a weapon."""

    max_users: Annotated[int, Field(ge=1)] = 2000
    max_rate: Annotated[float, Field(gt=0)] = 5000.0
    max_duration: Duration = 3600.0
    max_concurrent_runs: Annotated[int, Field(ge=1)] = 2
    max_queued_runs: Annotated[int, Field(ge=0)] = 20
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    max_import_bytes: Annotated[int, Field(ge=1024)] = 2 * 1024**3
    """Cap of an upload to ``POST /api/v1/performance/imports`` (streamed to disk)."""
    submissions_per_minute: Annotated[int, Field(ge=1)] = 30


class StreamDatabase(_Section):
    """A service's PostgreSQL (a list entry, so service names keep their underscores)."""

    service: Annotated[str, Field(min_length=1)]
    dsn: Annotated[str, Field(min_length=1)]


class StreamSettings(_Section):
    """Live analytics (``intperf.stream.*``): topics, windows, thresholds; docs/stream.md."""

    topic: str = "performance-events"
    slow_queries_topic: str = "slow-queries"
    dead_letter_topic: str = "performance-events-dlq"
    group: str = "intperf-stream"
    partitions: Annotated[int, Field(ge=1, le=256)] = 4
    window: Duration = 60.0
    """Response-time windows (the reference: 1 minute)."""
    cache_window: Duration = 300.0
    """Cache windows (the reference: 5 minutes)."""
    storm_pane: Duration = 60.0
    """Miss storms are judged per pane of this length (it must divide ``cache-window``)."""
    storm_min_misses: Annotated[int, Field(ge=0)] = 100
    storm_factor: Annotated[float, Field(gt=1.0)] = 3.0
    throughput_alerts: bool = False
    """Alert when a service serves fewer requests/s than ``throughput-min``."""
    grace: Duration = 10.0
    """How late an event may be (behind the newest event time) and still count."""
    idle_timeout: Duration = 30.0
    """A quiet key's last window closes this long after its end + grace, by the wall clock."""
    commit_interval: Duration = 1.0
    slow_query_threshold: Duration = 0.5
    large_result_rows: Annotated[int, Field(ge=1)] = 1000
    databases: list[StreamDatabase] = Field(default_factory=list)
    """Which PostgreSQL each service queries, for index hints on its slow queries."""
    journal_dir: str = ""
    """The embedded bus's journal; empty: beside a SQLite database (``<file>.journal``), else
    ``stream-journal`` in the working directory. It belongs with the database's checkpoints."""
    max_events_per_request: Annotated[int, Field(ge=1)] = 50_000
    embedded: bool = True
    """Whether the service runs a processor itself (with ``intperf.bus``)."""

    @model_validator(mode="after")
    def _panes_nest(self) -> StreamSettings:
        window_ms, pane_ms = round(self.cache_window * 1000), round(self.storm_pane * 1000)
        if pane_ms <= 0 or window_ms <= 0 or window_ms % pane_ms:
            raise ValueError(f"storm-pane ({self.storm_pane:g}s) must divide cache-window "
                             f"({self.cache_window:g}s)")
        return self


class SloSettings(_Section):
    """Service-level objectives of the live services, for ``intperf export prometheus-rules``
    (multi-window multi-burn-rate alerts, docs/monitoring.md)."""

    availability_objective: Annotated[Ratio, Field(gt=0, lt=1)] = 0.999
    """Share of requests that must not fail (HTTP 5xx or transport errors)."""
    latency_threshold: Annotated[Duration, Field(gt=0)] = 0.5
    """A request slower than this counts against the latency objective."""
    latency_objective: Annotated[Ratio, Field(gt=0, lt=1)] = 0.99
    """Share of requests that must be faster than ``latency-threshold``."""
    period_days: Annotated[int, Field(ge=1, le=365)] = 30
    """The SLO period the error budget is spent over (the burn-rate factors assume 30)."""


class AlertChannelSettings(_Section):
    """One alert channel (``intperf.alerting.channels[]``); docs/alerting.md."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.-]+$")]
    type: Annotated[str, Field(pattern="^(webhook|slack|email|log)$")]
    url: Annotated[str | None, Field(repr=False)] = None
    """webhook, slack: where to POST (its path and query are never logged)."""
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    sender: Annotated[str | None, Field(alias="from")] = None
    to: list[str] = Field(default_factory=list)
    username: str | None = None
    password: Annotated[str | None, Field(repr=False)] = None
    password_env: str | None = None
    """Name of an environment variable holding the SMTP password (kept out of files)."""
    starttls: bool = False
    ssl: bool = False
    timeout: Annotated[Duration, Field(gt=0)] = 10.0

    @model_validator(mode="after")
    def _complete(self) -> AlertChannelSettings:
        if self.type in ("webhook", "slack") and not self.url:
            raise ValueError(f"channel {self.name}: a {self.type} channel needs url")
        if self.type == "email" and not (self.host and self.to and self.sender):
            raise ValueError(f"channel {self.name}: an email channel needs host, from and to")
        return self


class AlertRuleSettings(_Section):
    """Overrides of one alert rule (``intperf.alerting.rules[]``), by its name."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    for_: Annotated[Duration, Field(alias="for", ge=0)] = 0.0
    severity: Annotated[str | None, Field(pattern="^(info|warning|critical)$")] = None
    channels: list[str] | None = None
    enabled: bool = True
    resolve_after: Annotated[Duration | None, Field(gt=0)] = None
    threshold: Ratio | None = None
    """``payment-success-rate``: the lowest acceptable success ratio (e.g. ``95%``)."""


class EscalationStepSettings(_Section):
    channel: str
    after: Annotated[Duration, Field(gt=0)]


class AlertingSettings(_Section):
    """``intperf.alerting``: channels, rules, grouping, escalation; docs/alerting.md."""

    enabled: bool = True
    channels: list[AlertChannelSettings] | None = None
    """None: a ``log`` channel plus one ``webhook`` channel per ``intperf.webhooks`` URL."""
    receivers: list[str] | None = None
    """Channels every group goes to; None: every channel no escalation step names."""
    rules: list[AlertRuleSettings] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    group_wait: Annotated[Duration, Field(ge=0)] = 10.0
    group_interval: Annotated[Duration, Field(gt=0)] = 60.0
    repeat_interval: Annotated[Duration, Field(gt=0)] = 4 * 3600.0
    escalation: list[EscalationStepSettings] = Field(default_factory=list)
    evaluation_interval: Annotated[Duration, Field(gt=0, le=60)] = 1.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff: Annotated[Duration, Field(ge=0)] = 0.5

    @model_validator(mode="after")
    def _names_exist(self) -> AlertingSettings:
        names = [c.name for c in self.channels or []]
        if len(set(names)) != len(names):
            raise ValueError("alerting.channels: channel names must be unique")
        if self.channels is not None:
            used = [*(self.receivers or []), *(s.channel for s in self.escalation),
                    *(c for r in self.rules for c in r.channels or [])]
            unknown = sorted(set(used) - set(names))
            if unknown:
                raise ValueError(f"alerting: unknown channel(s) {', '.join(unknown)}")
        return self


class CacheTuningSettings(_Section):
    """``intperf.cache-tuning``: how the service tunes TTLs of intperf-managed caches when
    ``performance.optimization.cache-optimization`` is on (docs/cache.md, "TTL tuning")."""

    redis: str = ""
    """redis:// URL of the Redis the caches register in; empty: the first of
    ``spring.redis.cluster.nodes`` (as a cluster), else tuning stays off."""
    interval: Annotated[Duration, Field(gt=0)] = 300.0
    lookback: Annotated[Duration, Field(gt=0)] = 1800.0
    cooldown: Annotated[Duration, Field(ge=0)] = 900.0
    low_hit_rate: Ratio = 0.85
    high_hit_rate: Ratio = 0.97
    min_accesses: Annotated[int, Field(ge=1)] = 200


class DailyReportSettings(_Section):
    """``intperf.reports.daily``: when and where the service sends the daily report
    (docs/reports.md, "Daily report")."""

    enabled: bool = False
    at: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "07:00"
    """Local time of day (``HH:MM``, in ``timezone``) the previous day's report is sent."""
    timezone: str = "UTC"
    channels: list[str] = Field(default_factory=list)
    """Names of the alerting channels that receive it (``intperf.alerting.channels``)."""

    @field_validator("at", mode="before")
    @classmethod
    def _sexagesimal(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 07:00 as the base-60 integer 420 (minutes).
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return f"{value // 60:02d}:{value % 60:02d}"
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ReportsSettings(_Section):
    """``intperf.reports``: reports the service makes by itself."""

    daily: DailyReportSettings = DailyReportSettings()


class IntperfSettings(_Section):
    """Our own keys."""

    storage_url: str = "sqlite:///intperf.db"
    bus: str = "memory"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    allowed_targets: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128", "localhost"])
    """Hosts, CIDRs or URL prefixes that runs may target (loopback by default)."""
    results_dir: str = "results"
    scenario_dir: str = "scenarios"
    test_plan_dir: str = "load-testing"
    retention_days: Annotated[int, Field(ge=1)] = 90
    webhooks: list[str] = Field(default_factory=list)
    limits: LimitSettings = LimitSettings()
    schedules: list[dict[str, Any]] = Field(default_factory=list)
    stream: StreamSettings = StreamSettings()
    reports: ReportsSettings = ReportsSettings()
    cache_tuning: CacheTuningSettings = CacheTuningSettings()
    alerting: AlertingSettings = AlertingSettings()
    slo: SloSettings = SloSettings()


class Settings(_Section):
    """The whole configuration."""

    model_config = ConfigDict(extra="allow", frozen=True, alias_generator=kebab,
                              populate_by_name=True)
    server: ServerSettings = ServerSettings()
    spring: SpringSettings = SpringSettings()
    performance: PerformanceSettings = PerformanceSettings()
    intperf: IntperfSettings = IntperfSettings()


#: INTPERF_* variables that are not configuration keys.
_NOT_KEYS = frozenset({"INTPERF_API_KEY", "INTPERF_SERVER", "INTPERF_TEST_POSTGRES_URL"})


def _env_value(value: str) -> Any:
    """A YAML scalar or list (``5``, ``true``, ``[a, b]``), else the text itself."""
    if not value:
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in _NOT_KEYS:
            continue
        if "__" not in key:
            log.warning("%s is not a configuration key: separate levels with '__', e.g. "
                        "INTPERF_SERVER__PORT", key)
            continue
        path = [p.lower().replace("_", "-") for p in key[len(ENV_PREFIX):].split("__")]
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"{key}: {'.'.join(path)} conflicts with another variable")
            node = child
        node[path[-1]] = _env_value(value)
    return out


def _kebab_keys(data: Any) -> Any:
    """snake_case keys as kebab-case, so a file and the environment name keys alike."""
    if isinstance(data, Mapping):
        return {str(k).replace("_", "-"): _kebab_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_kebab_keys(v) for v in data]
    return data


#: Top-level sections we read; others are kept (Spring files carry more) but warned about.
_TOP_LEVEL = frozenset({"server", "spring", "performance", "intperf", "management", "logging"})


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), dict):
            merged[k] = _deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def load_settings(path: str | Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (YAML) if given, apply INTPERF_* variables, validate.

    Raises UsageError naming the key and the problem.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"{p}: cannot read the configuration: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise UsageError(f"{p}: not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise UsageError(f"{p}: the configuration must be a mapping of keys")
        data = _kebab_keys(loaded or {})
    env = _env_overrides(os.environ if environ is None else environ)
    if env:
        source = f"{source} + INTPERF_* environment" if path is not None else \
            "INTPERF_* environment"
    data = _deep_merge(data, env)
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        log.warning("%s: unknown top-level configuration section(s) %s (known: %s)", source,
                    ", ".join(unknown), ", ".join(sorted(_TOP_LEVEL)))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"{source}: invalid configuration: {problems}") from None
