"""The store interface.

Engines and adapters depend on this Protocol, not on SQLite: a PostgreSQL store (several gateway
replicas sharing state) implements the same methods. Methods are synchronous and blocking; the
caller decides how to keep them off its event loop (the engine runs them on a dedicated thread).

Responses and items are handed over and returned as JSON *text*: the store never re-serialises,
so what a client reads back is byte-identical to what it was first sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StoredResponse:
    id: str
    body: str
    """The response object as JSON text, exactly as stored."""
    input_items: tuple[str, ...]
    """The request's own input items as JSON texts, in order."""
    previous_response_id: str | None


@runtime_checkable
class ResponseStore(Protocol):
    def save_response(
        self,
        response_id: str,
        body: str,
        *,
        created_at: int,
        status: str,
        previous_response_id: str | None = None,
        input_items: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Insert or replace a response's JSON text.

        `input_items` are `(item_id, json_text)` pairs; when given they replace the stored items,
        when None the stored items are kept (a status update of a background response).
        """

    def get_response(self, response_id: str) -> StoredResponse | None: ...

    def get_input_items(self, response_id: str) -> list[str] | None:
        """The input items' JSON texts in order, or None when the response is unknown."""

    def delete_response(self, response_id: str) -> bool: ...

    def list_responses(self) -> list[str]:
        """Every stored response's JSON text, oldest first."""

    def ids_with_status(self, *statuses: str) -> list[str]:
        """Ids of the responses whose status is one of `statuses`, oldest first."""

    def close(self) -> None: ...
