"""A small Responses gateway for the harness self-tests, with switchable faults.

``FakeGateway`` answers like a conformant gateway (both profiles) until names are added to
``broken``; each name breaks one rule so that every case can be shown to FAIL (or be
NON_STRICT) on a broken gateway and PASS on the correct one. ``scripted = True`` makes it
answer ``[[probe:NONCE]]`` and ``[[text:...]]`` like ``fixtures.backend`` behind a gateway.

It runs in a thread (Hypercorn on a pre-bound port-0 socket), so the harness talks to it over
real HTTP with real chunked streaming.
"""

from __future__ import annotations

import httpx

from tests.support.fake_gateway import RunningFake

# ---------------------------------------------------------------------- the fake itself


def test_fake_gateway_answers_a_response(gw: RunningFake) -> None:
    r = httpx.post(gw.base_url + "/responses", json={"model": "m", "input": "hi"})
    assert r.status_code == 200
    assert r.json()["object"] == "response"
    assert httpx.get(gw.base_url + f"/responses/{r.json()['id']}").json()["id"] == r.json()["id"]


def test_fake_gateway_streams_in_several_chunks(gw: RunningFake) -> None:
    with httpx.stream(
        "POST", gw.base_url + "/responses", json={"model": "m", "input": "hi", "stream": True}
    ) as r:
        chunks = list(r.iter_raw())
    assert r.headers["content-type"].startswith("text/event-stream")
    assert len(chunks) > 2
    assert b"response.completed" in b"".join(chunks)
