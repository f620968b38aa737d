"""The official `openai` SDK runs one full stateful workflow, unchanged, against the reference
directly and through a real Envoy (issue 5, "Done when").

One stack (`responses-gateway up`'s `Stack`: scripted backend, gateway subprocess, Envoy) and
one MCP server serve both runs; the direct run talks to the gateway's HTTP port, the other to
Envoy, where `POST /v1/responses` goes through the ext_proc filter and every other route
straight to the HTTP server.
"""

from __future__ import annotations

import json
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from fixtures.mcp_server import MCPServerHandle

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "documents"
CORPUS = ("solar.txt", "sourdough.md", "tides.html")


def _wait_ingested(up_client: OpenAI, store_id: str, files: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        store = up_client.vector_stores.retrieve(store_id)
        if store.status == "completed" and store.file_counts.completed == files:
            return
        assert time.monotonic() < deadline, store
        time.sleep(0.05)


def test_full_workflow(up_client: OpenAI, mcp: MCPServerHandle) -> None:
    # 1. Upload files.
    uploaded = {
        name: up_client.files.create(file=(name, BytesIO((DOCS / name).read_bytes())), purpose="assistants")
        for name in CORPUS
    }
    assert up_client.files.content(uploaded["solar.txt"].id).content == (DOCS / "solar.txt").read_bytes()

    # 2. A vector store, polled until ingestion completes.
    store = up_client.vector_stores.create(name="workflow", file_ids=[f.id for f in uploaded.values()])
    _wait_ingested(up_client, store.id, len(CORPUS))

    # 3. Search: the document that answers ranks first.
    page = up_client.vector_stores.search(store.id, query="how do I feed a sourdough starter")
    assert page.data[0].file_id == uploaded["sourdough.md"].id

    # 4. A response with file_search, streamed.
    events = list(up_client.responses.create(
        model="scripted", stream=True, tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        input='[[tool:file_search:{"query":"sourdough starter flour water"}]]'))
    types = [e.type for e in events]
    searched = [t for t in types if t.startswith("response.file_search_call.")]
    assert searched == ["response.file_search_call.in_progress", "response.file_search_call.searching",
                        "response.file_search_call.completed"]
    final: Any = events[-1]
    assert final.type == "response.completed"
    message = final.response.output[-1]
    cited = {a.file_id for a in message.content[0].annotations if a.type == "file_citation"}
    assert uploaded["sourdough.md"].id in cited

    # 5. A conversation across three turns: every turn sees the ones before it.
    conversation = up_client.conversations.create()
    for turn in ("one", "two", "three"):
        response = up_client.responses.create(model="scripted", conversation=conversation.id,
                                              input=f"turn {turn} [[messages]]")
    seen = json.loads(response.output_text)
    assert [m["role"] for m in seen] == ["user", "assistant", "user", "assistant", "user"]
    assert seen[0]["content"] == "turn one [[messages]]"
    items = up_client.conversations.items.list(conversation.id, order="asc")
    assert [item.type for item in items.data] == ["message"] * 6

    # 6. A prompt template (the SDK has no prompts resource; its generic POST reaches ours).
    prompt = up_client.post("/prompts", cast_to=dict[str, Any],
                            body={"instructions": "Answer as {{persona}}.", "variables": {"persona": {}}})
    response = up_client.responses.create(model="scripted", input="[[messages]]",
                                          prompt={"id": prompt["id"], "variables": {"persona": "a baker"}})
    assert json.loads(response.output_text)[0] == {"role": "system", "content": "Answer as a baker."}

    # 7. An MCP tool call.
    tool = {"type": "mcp", "server_label": "fixture", "server_url": mcp.url, "require_approval": "never"}
    response = up_client.responses.create(
        model="scripted", input='[[tool:mcp7_fixture_add:{"a":2,"b":3}]]', tools=[tool])  # type: ignore[list-item]
    kinds = [item.type for item in response.output]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"]
    call: Any = response.output[1]
    assert call.name == "add" and call.output == "5" and call.error is None
