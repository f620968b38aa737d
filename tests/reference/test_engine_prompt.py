"""`prompt: {id, version?, variables?}` on `POST /v1/responses`: the stored template is rendered
(`reference.services.Prompts.render`) into the instructions and input the model sees (Quart test
client, the scripted backend mounted with respx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.files import error_of
from tests.support.tool_loops import Gateway, open_gateway, output_text


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with open_gateway(tmp_path) as gateway:
        yield gateway


async def _prompt(gw: Gateway) -> dict[str, Any]:
    prompt: dict[str, Any] = await gw.post("/v1/prompts", {
        "name": "support",
        "instructions": "You help {{customer}} with the {{product}}.",
        "input": [{"type": "message", "role": "user", "content": "Context: {{customer}} asked before."}],
        "variables": {"product": {"description": "what they bought", "default": "gadget"}}})
    return prompt


async def test_prompt_with_variables_reaches_the_model(gw: Gateway) -> None:
    prompt = await _prompt(gw)
    response = await gw.respond({"input": "[[messages]]", "instructions": "Answer in French.",
                                 "prompt": {"id": prompt["id"], "variables": {"customer": "Ada"}}})
    seen = json.loads(output_text(response))
    # The template's instructions, then the request's own; the template input before the input.
    assert seen == [
        {"role": "system", "content": "You help Ada with the gadget.\n\nAnswer in French."},
        {"role": "user", "content": "Context: Ada asked before."},
        {"role": "user", "content": "[[messages]]"},
    ]
    assert response["instructions"] == "You help Ada with the gadget.\n\nAnswer in French."
    assert response["prompt"] == {"id": prompt["id"], "version": "1", "variables": {"customer": "Ada"}}
    # input_items lists the request's own input only.
    own = (await gw.get(f"/v1/responses/{response['id']}/input_items"))["data"]
    assert [i["content"][0]["text"] for i in own] == ["[[messages]]"]
    assert await gw.get(f"/v1/responses/{response['id']}") == response


async def test_prompt_version_and_streaming(gw: Gateway) -> None:
    prompt = await _prompt(gw)
    await gw.post(f"/v1/prompts/{prompt['id']}/versions",
                  {"base_version": "1", "instructions": "Version two for {{customer}}."})
    events = await gw.respond_stream({
        "input": "[[messages]]", "prompt": {"id": prompt["id"], "version": "2",
                                            "variables": {"customer": {"type": "input_text", "text": "Bo"}}}})
    final = events[-1]["response"]
    assert events[0]["response"]["instructions"] == "Version two for Bo."
    assert final["prompt"]["version"] == "2"
    assert json.loads(output_text(final)) == [{"role": "system", "content": "Version two for Bo."},
                                        {"role": "user", "content": "[[messages]]"}]


async def test_prompt_errors(gw: Gateway) -> None:
    prompt = await _prompt(gw)
    resp = await gw.http.post("/v1/responses",
                              json={"model": "m", "input": "x", "prompt": {"id": prompt["id"]}})
    err = await error_of(resp, 400)
    assert err["param"] == "prompt.variables.customer" and err["code"] == "missing_prompt_variable"
    resp = await gw.http.post("/v1/responses",
                              json={"model": "m", "input": "x", "prompt": {"id": "pmpt_nope"}})
    await error_of(resp, 404)
    assert gw.chat_requests() == []
