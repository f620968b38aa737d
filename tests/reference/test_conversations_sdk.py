"""The official `openai` SDK's Conversations client against a real `responses-gateway serve`."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import OpenAI


def test_conversation_lifecycle(client: OpenAI) -> None:
    conv = client.conversations.create(
        metadata={"topic": "sdk"},
        items=[{"type": "message", "role": "user", "content": "Hello!"}],
    )
    assert conv.object == "conversation" and conv.id.startswith("conv_")
    assert conv.metadata == {"topic": "sdk"}

    again = client.conversations.retrieve(conv.id)
    assert again.model_dump() == conv.model_dump()

    updated = client.conversations.update(conv.id, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"} and updated.id == conv.id

    deleted = client.conversations.delete(conv.id)
    assert deleted.deleted is True and deleted.id == conv.id and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)


def test_items(client: OpenAI) -> None:
    conv = client.conversations.create()
    created = client.conversations.items.create(
        conv.id,
        items=[{"type": "message", "role": "user", "content": "one"},
               {"type": "message", "role": "assistant", "content": "two"}],
        include=["message.output_text.logprobs"],
    )
    assert [item.type for item in created.data] == ["message", "message"]
    first_id = created.data[0].id
    assert first_id is not None

    listed = client.conversations.items.list(conv.id, order="asc", include=["message.input_image.image_url"])
    assert [item.id for item in listed.data] == [item.id for item in created.data]
    # Auto-pagination with limit=1 walks every item (desc by default).
    walked = [item.id for item in client.conversations.items.list(conv.id, limit=1)]
    assert walked == [item.id for item in reversed(created.data)]

    item = client.conversations.items.retrieve(first_id, conversation_id=conv.id)
    assert item.id == first_id and item.type == "message"
    assert item.content[0].type == "input_text" and item.content[0].text == "one"  # type: ignore[union-attr]

    after_delete = client.conversations.items.delete(first_id, conversation_id=conv.id)
    assert after_delete.id == conv.id and after_delete.object == "conversation"
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(first_id, conversation_id=conv.id)


def test_errors_through_the_sdk(client: OpenAI) -> None:
    conv = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as exc:
        client.conversations.items.create(
            conv.id, items=[{"type": "message", "role": "user", "content": str(i)} for i in range(21)])
    assert exc.value.body["param"] == "items"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list("conv_does_not_exist")
    with pytest.raises(openai.BadRequestError):
        client.conversations.items.list(conv.id, limit=1000)


def test_responses_create_with_conversation_and_prompt(client: OpenAI) -> None:
    conv = client.conversations.create(items=[{"type": "message", "role": "user", "content": "I am Ada."}])
    # The SDK has no prompts resource; its generic request method reaches ours.
    prompt = client.post("/prompts", cast_to=dict[str, Any],
                         body={"instructions": "Greet {{name}}.", "variables": {"name": {"default": "you"}}})
    response = client.responses.create(
        model="scripted", conversation=conv.id, input="[[messages]]",
        prompt={"id": prompt["id"], "variables": {"name": "Ada"}})
    seen = json.loads(response.output_text)
    assert [m["content"] for m in seen] == ["Greet Ada.", "I am Ada.", "[[messages]]"]
    assert response.prompt is not None and response.prompt.id == prompt["id"]
    items = client.conversations.items.list(conv.id, order="asc")
    assert [item.type for item in items.data] == ["message", "message", "message"]
    assert items.data[-1].id == response.output[0].id
