"""The HTTP server's metrics, request ids and access log, in process (httpx over ASGI, the
backend mounted with respx): `GET /metrics` parsed with prometheus_client's own parser."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from fixtures.backend.respx_routes import MountedBackend, mount
from reference.auth import ApiKeys
from reference.backend import Backend
from reference.gateway import Gateway, build_gateway
from reference.observability.metrics import GatewayMetrics
from reference.store import SQLiteStore

BACKEND = "http://backend.test"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by name and label set."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


class Rig:
    def __init__(self, gateway: Gateway, backend: MountedBackend, api_keys: ApiKeys | None) -> None:
        self.gateway = gateway
        self.backend = backend
        self.app = gateway.http_app()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gw")

    async def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        resp = await self.http.get("/metrics")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain")
        return samples(resp.text)


async def _rig(tmp_path: Path, api_keys: ApiKeys | None = None) -> AsyncIterator[Rig]:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="gw").pass_through()
        mounted = mount(router, BACKEND)
        metrics = GatewayMetrics()
        backend = Backend(BACKEND, timeout=5, metrics=metrics)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), backend, metrics=metrics,
                                api_keys=api_keys)
        rig = Rig(gateway, mounted, api_keys)
        yield rig
        await rig.http.aclose()
        await gateway.aclose()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in _rig(tmp_path):
        yield r


async def test_metrics_count_requests_latency_backend_tokens_and_store(rig: Rig) -> None:
    created = await rig.http.post("/v1/responses", json={"model": "m", "input": "[[text:a b c]] one two"})
    assert created.status_code == 200
    response_id = created.json()["id"]
    assert (await rig.http.get(f"/v1/responses/{response_id}")).status_code == 200
    assert (await rig.http.get("/v1/responses/resp_missing")).status_code == 404
    streamed = await rig.http.post("/v1/responses", json={"model": "m", "input": "hi", "stream": True})
    assert streamed.status_code == 200 and "response.completed" in streamed.text

    scrape = await rig.scrape()
    requests = "responses_gateway_http_requests_total"
    assert value(scrape, requests, route="/v1/responses", method="POST", status="200") == 2
    # The route label is the rule, not the path: ids never become series of their own.
    assert value(scrape, requests, route="/v1/responses/<response_id>", method="GET", status="200") == 1
    assert value(scrape, requests, route="/v1/responses/<response_id>", method="GET", status="404") == 1
    assert value(scrape, "responses_gateway_http_request_duration_seconds_count", route="/v1/responses") == 2
    assert value(scrape, "responses_gateway_backend_request_duration_seconds_count",
                 operation="chat", path="direct") == 1
    assert value(scrape, "responses_gateway_backend_request_duration_seconds_count",
                 operation="chat_stream", path="direct") == 1
    assert value(scrape, "responses_gateway_backend_time_to_first_byte_seconds_count",
                 operation="chat_stream", path="direct") == 1
    # The scripted backend counts whitespace-separated words: "[[text:a b c]] one two" is 5 in,
    # "a b c" 3 out; the stream: "hi" in, "hi" out.
    assert value(scrape, "responses_gateway_tokens_total", direction="in") == 5 + 1
    assert value(scrape, "responses_gateway_tokens_total", direction="out") == 3 + 1
    assert value(scrape, "responses_gateway_store_operation_duration_seconds_count",
                 operation="save_response") == 2
    # The stream ended: nothing is active any more, but the gauge exists.
    assert (("responses_gateway_active_streams", frozenset({("path", "http")})) in scrape)
    assert value(scrape, "responses_gateway_active_streams", path="http") == 0


async def test_request_id_is_echoed_made_and_sent_to_the_backend(rig: Rig) -> None:
    given = await rig.http.post("/v1/responses", json={"model": "m", "input": "x"},
                                headers={"x-request-id": "client-id-123"})
    assert given.headers["x-request-id"] == "client-id-123"
    assert rig.backend.recorder.requests[-1]["headers"]["x-request-id"] == "client-id-123"

    made = await rig.http.get("/health")
    assert uuid.UUID(made.headers["x-request-id"]).version == 4
    # Errors carry one too, and an id unfit for a header or a log line is replaced.
    missing = await rig.http.get("/nowhere", headers={"x-request-id": "bad id\twith spaces"})
    assert missing.status_code == 404
    assert uuid.UUID(missing.headers["x-request-id"])


async def test_access_log_one_line_per_request_with_its_id(rig: Rig,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="reference.access"):
        await rig.http.post("/v1/responses", json={"model": "m", "input": "x"},
                            headers={"x-request-id": "rid-1"})
        await rig.http.get("/v1/responses/resp_nope", headers={"x-request-id": "rid-2"})
    lines = [r for r in caplog.records if r.name == "reference.access"]
    assert [(r.method, r.path, r.status, r.request_id, r.via) for r in lines] == [  # type: ignore[attr-defined]
        ("POST", "/v1/responses", 200, "rid-1", "http"),
        ("GET", "/v1/responses/resp_nope", 404, "rid-2", "http"),
    ]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]
    assert lines[0].getMessage().startswith("POST /v1/responses 200 ")


async def test_metrics_and_health_need_no_api_key(tmp_path: Path) -> None:
    async for rig in _rig(tmp_path, api_keys={"sk-one": "tenant-one"}):
        denied = await rig.http.get("/v1/responses/resp_x")
        assert denied.status_code == 401
        assert (await rig.http.get("/health")).status_code == 200
        scrape = await rig.scrape()  # no Authorization header
        assert value(scrape, "responses_gateway_http_requests_total",
                     route="/v1/responses/<response_id>", method="GET", status="401") == 1
