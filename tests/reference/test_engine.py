"""The engine against the scripted backend mounted with respx (no sockets)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from fixtures.backend.respx_routes import MountedBackend, mount
from reference.backend import Backend
from reference.core.errors import APIError
from reference.engine import Engine
from reference.gateway import Gateway, build_gateway
from reference.store import SQLiteStore, StoreUnavailable

BACKEND = "http://backend.test"
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


class Harness:
    def __init__(self, engine: Engine, backend: MountedBackend, router: respx.Router) -> None:
        self.engine = engine
        self.backend = backend
        self.router = router

    async def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("model", "test-model")
        prepared = await self.engine.prepare(body)
        result: dict[str, Any] = json.loads(await self.engine.create(prepared))
        return result

    async def stream(self, **body: Any) -> list[dict[str, Any]]:
        body.setdefault("model", "test-model")
        body["stream"] = True
        prepared = await self.engine.prepare(body)
        return [event async for event in self.engine.stream(prepared)]

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.backend.recorder.requests if r["path"] == "/v1/chat/completions"]


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    with respx.mock(assert_all_called=False) as router:
        mounted = mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5))
        engine = gateway.engine
        yield Harness(engine, mounted, router)
        await gateway.aclose()


def _text(response: dict[str, Any]) -> str:
    return "".join(part["text"] for item in response["output"] if item["type"] == "message"
                   for part in item["content"] if part["type"] == "output_text")


async def test_create_completes_and_stores_exact_text(h: Harness) -> None:
    prepared = await h.engine.prepare({"model": "test-model", "input": "hello there"})
    text = await h.engine.create(prepared)
    response = json.loads(text)
    assert response["status"] == "completed"
    assert response["id"].startswith("resp_")
    assert _text(response) == "hello there"
    assert await h.engine.get_text(response["id"]) == text
    items = await h.engine.input_items(response["id"], order="asc")
    assert [i["type"] for i in items["data"]] == ["message"]
    assert items["data"][0]["content"][0]["text"] == "hello there"


async def test_history_includes_function_calls_and_outputs_in_order(h: Harness) -> None:
    first = await h.create(input='what is the weather? [[tool:get_weather:{"city":"Paris"}]]',
                           tools=[WEATHER_TOOL])
    calls = [item for item in first["output"] if item["type"] == "function_call"]
    assert len(calls) == 1 and calls[0]["name"] == "get_weather"
    call_id = calls[0]["call_id"]
    second = await h.create(previous_response_id=first["id"], tools=[WEATHER_TOOL],
                            input=[{"type": "function_call_output", "call_id": call_id, "output": "sunny"}])
    assert _text(second) == "tool result: sunny"
    third = await h.create(previous_response_id=second["id"], input="[[messages]]")
    messages = json.loads(_text(third))
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert messages[0]["content"].startswith("what is the weather?")
    assert messages[1]["tool_calls"] == [{"name": "get_weather", "arguments": '{"city":"Paris"}'}]
    assert messages[2]["tool_call_id"] == call_id and messages[2]["content"] == "sunny"
    assert messages[3]["content"] == "tool result: sunny"
    assert messages[4]["content"] == "[[messages]]"


async def test_instructions_are_not_inherited(h: Harness) -> None:
    first = await h.create(input="hi", instructions="Talk like a pirate.")
    second = await h.create(previous_response_id=first["id"], input="[[messages]]")
    roles = [m["role"] for m in json.loads(_text(second))]
    assert "system" not in roles and roles == ["user", "assistant", "user"]
    assert second["instructions"] is None
    third = await h.create(previous_response_id=second["id"], input="[[messages]]", instructions="Be brief.")
    messages = json.loads(_text(third))
    systems = [m for m in messages if m["role"] == "system"]
    assert systems == [{"role": "system", "content": "Be brief."}]


async def test_unknown_previous_response_id_is_400_naming_the_param(h: Harness) -> None:
    with pytest.raises(APIError) as info:
        await h.create(previous_response_id="resp_nope", input="x")
    assert info.value.status == 400
    assert info.value.param == "previous_response_id"
    assert info.value.code == "previous_response_not_found"
    assert h.chat_requests() == []


async def test_store_false_is_never_persisted(h: Harness) -> None:
    response = await h.create(input="secret", store=False)
    assert response["status"] == "completed" and response["store"] is False
    with pytest.raises(APIError) as info:
        await h.engine.get(response["id"])
    assert info.value.status == 404
    assert (await h.engine.list())["data"] == []
    with pytest.raises(APIError) as chained:
        await h.create(previous_response_id=response["id"], input="again")
    assert chained.value.param == "previous_response_id"
    events = await h.stream(input="streamed secret", store=False)
    assert events[-1]["type"] == "response.completed"
    assert (await h.engine.list())["data"] == []


async def test_metadata_is_kept_and_stored(h: Harness) -> None:
    response = await h.create(input="x", metadata={"ticket": "T-1", "team": "core"})
    assert response["metadata"] == {"ticket": "T-1", "team": "core"}
    assert (await h.engine.get(response["id"]))["metadata"] == {"ticket": "T-1", "team": "core"}


async def test_background_goes_queued_in_progress_completed(h: Harness) -> None:
    response = await h.create(input="[[slow:300]] [[text:done later]]", background=True)
    assert response["status"] == "queued" and response["background"] is True
    rid = response["id"]
    seen = [response["status"]]
    for _ in range(200):
        status = (await h.engine.get(rid))["status"]
        if status != seen[-1]:
            seen.append(status)
        if status == "completed":
            break
        await asyncio.sleep(0.01)
    assert seen == ["queued", "in_progress", "completed"]
    final = await h.engine.get(rid)
    assert _text(final) == "done later"
    assert final["usage"] is not None


async def test_background_requires_store(h: Harness) -> None:
    with pytest.raises(APIError) as info:
        await h.create(input="x", background=True, store=False)
    assert info.value.status == 400 and info.value.param == "background"


async def test_background_failure_is_stored_as_failed(h: Harness) -> None:
    response = await h.create(input="[[error:503]]", background=True)
    await h.engine.wait_background(response["id"])
    stored = await h.engine.get(response["id"])
    assert stored["status"] == "failed"
    assert "scripted error 503" in stored["error"]["message"]
    assert stored["output"] == []


async def test_cancel_background_in_progress(h: Harness) -> None:
    response = await h.create(input="[[slow:5000]] slow", background=True)
    rid = response["id"]
    for _ in range(100):
        if (await h.engine.get(rid))["status"] == "in_progress":
            break
        await asyncio.sleep(0.01)
    cancelled = json.loads(await h.engine.cancel(rid))
    assert cancelled["status"] == "cancelled"
    assert (await h.engine.get(rid))["status"] == "cancelled"
    # Idempotent: cancelling again returns the cancelled response.
    assert json.loads(await h.engine.cancel(rid))["status"] == "cancelled"
    await asyncio.sleep(0.05)
    assert (await h.engine.get(rid))["status"] == "cancelled"


async def test_cancel_rules(h: Harness) -> None:
    plain = await h.create(input="x")
    with pytest.raises(APIError) as not_background:
        await h.engine.cancel(plain["id"])
    assert not_background.value.status == 400
    done = await h.create(input="quick", background=True)
    await h.engine.wait_background(done["id"])
    assert (await h.engine.get(done["id"]))["status"] == "completed"
    with pytest.raises(APIError) as finished:
        await h.engine.cancel(done["id"])
    assert finished.value.status == 400
    with pytest.raises(APIError) as unknown:
        await h.engine.cancel("resp_unknown")
    assert unknown.value.status == 404


@pytest.mark.parametrize(
    ("script", "status", "message"),
    [
        ("[[error:400]]", 400, "scripted error 400"),
        ("[[error:404:ollama]]", 404, "scripted error 404"),
        ("[[error:422]]", 422, "scripted error 422"),
        ("[[error:500]]", 502, "scripted error 500"),
        ("[[error:503:ollama]]", 502, "scripted error 503"),
        ("[[malformed]]", 502, "not JSON"),
        ("[[drop]]", 502, "could not be reached"),
    ],
)
async def test_backend_failures_map_to_api_errors_and_store_nothing(
    h: Harness, script: str, status: int, message: str
) -> None:
    with pytest.raises(APIError) as info:
        await h.create(input=script)
    assert info.value.status == status
    assert message in info.value.message
    assert (await h.engine.list())["data"] == []


async def test_backend_timeout_is_504(h: Harness) -> None:
    # respx does not enforce timeouts; raise what httpx raises when one expires.
    h.backend.route.side_effect = httpx.ReadTimeout("timed out")
    with pytest.raises(APIError) as info:
        await h.create(input="x")
    assert info.value.status == 504 and info.value.code == "backend_timeout"


async def test_backend_unreachable_is_502(h: Harness) -> None:
    h.backend.route.side_effect = httpx.ConnectError("connection refused")
    with pytest.raises(APIError) as info:
        await h.create(input="x")
    assert info.value.status == 502 and info.value.code == "backend_unreachable"
    events = await h.stream(input="x")
    assert events[-1]["type"] == "response.failed"


async def test_stream_completes_and_is_stored(h: Harness) -> None:
    events = await h.stream(input="one two three")
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    numbers = [e["sequence_number"] for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    final = events[-1]["response"]
    stored = await h.engine.get(final["id"])
    assert stored == final
    assert _text(stored) == "one two three"


@pytest.mark.parametrize("script", ["[[drop]]", "[[error:500]]", "[[error:429]]", "[[malformed]]"])
async def test_stream_failure_ends_with_response_failed_and_stores_failed(h: Harness, script: str) -> None:
    events = await h.stream(input=f"some words {script}")
    assert events[-1]["type"] == "response.failed"
    assert not any(e["type"] == "response.completed" for e in events)
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    stored = await h.engine.get(failed["id"])
    assert stored["status"] == "failed"
    assert stored["error"] == failed["error"]


async def test_background_stream_is_stored_while_running(h: Harness) -> None:
    events = await h.stream(input="bg stream", background=True)
    assert events[-1]["type"] == "response.completed"
    stored = await h.engine.get(events[-1]["response"]["id"])
    assert stored["status"] == "completed" and stored["background"] is True


async def test_delete_and_list(h: Harness) -> None:
    a = await h.create(input="a")
    b = await h.create(input="b")
    listed = await h.engine.list(order="asc")
    assert [r["id"] for r in listed["data"]] == [a["id"], b["id"]]
    deleted = await h.engine.delete(a["id"])
    assert deleted == {"id": a["id"], "object": "response.deleted", "deleted": True}
    with pytest.raises(APIError) as gone:
        await h.engine.get(a["id"])
    assert gone.value.status == 404
    with pytest.raises(APIError) as again:
        await h.engine.delete(a["id"])
    assert again.value.status == 404
    with pytest.raises(APIError) as items:
        await h.engine.input_items(a["id"])
    assert items.value.status == 404


async def test_input_items_pagination(h: Harness) -> None:
    items = [{"type": "message", "role": "user", "content": f"m{i}", "id": f"msg_{i}"} for i in range(5)]
    response = await h.create(input=items)
    rid = response["id"]
    page = await h.engine.input_items(rid, limit=2, order="asc")
    assert [i["id"] for i in page["data"]] == ["msg_0", "msg_1"]
    assert page["has_more"] is True and page["first_id"] == "msg_0" and page["last_id"] == "msg_1"
    page2 = await h.engine.input_items(rid, limit=2, order="asc", after="msg_1")
    assert [i["id"] for i in page2["data"]] == ["msg_2", "msg_3"]
    desc = await h.engine.input_items(rid)
    assert [i["id"] for i in desc["data"]] == ["msg_4", "msg_3", "msg_2", "msg_1", "msg_0"]
    assert desc["has_more"] is False


async def test_background_stream_survives_the_client_going_away(h: Harness) -> None:
    prepared = await h.engine.prepare({"model": "m", "input": "[[slow:50]] [[text:a b c d e f]]",
                                       "stream": True, "background": True})
    stream = h.engine.stream(prepared)
    first = await anext(stream)
    assert first["type"] == "response.created"
    await stream.aclose()  # the client disconnects after the first event
    assert (await h.engine.get(prepared.id))["status"] == "in_progress"
    await h.engine.wait_background(prepared.id)
    final = await h.engine.get(prepared.id)
    assert final["status"] == "completed" and _text(final) == "a b c d e f"


async def test_background_stream_can_be_cancelled(h: Harness) -> None:
    prepared = await h.engine.prepare({"model": "m", "input": "[[slow:2000]] a b c",
                                       "stream": True, "background": True})
    stream = h.engine.stream(prepared)
    assert (await anext(stream))["type"] == "response.created"
    cancelled = json.loads(await h.engine.cancel(prepared.id))
    assert cancelled["status"] == "cancelled"
    rest = [event async for event in stream]  # the stream ends once the job is cancelled
    assert not any(e["type"] == "response.completed" for e in rest)
    assert (await h.engine.get(prepared.id))["status"] == "cancelled"


async def test_store_calls_run_off_the_event_loop_thread(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    loop_thread = threading.get_ident()
    threads: list[int] = []
    store = h.engine.store
    for name in ("save_response", "get_response", "get_input_items", "list_responses", "delete_response"):
        original = getattr(store, name)

        def record(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            return _original(*args, **kwargs)

        monkeypatch.setattr(store, name, record)
    first = await h.create(input="a")
    await h.create(input="b", previous_response_id=first["id"])
    await h.engine.get(first["id"])
    await h.engine.input_items(first["id"])
    await h.engine.list()
    await h.engine.delete(first["id"])
    assert len(threads) >= 6
    assert loop_thread not in threads
    assert len(set(threads)) == 1  # one dedicated store thread


async def test_recover_marks_orphaned_background_responses_failed(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path)
    orphan = {"id": "resp_orphan", "object": "response", "created_at": 1, "status": "in_progress",
              "background": True, "error": None, "output": []}
    store.save_response("resp_orphan", json.dumps(orphan), created_at=1, status="in_progress")
    store.save_response("resp_done", '{"id":"resp_done","status":"completed"}', created_at=2,
                        status="completed")
    gateway = build_gateway(store, None)
    engine = gateway.engine
    try:
        assert await engine.recover() == ["resp_orphan"]
        recovered = await engine.get("resp_orphan")
        assert recovered["status"] == "failed" and "restarted" in recovered["error"]["message"]
        assert await engine.get_text("resp_done") == '{"id":"resp_done","status":"completed"}'
        assert await engine.recover() == []
    finally:
        await gateway.aclose()


async def test_shutdown_records_unfinished_background_responses_as_failed(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(path), Backend(BACKEND, timeout=5))
        engine = gateway.engine
        prepared = await engine.prepare({"model": "m", "input": "[[slow:5000]] x", "background": True})
        rid = json.loads(await engine.create(prepared))["id"]
        await gateway.aclose()
    stored = SQLiteStore(path).get_response(rid)
    assert stored is not None
    body = json.loads(stored.body)
    assert body["status"] == "failed" and "shut down" in body["error"]["message"]


@pytest.fixture
async def two_replicas(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Two gateways on one database stand for two replicas: a job runs on the first, a cancel
    arriving at the second can only record it; the first polls for it quickly."""
    monkeypatch.setattr("reference.engine.CANCEL_POLL_SECONDS", 0.05)
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        a = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5))
        b = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5))
        try:
            yield a, b
        finally:
            await a.aclose()
            await b.aclose()


async def test_a_cancel_on_another_replica_stops_the_job_and_is_not_overwritten(
        two_replicas: tuple[Gateway, Gateway]) -> None:
    a, b = two_replicas
    prepared = await a.engine.prepare({"model": "m", "input": "[[slow:300]] a b c d e f g h",
                                       "background": True, "stream": False})
    rid = json.loads(await a.engine.create(prepared))["id"]
    for _ in range(200):
        if (await b.engine.get(rid))["status"] == "in_progress":
            break
        await asyncio.sleep(0.01)
    assert json.loads(await b.engine.cancel(rid))["status"] == "cancelled"
    await asyncio.wait_for(a.engine.wait_background(rid), timeout=2)  # well before the ~2.7 s job
    await asyncio.sleep(0.1)
    assert (await a.engine.get(rid))["status"] == "cancelled"


async def test_a_background_stream_cancelled_on_another_replica_ends_and_stays_cancelled(
        two_replicas: tuple[Gateway, Gateway]) -> None:
    a, b = two_replicas
    prepared = await a.engine.prepare({"model": "m", "input": "[[slow:300]] a b c d e f g h",
                                       "background": True, "stream": True})
    events: list[dict[str, Any]] = []

    async def watch() -> None:
        async for event in a.engine.stream(prepared):
            events.append(event)

    watching = asyncio.create_task(watch())
    for _ in range(200):
        if events:
            break
        await asyncio.sleep(0.01)
    assert json.loads(await b.engine.cancel(prepared.id))["status"] == "cancelled"
    await asyncio.wait_for(watching, timeout=2)  # well before the ~2.7 s stream
    await asyncio.sleep(0.1)
    assert (await a.engine.get(prepared.id))["status"] == "cancelled"
    assert not any(e["type"] == "response.completed" for e in events)


async def test_a_background_response_the_store_refused_leaves_no_lease(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    gateway = build_gateway(store, None)
    try:
        def down(*_args: Any, **_kwargs: Any) -> None:
            raise StoreUnavailable("the database went away")

        monkeypatch.setattr(store, "save_response", down)
        prepared = await gateway.engine.prepare({"model": "m", "input": "x", "background": True})
        with pytest.raises(StoreUnavailable):
            await gateway.engine.create(prepared)
        assert store.renew_jobs(gateway.leases.owner, 30) == []  # nothing left to renew forever
    finally:
        await gateway.aclose()
