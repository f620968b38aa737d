"""Through `up`'s real Envoy: `/v1/models` (the catch-all route to the HTTP server), the request
id on the answer and at the model server, and the printed curl line naming a served model."""

from __future__ import annotations

import httpx
import pytest

from devstack.stack import Stack

pytestmark = [pytest.mark.envoy, pytest.mark.slow]


def test_models_and_request_id_through_envoy(up_stack: Stack) -> None:
    models = httpx.get(f"{up_stack.envoy_url}/v1/models", timeout=20)
    assert models.status_code == 200
    assert models.json()["object"] == "list" and "scripted" in [m["id"] for m in models.json()["data"]]
    assert models.headers["x-request-id"]

    created = httpx.post(f"{up_stack.envoy_url}/v1/responses", json={"model": "scripted", "input": "hi"},
                         headers={"x-request-id": "through-envoy-7"}, timeout=20)
    assert created.status_code == 200
    assert created.headers["x-request-id"] == "through-envoy-7"
    recorded = httpx.get(f"{up_stack.backend_url}/_fixture/requests", timeout=5).json()["requests"]
    chats = [r for r in recorded if r["path"].startswith("/v1/chat/completions")]
    assert chats[-1]["headers"]["x-request-id"] == "through-envoy-7"

    # Envoy's own id when the client sends none.
    assert httpx.get(f"{up_stack.envoy_url}/health", timeout=20).headers["x-request-id"]
    assert '"model": "scripted"' in up_stack.banner()[-1]
