"""The gateway's stateful services, one class per resource, over the store and its thread.

- `Conversations` (`conversations.py`): conversations and their items; the engine reads a
  conversation as history and appends a finished response to it.
- `Prompts` (`prompts.py`): versioned prompt templates; the engine renders the `prompt` param.
- `Connectors` (`connectors.py`): registered MCP servers that `mcp` tools name by id.
- `VectorStores` (`vector_stores.py`, ingestion in `ingest.py`): files, vector stores, their
  ingestion jobs and search (the `file_search` tool).

Services import the store, the backend client and the sans-IO packages, never the engine or an
adapter (import-linter `layers` contract). The composition root (`reference.gateway`) builds
them and hands the engine the few calls it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.services.connectors import Connectors
from reference.services.conversations import Conversations
from reference.services.prompts import Prompts
from reference.services.vector_stores import VectorStores


@dataclass(frozen=True)
class Services:
    """Every service of one gateway, as the HTTP adapter serves them."""

    conversations: Conversations
    prompts: Prompts
    connectors: Connectors
    vector_stores: VectorStores


__all__ = ["Connectors", "Conversations", "Prompts", "Services", "VectorStores"]
