"""The streaming dialect follows the profile the gateway is configured for.

Open Responses: "the stream ends with `data: [DONE]`"; OpenAI's Responses streams have no such
terminator, and a client of that profile reads a spurious one as a malformed event.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import respx

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.config import GatewayConfig
from reference.gateway import build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"


@pytest.mark.parametrize(("profile", "expect_done"), [("openai", False), ("openresponses", True)])
async def test_done_marker_per_profile(tmp_path: Path, profile: str, expect_done: bool) -> None:
    config = GatewayConfig(backend_url=BACKEND, profile=profile)
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5))
        app = gateway.http_app(stream_done_marker=config.stream_done_marker)
        resp = await app.test_client().post(
            "/v1/responses", json={"model": "m", "input": "hello there", "stream": True})
        text = await resp.get_data(as_text=True)
        await gateway.aclose()
    frames = [f for f in text.split("\n\n") if f.strip()]
    terminal = frames[-2] if expect_done else frames[-1]
    assert terminal.startswith("event: response.completed"), terminal
    assert (frames[-1] == "data: [DONE]") is expect_done
    assert sum(f == "data: [DONE]" for f in frames) == (1 if expect_done else 0)


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(ValueError, match="profile"):
        GatewayConfig(backend_url=BACKEND, profile="anthropic")
