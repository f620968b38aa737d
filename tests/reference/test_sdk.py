"""The official `openai` SDK, unchanged, against a real `responses-gateway serve` subprocess in
front of the real fixture backend."""

from __future__ import annotations

import json

import openai
import pytest
from openai import OpenAI

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}


def test_create_and_retrieve(client: OpenAI) -> None:
    response = client.responses.create(model="scripted", input="[[text:Hello from the SDK]]",
                                       metadata={"suite": "sdk"})
    assert response.status == "completed"
    assert response.output_text == "Hello from the SDK"
    assert response.usage is not None and response.usage.output_tokens > 0
    again = client.responses.retrieve(response.id)
    assert again.model_dump() == response.model_dump()
    assert again.metadata == {"suite": "sdk"}


def test_stream(client: OpenAI) -> None:
    deltas: list[str] = []
    with client.responses.stream(model="scripted", input="[[text:one two three]]") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == "one two three"
    assert final.status == "completed" and final.output_text == "one two three"
    assert client.responses.retrieve(final.id).output_text == "one two three"


def test_create_stream_true(client: OpenAI) -> None:
    events = list(client.responses.create(model="scripted", input="streamed words", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == sorted(e.sequence_number for e in events)


def test_function_call_round_trip_with_previous_response_id(client: OpenAI) -> None:
    first = client.responses.create(model="scripted", tools=[WEATHER_TOOL],  # type: ignore[list-item]
                                    input='Weather? [[tool:get_weather:{"city":"Oslo"}]]')
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and json.loads(calls[0].arguments) == {"city": "Oslo"}
    second = client.responses.create(
        model="scripted", previous_response_id=first.id, tools=[WEATHER_TOOL],  # type: ignore[list-item]
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "rain"}])
    assert second.output_text == "tool result: rain"
    assert second.previous_response_id == first.id


def test_input_items_list_and_delete(client: OpenAI) -> None:
    response = client.responses.create(model="scripted", input=[
        {"role": "user", "content": "first"}, {"role": "user", "content": "second"}])
    items = client.responses.input_items.list(response.id, order="asc")
    texts = [item.content[0].text for item in items.data]  # type: ignore[union-attr,index]
    assert texts == ["first", "second"]
    page = client.responses.input_items.list(response.id, limit=1)
    assert len(page.data) == 1 and page.has_more is True
    # Auto-pagination follows `after` through every page.
    assert len(list(client.responses.input_items.list(response.id, limit=1))) == 2
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_errors_surface_as_sdk_exceptions(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="scripted", input="x", previous_response_id="resp_does_not_exist")
    assert bad.value.body["param"] == "previous_response_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_does_not_exist")
    with pytest.raises(openai.InternalServerError) as upstream:
        client.responses.create(model="scripted", input="[[error:503]]")
    assert upstream.value.status_code == 502
    with pytest.raises(openai.BadRequestError) as passed_on:
        client.responses.create(model="scripted", input="[[error:400]]")
    assert "scripted error 400" in str(passed_on.value)


def test_background_and_cancel(client: OpenAI) -> None:
    queued = client.responses.create(model="scripted", input="[[slow:5000]] long", background=True)
    assert queued.status == "queued"
    cancelled = client.responses.cancel(queued.id)
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(queued.id).status == "cancelled"
