"""`up --replicas 2 --db postgresql://...`: two gateway processes on one PostgreSQL behind one
Envoy. What one replica stores, the other serves; killing one under load loses no acknowledged
response, and Envoy takes the dead one out of rotation."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import Stack, StackConfig
from tests.support import postgres

CONCURRENT_CREATES = 300
APPENDS = 20

# About 45 s (a PostgreSQL server, two replicas, Envoy, 300 creates): its own nox session.
pytestmark = pytest.mark.replicas


@pytest.fixture(scope="module")
def replicas() -> Iterator[Stack]:
    with Stack(StackConfig(db=postgres.fresh_database(), replicas=2)) as running:
        yield running


def test_replicas_need_a_shared_database() -> None:
    with pytest.raises(ValueError, match="postgresql"):
        StackConfig(replicas=2)


def test_what_one_replica_stores_the_other_serves(replicas: Stack) -> None:
    first = replicas.http_url
    second = f"http://127.0.0.1:{replicas.more_addresses[0][0]}"
    created = httpx.post(f"{first}/v1/conversations", json={"metadata": {"k": "\u00e9"}}, timeout=10)
    assert created.status_code == 200
    read = httpx.get(f"{second}/v1/conversations/{created.json()['id']}", timeout=10)
    assert read.status_code == 200 and read.content == created.content
    # Through Envoy a create runs on either replica (ext_proc) and reads back from either.
    for n in range(4):
        made = httpx.post(f"{replicas.envoy_url}/v1/responses", json={"model": "m", "input": f"hi {n}"},
                          timeout=20)
        assert made.status_code == 200, made.text
        for base in (first, second):
            got = httpx.get(f"{base}/v1/responses/{made.json()['id']}", timeout=10)
            assert got.status_code == 200 and got.json()["output"] == made.json()["output"]


async def test_concurrent_appends_to_one_conversation_from_two_replicas_lose_nothing(
        replicas: Stack) -> None:
    bases = [replicas.http_url, f"http://127.0.0.1:{replicas.more_addresses[0][0]}"]
    async with httpx.AsyncClient(timeout=30) as client:
        conversation = (await client.post(f"{bases[0]}/v1/conversations", json={})).json()["id"]
        answers = await asyncio.gather(*(
            client.post(f"{bases[n % 2]}/v1/responses",
                        json={"model": "m", "input": f"turn {n}", "conversation": conversation})
            for n in range(APPENDS)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
        listed = await client.get(f"{bases[1]}/v1/conversations/{conversation}/items",
                                  params={"order": "asc", "limit": 100})
    items = listed.json()["data"]
    assert len(items) == 2 * APPENDS  # every input and every output, none lost or doubled
    positions = {item["id"]: i for i, item in enumerate(items)}
    for n, answer in enumerate(answers):
        output = positions[answer.json()["output"][0]["id"]]
        # "Input items and output items from this response are automatically added": each
        # response's input directly precedes its output, as with one process.
        own_input = items[output - 1]
        assert own_input["role"] == "user" and own_input["content"][0]["text"] == f"turn {n}", items


def _ingested(base: str, vs_id: str, text: str, name: str) -> str:
    upload = httpx.post(f"{base}/v1/files", data={"purpose": "assistants"}, timeout=10,
                        files={"file": (name, text.encode(), "text/plain")})
    assert upload.status_code == 200, upload.text
    file_id = str(upload.json()["id"])
    added = httpx.post(f"{base}/v1/vector_stores/{vs_id}/files", json={"file_id": file_id}, timeout=10)
    assert added.status_code == 200, added.text
    for _ in range(200):
        got = httpx.get(f"{base}/v1/vector_stores/{vs_id}/files/{file_id}", timeout=10).json()
        if got["status"] != "in_progress":
            assert got["status"] == "completed", got
            return file_id
        time.sleep(0.05)
    raise AssertionError(f"{file_id} still in progress")


def test_search_on_one_replica_sees_files_another_replica_added(replicas: Stack) -> None:
    first, second = replicas.http_url, f"http://127.0.0.1:{replicas.more_addresses[0][0]}"
    vs_id = httpx.post(f"{first}/v1/vector_stores", json={}, timeout=10).json()["id"]
    moon = _ingested(first, vs_id, "The moon raises the tides twice a day.", "moon.txt")

    def found(base: str) -> set[str]:
        page = httpx.post(f"{base}/v1/vector_stores/{vs_id}/search", json={"query": "tides violin"},
                          timeout=10)
        assert page.status_code == 200, page.text
        return {hit["file_id"] for hit in page.json()["data"]}

    assert found(second) == {moon}  # the second replica has now searched this store once
    violin = _ingested(first, vs_id, "A violin bow is strung with horsehair.", "violin.txt")
    assert found(second) == {moon, violin}


async def _create(client: httpx.AsyncClient, n: int) -> tuple[int, dict[str, object] | str]:
    try:
        answer = await client.post("/v1/responses", json={"model": "m", "input": f"[[slow:20]] create {n}"})
    except httpx.TransportError as exc:
        return 0, type(exc).__name__
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, answer.text


async def test_killing_a_replica_under_concurrent_creates_loses_no_acknowledged_response(
        replicas: Stack) -> None:
    limits = httpx.Limits(max_connections=CONCURRENT_CREATES)
    async with httpx.AsyncClient(base_url=replicas.envoy_url, timeout=60, limits=limits) as client:
        creates = [asyncio.create_task(_create(client, n)) for n in range(CONCURRENT_CREATES)]
        await asyncio.sleep(0.5)
        replicas.more_gateways[0].stop(signals=(signal.SIGKILL,))
        results = await asyncio.gather(*creates)
        acknowledged = [body for status, body in results if status == 200]
        refused = [(status, body) for status, body in results if status != 200]
        assert len(acknowledged) >= CONCURRENT_CREATES // 2, refused[:5]
        # The failed requests failed as clients see it: a reset or an OpenAI error, never a 500.
        for status, body in refused:
            openai_error = status in (502, 503, 504) and isinstance(body, dict) and "error" in body
            assert status == 0 or openai_error, (status, body)
        # Every acknowledged response is stored, byte for byte as answered, on the survivor.
        for body in acknowledged:
            assert isinstance(body, dict)
            got = await client.get(f"/v1/responses/{body['id']}")
            assert got.status_code == 200, got.text
            assert got.json() == body
        # The dead replica is out of rotation: new creates all succeed.
        for n in range(10):
            status, body = await _create(client, 1000 + n)
            assert status == 200, body
    print(f"{len(acknowledged)} acknowledged, {len(refused)} failed while a replica was killed")
