"""Alert delivery against real receivers on 127.0.0.1 (a webhook HTTP server, an aiosmtpd SMTP
sink) with an injected clock: one notification per group, retries, escalation on time, e-mail
with text, HTML and attachments, and secrets kept out of the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from intperf.config import AlertChannelSettings
from intperf.monitor.alert_manager import AlertManager
from intperf.monitor.alert_model import AlertingPolicy, AlertSignal, EscalationStep
from intperf.monitor.notification import Attachment, Notification
from intperf.monitor.notifiers import Channels, LogNotifier
from intperf.monitor.notifiers_email import EmailNotifier
from intperf.monitor.notifiers_http import SlackNotifier, WebhookNotifier
from intperf.store import Database
from intperf.store.alert_repository import AlertRepository

from .alert_receivers import SmtpSink, WebhookReceiver, smtp_sink, webhook_receiver

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordedSleep:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def loopback() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=5.0, trust_env=False)  # no proxy: stay on 127.0.0.1


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver("/services/T0/B0/SECRETTOKEN?token=hunter2") as r:
        yield r


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_sink() as s:
        yield s


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[AlertRepository]:
    with Database(f"sqlite:///{tmp_path / 'alerts.db'}") as db:
        db.migrate()
        yield AlertRepository(db)


def email_channel(smtp: SmtpSink, name: str = "oncall") -> EmailNotifier:
    return EmailNotifier(name, host=smtp.host, port=smtp.port, sender="intperf@example.test",
                         to=["oncall@example.test", "lead@example.test"], timeout=5.0)


def manager(channels: Channels, repository: AlertRepository, clock: Clock,
            **policy: object) -> AlertManager:
    base: dict[str, object] = {"receivers": ("hook",), "group_wait_s": 10.0,
                               "group_interval_s": 60.0, "repeat_interval_s": 3600.0}
    base.update(policy)
    return AlertManager(AlertingPolicy(**base), channels, repository,  # type: ignore[arg-type]
                        clock=clock)


def signal(service: str, active: bool = True) -> AlertSignal:
    return AlertSignal("error-rate", {"service": service}, active=active, severity="critical",
                       title=f"{service}: error rate 12% (threshold 5%)",
                       details={"observed": 0.12, "threshold": 0.05})


async def test_exactly_one_notification_per_group(receiver: WebhookReceiver,
                                                  repository: AlertRepository) -> None:
    clock = Clock()
    channels = Channels([WebhookNotifier("hook", receiver.url, client_factory=loopback)])
    m = manager(channels, repository, clock)
    for service in ("api", "web", "db"):
        await m.observe(signal(service))
        clock.advance(1)
    await m.observe(signal("api"))  # the same alert again: deduplicated
    clock.advance(6)  # 9 s after the first alert
    assert await m.evaluate() == [] and receiver.requests == []
    clock.advance(1)
    [dispatch] = await m.evaluate()
    assert await m.evaluate() == []
    assert len(receiver.requests) == 1
    body = receiver.requests[0]["json"]
    assert body["kind"] == "alert-group" and body["status"] == "firing"
    assert body["groupKey"] == '{alertname="error-rate"}'
    assert sorted(a["labels"]["service"] for a in body["alerts"]) == ["api", "db", "web"]
    assert body["severity"] == "critical"
    # the notification is recorded for each alert it carried
    [delivery] = repository.deliveries(dispatch.alerts[0].id)
    assert (delivery.channel, delivery.delivered, delivery.attempts) == ("hook", True, 1)
    # resolving one alert is one more notification, after group_interval
    await m.observe(signal("web", active=False))
    clock.advance(59)
    assert await m.evaluate() == []
    clock.advance(1)
    assert len(await m.evaluate()) == 1
    assert len(receiver.requests) == 2
    states = {a["labels"]["service"]: a["state"] for a in receiver.requests[1]["json"]["alerts"]}
    assert states == {"api": "firing", "db": "firing", "web": "resolved"}
    assert repository.active_counts() == {"info": 0, "warning": 0, "critical": 2}


async def test_retries_when_the_receiver_fails(receiver: WebhookReceiver,
                                               repository: AlertRepository) -> None:
    receiver.fail_first = 2  # 500, 500, then 200
    sleep = RecordedSleep()
    clock = Clock()
    channels = Channels([WebhookNotifier("hook", receiver.url, client_factory=loopback)],
                        retries=3, backoff=0.25, sleep=sleep)
    m = manager(channels, repository, clock, group_wait_s=0.0)
    alert = await m.observe(signal("api"))
    assert alert is not None
    assert len(receiver.requests) == 3 and len(receiver.accepted) == 1
    assert sleep.delays == [0.25, 0.5]  # exponential backoff, injected sleep
    [delivery] = repository.deliveries(alert.id)
    assert (delivery.delivered, delivery.attempts, delivery.error) == (True, 3, None)


async def test_a_failing_channel_is_recorded_and_its_secret_never_logged(
        receiver: WebhookReceiver, repository: AlertRepository,
        caplog: pytest.LogCaptureFixture) -> None:
    receiver.fail_first = 100
    channels = Channels([WebhookNotifier("hook", receiver.url, client_factory=loopback),
                         LogNotifier("log")], retries=2, backoff=0.0, sleep=RecordedSleep())
    m = manager(channels, repository, Clock(), receivers=("hook", "log"), group_wait_s=0.0)
    with caplog.at_level(logging.DEBUG):
        alert = await m.observe(signal("api"))
    assert alert is not None
    by_channel = {d.channel: d for d in repository.deliveries(alert.id)}
    assert by_channel["hook"].delivered is False and by_channel["hook"].attempts == 3
    assert by_channel["hook"].error == "HTTP 500"
    assert by_channel["log"].delivered is True
    assert "SECRETTOKEN" not in caplog.text and "hunter2" not in caplog.text
    assert "channel hook failed after 3 attempt(s): HTTP 500" in caplog.text


async def test_escalation_to_email_on_time_unless_acknowledged(
        receiver: WebhookReceiver, smtp: SmtpSink, repository: AlertRepository) -> None:
    clock = Clock()
    channels = Channels([WebhookNotifier("hook", receiver.url, client_factory=loopback),
                         email_channel(smtp)])
    m = manager(channels, repository, clock, group_wait_s=0.0,
                escalation=(EscalationStep("oncall", 300.0),))
    api = await m.observe(signal("api"))
    web = await m.observe(signal("web"))
    assert api is not None and web is not None
    assert len(receiver.requests) == 1 and smtp.messages == []  # web waits group_interval
    await m.acknowledge(web.id, "alice", "on it")
    clock.advance(299)
    await m.evaluate()
    assert smtp.messages == []
    clock.advance(1)
    [escalated] = [d for d in await m.evaluate() if d.reason == "escalation"]
    assert [a.id for a in escalated.alerts] == [api.id]
    [msg] = smtp.messages
    assert msg["Subject"].strip().startswith("[ESCALATED:1]")  # folded: leading space
    assert smtp.recipients == [["oncall@example.test", "lead@example.test"]]
    assert "api: error rate 12% (threshold 5%)" in msg.get_body(("plain",)).get_content()
    stored = repository.get(api.id)
    assert stored is not None and stored.escalation_level == 1
    clock.advance(10_000)
    await m.evaluate()
    assert len(smtp.messages) == 1  # one step configured: escalated once


async def test_email_with_text_html_and_a_pdf_attachment(smtp: SmtpSink) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 4
    n = Notification(kind="daily-report", subject="Daily report 2026-03-01",
                     text="3 runs, 1 regression", html="<h1>Daily report</h1>",
                     attachments=(Attachment("daily-2026-03-01.pdf", "application/pdf", pdf),))
    channels = Channels([email_channel(smtp, "mail")])
    assert await channels.send(["mail"], n) == {"mail": True}
    [msg] = smtp.messages
    assert msg["Subject"] == "Daily report 2026-03-01"
    assert msg["X-Intperf-Kind"] == "daily-report"
    assert msg.get_body(("plain",)).get_content().strip() == "3 runs, 1 regression"
    assert "<h1>Daily report</h1>" in msg.get_body(("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "daily-2026-03-01.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf


async def test_an_unreachable_smtp_server_is_retried_then_reported() -> None:
    sleep = RecordedSleep()
    dead = EmailNotifier("mail", host="127.0.0.1", port=1, sender="a@example.test",
                         to=["b@example.test"], password="pa55w0rd", username="u",
                         timeout=2.0)
    channels = Channels([dead], retries=1, backoff=0.1, sleep=sleep)
    [result] = await channels.deliver(["mail"], Notification("x", "s", "t"))
    assert (result.delivered, result.attempts) == (False, 2)
    assert result.error == "ConnectionRefusedError"
    assert "pa55w0rd" not in repr(dead)


async def test_slack_channel_gets_text(receiver: WebhookReceiver) -> None:
    channels = Channels([SlackNotifier("slack", receiver.url, client_factory=loopback)])
    n = Notification("alert-group", "[FIRING:1] error-rate", "FIRING [critical] api down",
                     payload={"ignored": True})
    assert await channels.send(["slack", "nope"], n) == {"slack": True, "nope": False}
    assert receiver.requests[0]["json"] == {
        "text": "*[FIRING:1] error-rate*\nFIRING [critical] api down"}


def test_channel_settings_default_to_log_and_one_webhook_per_url() -> None:
    from intperf.config import load_settings
    from intperf.monitor.notifiers import channel_settings

    s = load_settings(environ={"INTPERF_INTPERF__WEBHOOKS": '["http://127.0.0.1:1/a", '
                                                            '"http://127.0.0.1:2/b"]'})
    names = [(c.name, c.type) for c in channel_settings(s)]
    assert names == [("log", "log"), ("webhook", "webhook"), ("webhook-2", "webhook")]
    with pytest.raises(ValueError, match="needs host"):
        AlertChannelSettings(name="m", type="email")


async def test_a_silence_mutes_until_it_is_ended(receiver: WebhookReceiver,
                                                 repository: AlertRepository) -> None:
    clock = Clock()
    channels = Channels([WebhookNotifier("hook", receiver.url, client_factory=loopback)])
    m = manager(channels, repository, clock, group_wait_s=0.0)
    silence = await m.add_silence({"service": "api"}, T0 + timedelta(hours=2), "deploy", "bob")
    alert = await m.observe(signal("api"))
    assert alert is not None and alert.silenced_by == silence.id
    clock.advance(3600)
    assert await m.evaluate() == [] and receiver.requests == []
    await m.end_silence(silence.id)
    await m.evaluate()
    [body] = receiver.wait_for(1)
    assert [a["silencedBy"] for a in body["alerts"]] == [None]
    stored = repository.get_silence(silence.id)
    assert stored is not None and stored.ends_at == clock.now


async def test_a_restarted_manager_does_not_notify_again(receiver: WebhookReceiver,
                                                         repository: AlertRepository) -> None:
    clock = Clock()
    channels = Channels([WebhookNotifier("hook", receiver.url, client_factory=loopback)])
    first = manager(channels, repository, clock, group_wait_s=0.0)
    alert = await first.observe(signal("api"))
    assert alert is not None and len(receiver.requests) == 1
    clock.advance(30)
    second = manager(channels, repository, clock, group_wait_s=0.0)
    await second.restore()
    again = await second.observe(signal("api"))  # deduplicated against the stored alert
    assert again is not None and again.id == alert.id
    clock.advance(600)
    assert await second.evaluate() == [] and len(receiver.requests) == 1
    await second.observe(signal("api", active=False))
    clock.advance(60)
    await second.evaluate()
    assert receiver.wait_for(2)[1]["status"] == "resolved"


@pytest.mark.parametrize("enabled", [True, False])
async def test_service_wiring(tmp_path: Path, enabled: bool) -> None:
    from intperf.config import load_settings
    from intperf.service.alerts import (
        AlertDispatcher,
        LogSink,
        ManagerSink,
        WebhookSink,
        start_alerting,
        stop_alerting,
    )
    from intperf.service.context import ServiceContext

    settings = load_settings(environ={
        "INTPERF_INTPERF__WEBHOOKS": '["http://127.0.0.1:9/hook"]',
        "INTPERF_INTPERF__ALERTING__ENABLED": str(enabled).lower()})
    with Database(f"sqlite:///{tmp_path / 'svc.db'}") as db:
        db.migrate()
        ctx = ServiceContext.build(settings, db, AlertDispatcher([]))
        manager = await start_alerting(ctx)
        try:
            assert ctx.channels is not None and ctx.channels.names() == ["log", "webhook"]
            if enabled:
                assert manager is ctx.alert_manager and manager is not None
                assert [type(s) for s in ctx.alerts.sinks] == [ManagerSink]
                assert manager.policy.receivers == ("log", "webhook")
            else:
                assert manager is None and ctx.alert_manager is None
                assert [type(s) for s in ctx.alerts.sinks] == [LogSink, WebhookSink]
        finally:
            await stop_alerting(ctx)
