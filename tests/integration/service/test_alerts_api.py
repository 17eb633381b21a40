"""The alerting API on the running service (SQLite and PostgreSQL): a failed run raises
``run.failed``, delivered once to a real webhook on 127.0.0.1 and listed by
``GET /api/v1/alerts``; acknowledgement (operator yes, viewer no, 404, 409 once resolved);
silences (create, list, validation with the offending field, delete)."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_support import LiveService, MakeService, finish, run_body, submit

from intperf.demo import DemoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitor"))
from alert_receivers import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.integration

ALERTS = "/api/v1/alerts"
SILENCES = "/api/v1/silences"


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver("/hooks/SECRET") as r:
        yield r


@pytest.fixture(scope="module")
def alerting(make_service: MakeService, receiver: WebhookReceiver) -> LiveService:
    return make_service(extra_env={
        "INTPERF_INTPERF__WEBHOOKS": json.dumps([receiver.url]),
        "INTPERF_INTPERF__ALERTING__GROUP_WAIT": "0s",
        "INTPERF_INTPERF__ALERTING__GROUP_INTERVAL": "1s",
        "INTPERF_INTPERF__ALERTING__EVALUATION_INTERVAL": "0.2s",
    })


def probe_scenario(name: str) -> dict[str, Any]:
    """An inline scenario: one user asking the shop's /health every 50 ms."""
    return {"name": name, "journeys": [{"name": "ping", "think_time": "50ms", "steps": [
        {"request": {"name": "health", "path": "/health"}}]}]}


def _notified(receiver: WebhookReceiver, start: int, rule: str, state: str, scenario: str
              ) -> dict[str, Any]:
    """The first alert of ``rule`` in ``state`` for ``scenario`` notified after request
    ``start`` (waits for each further request, without polling)."""
    count = start + 1
    while True:
        for body in receiver.wait_for(count)[start:]:
            for a in body["alerts"]:
                if (a["rule"], a["state"], a["labels"].get("scenario")) == (
                        rule, state, scenario):
                    return a
        count += 1


def test_a_failed_run_alerts_once_and_is_listed(alerting: LiveService, demo_shop: DemoServer,
                                                receiver: WebhookReceiver) -> None:
    name = f"probe-{secrets.token_hex(4)}"
    with alerting.client("operator") as operator, alerting.client("viewer") as viewer:
        assert viewer.get(ALERTS).json() == {"alerts": [], "total": 0}
        before = len(receiver.requests)
        failing = submit(operator, run_body(demo_shop.url, scenario=probe_scenario(name),
                                            users=1, duration="1s",
                                            criteria=["rps > 1000000"]))
        assert finish(operator, failing)["verdict"] == "failed"
        notified = _notified(receiver, before, "run.failed", "firing", name)
        assert notified["runId"] == failing and notified["labels"] == {"scenario": name}

        page = viewer.get(ALERTS, params={"state": "firing"}).json()
        [alert] = [a for a in page["alerts"] if a["rule"] == "run.failed"
                   and a["labels"]["scenario"] == name]
        assert alert["runId"] == failing and alert["severity"] == "warning"
        assert alert["groupKey"] == '{alertname="run.failed"}'
        # acknowledgement: viewers may not, operators may; unknown ids are 404
        assert viewer.post(f"{ALERTS}/{alert['id']}/ack", json={}).status_code == 403
        r = operator.post(f"{ALERTS}/{alert['id']}/ack", json={"comment": "looking"})
        assert r.status_code == 200, r.text
        assert r.json()["acknowledgedBy"] == "test-operator"
        assert r.json()["acknowledgedAt"] is not None
        r = operator.post(f"{ALERTS}/nope/ack", json={})
        assert (r.status_code, r.json()["field"]) == (404, "id")
        assert viewer.get(f"{ALERTS}/nope").status_code == 404

        # a passing run of the scenario resolves it; a resolved alert cannot be acknowledged
        passing = submit(operator, run_body(demo_shop.url, scenario=probe_scenario(name),
                                            users=1, duration="1s",
                                            criteria=["error_rate < 50%"]))
        assert finish(operator, passing)["verdict"] == "passed"
        resolved = _notified(receiver, before, "run.failed", "resolved", name)
        assert resolved["id"] == alert["id"]
        detail = viewer.get(f"{ALERTS}/{alert['id']}").json()
        assert detail["state"] == "resolved" and detail["resolvedAt"] is not None
        # notifications go out one after another and each is recorded before the next: the
        # resolved one has arrived, so the firing one's deliveries are stored
        firing = [n for n in detail["notifications"] if n["reason"] == "firing"]
        channels = {n["channel"]: n for n in firing}
        assert channels["webhook"]["delivered"] is True
        assert channels["webhook"]["attempts"] == 1
        assert channels["log"]["delivered"] is True
        r = operator.post(f"{ALERTS}/{alert['id']}/ack", json={})
        assert (r.status_code, r.json()["field"]) == (409, "state")
        assert viewer.get(ALERTS, params={"state": "bogus"}).status_code == 422


def test_silences(alerting: LiveService) -> None:
    with alerting.client("operator") as operator, alerting.client("viewer") as viewer:
        body = {"matchers": {"alertname": "error-rate", "service": "shop"},
                "duration": "2h", "comment": "maintenance"}
        assert viewer.post(SILENCES, json=body).status_code == 403
        r = operator.post(SILENCES, json=body)
        assert r.status_code == 201, r.text
        silence = r.json()
        assert silence["active"] is True and silence["createdBy"] == "test-operator"
        assert silence["matchers"] == body["matchers"]
        listed = viewer.get(SILENCES).json()["silences"]
        assert [s["id"] for s in listed if s["active"]] == [silence["id"]]

        for bad, field in [({**body, "matchers": {}}, "matchers"),
                           ({**body, "endsAt": "2099-01-01T00:00:00Z"}, "duration"),
                           ({**body, "duration": "soon"}, "duration"),
                           ({"matchers": {"a": "b"}, "endsAt": "2000-01-01T00:00:00Z",
                             "comment": "x"}, "endsAt"),
                           ({"matchers": {"a": "b"}, "duration": "1h"}, "comment")]:
            r = operator.post(SILENCES, json=bad)
            assert (r.status_code, r.json()["field"]) == (422, field), (bad, r.text)

        assert viewer.delete(f"{SILENCES}/{silence['id']}").status_code == 403
        assert operator.delete(f"{SILENCES}/{silence['id']}").status_code == 204
        [ended] = [s for s in viewer.get(SILENCES).json()["silences"]
                   if s["id"] == silence["id"]]
        assert ended["active"] is False
        r = operator.delete(f"{SILENCES}/nope")
        assert (r.status_code, r.json()["field"]) == (404, "id")
