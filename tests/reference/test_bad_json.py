"""Unusable JSON bodies on every JSON route of the direct HTTP path: 400 OpenAI errors naming
the problem, never a 500 (deep nesting, lone surrogates, NaN/Infinity, out-of-range numbers),
plus hypothesis strategies generating more of the kind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.core import jsonbody
from reference.core.errors import APIError
from reference.gateway import build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"

DEEP = 100_000


def deep_array(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_schema(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


LONE = '"a\\ud800b"'

# (route, a valid body as JSON text with a $BAD hole where the bad value goes)
ROUTES = [
    ("/v1/responses", '{"model": "m", "input": $BAD}'),
    ("/v1/responses", '{"model": "m", "stream": true, "input": $BAD}'),
    ("/v1/responses/compact", '{"model": "m", "input": $BAD}'),
    ("/v1/responses/input_tokens", '{"model": "m", "input": $BAD}'),
    ("/v1/conversations", '{"metadata": {"k": $BAD}}'),
    ("/v1/conversations/{conv}", '{"metadata": {"k": $BAD}}'),
    ("/v1/conversations/{conv}/items", '{"items": [{"type": "message", "role": "user", "content": $BAD}]}'),
    ("/v1/prompts", '{"instructions": $BAD}'),
    ("/v1/prompts/{prompt}/versions", '{"instructions": $BAD}'),
    ("/v1/connectors",
     '{"server_label": "x", "server_url": "http://127.0.0.1:9/mcp", "headers": {"k": $BAD}}'),
    ("/v1/vector_stores", '{"name": $BAD}'),
    ("/v1/vector_stores/{vs}", '{"name": $BAD}'),
    ("/v1/vector_stores/{vs}/search", '{"query": $BAD}'),
    ("/v1/vector_stores/{vs}/files", '{"file_id": $BAD}'),
    ("/v1/vector_stores/{vs}/file_batches", '{"file_ids": [$BAD]}'),
]


@asynccontextmanager
async def _running_app(tmp_path: Path) -> AsyncIterator[tuple[Quart, dict[str, str]]]:
    """The gateway's HTTP app before the scripted backend, with one conversation, vector store
    and prompt to fill the `{conv}`, `{vs}` and `{prompt}` slots of ROUTES."""
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5))
        try:
            quart = gateway.http_app(max_body_bytes=8 * 1024 * 1024)
            client = quart.test_client()
            ids = {
                "conv": (await (await client.post("/v1/conversations", json={})).get_json())["id"],
                "vs": (await (await client.post("/v1/vector_stores", json={"name": "v"})).get_json())["id"],
                "prompt": (await (await client.post("/v1/prompts",
                                                    json={"instructions": "hi"})).get_json())["id"],
            }
            yield quart, ids
        finally:
            await gateway.aclose()


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[Quart, dict[str, str]]]:
    async with _running_app(tmp_path) as running:
        yield running


async def _post(app: tuple[Quart, dict[str, str]], route: str, body: str) -> tuple[int, dict[str, Any]]:
    quart, ids = app
    resp = await quart.test_client().post(route.format(**ids), data=body.encode("utf-8"),
                                          headers={"content-type": "application/json"})
    text = await resp.get_data(as_text=True)
    assert "Traceback" not in text
    if resp.content_type.startswith("text/event-stream"):
        # A stream: the error, if any, is in its terminal event.
        assert resp.status_code == 200
        assert "response.completed" in text or "response.incomplete" in text, text[-500:]
        return resp.status_code, {}
    return resp.status_code, json.loads(text)


@pytest.mark.parametrize(("route", "template"), ROUTES)
async def test_deep_nesting_is_400(app: tuple[Quart, dict[str, str]], route: str, template: str) -> None:
    status, body = await _post(app, route, template.replace("$BAD", deep_array(DEEP)))
    assert status == 400, body
    assert body["error"]["code"] == "json_too_deep"
    assert "nested" in body["error"]["message"]


@pytest.mark.parametrize(("route", "template"), ROUTES)
async def test_lone_surrogate_is_400(app: tuple[Quart, dict[str, str]], route: str, template: str) -> None:
    status, body = await _post(app, route, template.replace("$BAD", LONE))
    assert status == 400, body
    assert body["error"]["code"] == "invalid_unicode"
    assert "surrogate" in body["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_deep_json_schema_is_400(app: tuple[Quart, dict[str, str]], stream: bool) -> None:
    request = {"model": "m", "input": "hi", "stream": stream,
               "text": {"format": {"type": "json_schema", "name": "deep", "schema": deep_schema(900)}}}
    status, body = await _post(app, "/v1/responses", json.dumps(request))
    assert status == 400, body
    assert body["error"]["code"] == "json_too_deep"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_400(app: tuple[Quart, dict[str, str]], number: str) -> None:
    request = '{"model": "m", "input": "hi", "temperature": $BAD}'.replace("$BAD", number)
    status, body = await _post(app, "/v1/responses", request)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_json"


async def test_lone_surrogate_param_names_its_place(app: tuple[Quart, dict[str, str]]) -> None:
    request = '{"model": "m", "input": [{"role": "user", "content": $BAD}]}'.replace("$BAD", LONE)
    status, body = await _post(app, "/v1/responses", request)
    assert status == 400
    assert body["error"]["param"] == "input[0].content"


# --- property: any JSON text either parses to a usable value or is a 400 ---------------------------

_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "1" * 5000]),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFFFF, exclude_categories=()), max_size=8),
)


def _to_text(value: Any) -> str:
    """A JSON text for a generated value; raw-number strings stay numbers, other strings are
    escaped with \\u escapes so lone surrogates and NUL reach the parser as JSON escapes."""
    if isinstance(value, str):
        if value in ("1e999", "-1e999", "NaN", "Infinity") or value.isdigit():
            return value
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list):
        return "[" + ",".join(_to_text(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k, ensure_ascii=True)}:{_to_text(v)}" for k, v in value.items())
        return "{" + ",".join(pairs) + "}"
    return json.dumps(value)


json_texts = st.recursive(
    _leaf, lambda children: st.one_of(st.lists(children, max_size=3),
                                      st.dictionaries(st.text(max_size=3), children, max_size=3)),
    max_leaves=12,
).map(_to_text)
nested_texts = st.integers(min_value=1, max_value=3000).map(
    lambda n: '{"model": "m", "input": ' + deep_array(n) + "}")


@given(st.one_of(json_texts, nested_texts))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loads_accepts_or_answers_400(text: str) -> None:
    try:
        value = jsonbody.loads(text)
    except APIError as err:
        assert err.status == 400 and err.code in ("invalid_json", "json_too_deep", "invalid_unicode")
        return
    # What was accepted can be written back as JSON and encoded as UTF-8 (store, backend).
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


# --- property: hostile values in every JSON route never give a 500 --------------------------------

hostile_values = st.one_of(
    json_texts,
    st.integers(min_value=1, max_value=400).map(deep_array),
    st.sampled_from(['"\\u0000"', '"a\\u0000b"', '"\\udfff"', '"\\ud83d"', "1e400", "-0.0",
                     "123456789012345678901234567890", '{"\\ud800": 1}', "9" * 4400]),
)


def test_hostile_values_never_500(tmp_path: Path) -> None:
    import asyncio

    async def main() -> None:
        async with _running_app(tmp_path) as (quart, ids):
            seen: list[tuple[str, str, int]] = []

            @given(st.sampled_from(ROUTES), hostile_values)
            @settings(max_examples=150, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
            def check(route_template: tuple[str, str], value: str) -> None:
                route, template = route_template
                body = template.replace("$BAD", value)
                status, answer = asyncio.run_coroutine_threadsafe(
                    _post((quart, ids), route, body), loop).result()
                seen.append((route, body[:80], status))
                assert status < 500, (route, body[:200], answer)
                if status >= 400:
                    assert set(answer["error"]) == {"message", "type", "param", "code"}

            loop = asyncio.get_running_loop()
            await asyncio.to_thread(check)
            assert seen

    asyncio.run(main())


@pytest.mark.parametrize(("value", "status"), [(1_048_576, 200), (1_048_577, 400), (10**30, 400)])
async def test_max_output_tokens_has_an_upper_bound(app: tuple[Quart, dict[str, str]], value: int,
                                                    status: int) -> None:
    got, body = await _post(app, "/v1/responses",
                            json.dumps({"model": "m", "input": "hi", "max_output_tokens": value}))
    assert got == status, body
    if status == 400:
        assert body["error"]["param"] == "max_output_tokens"
