"""The service's own HTTP metrics: route templates, statuses, durations (in-process ASGI)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from intperf.monitor.metrics_http import HttpMetrics, install_http_metrics


def _app() -> tuple[FastAPI, HttpMetrics]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPException(404, "none")
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app, install_http_metrics(app)


def _families(metrics: HttpMetrics) -> dict:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(metrics)
    text = generate_latest(reg).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


async def test_requests_are_counted_by_route_template_method_and_status() -> None:
    app, metrics = _app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for i in (1, 2, 3, 0):
            await client.get(f"/items/{i}")
        await client.get("/nowhere/42")
        assert (await client.get("/boom")).status_code == 500
    fams = _families(metrics)
    counts = {(s.labels["route"], s.labels["status"]): s.value
              for s in fams["intperf_http_requests"].samples}
    assert counts == {("/items/{item_id}", "200"): 3, ("/items/{item_id}", "404"): 1,
                      ("unmatched", "404"): 1, ("/boom", "500"): 1}
    h = fams["intperf_http_request_duration_seconds"]
    assert h.type == "histogram"
    inf = [s.value for s in h.samples if s.name.endswith("_bucket")
           and s.labels["le"] == "+Inf" and s.labels["route"] == "/items/{item_id}"]
    assert inf == [4.0]
    assert fams["intperf_http_requests_in_progress"].samples[0].value == 0


def test_observe_with_an_injected_duration() -> None:
    m = HttpMetrics(bounds=(0.1, 1.0))
    m.started()
    m.observe("GET", "/x", 200, 0.5)
    fams = _families(m)
    buckets = {s.labels["le"]: s.value for s in fams["intperf_http_request_duration_seconds"]
               .samples if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 0, "1.0": 1, "+Inf": 1}
