"""Helpers shared by the conversation, prompt and connector services.

Those resources are thin: a pydantic model validates the request body (every failure a 400
naming `param`, like the Responses create route), and the object lives in the store's
`ObjectStore`. Store calls are blocking; services run them on the gateway's one `StoreThread`,
which also serialises read-check-write sequences such as optimistic-concurrency checks within
one gateway process.
"""

from __future__ import annotations

import time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from reference.core import errors, jsonbody
from reference.core.serialization import dump as dump  # the services write their objects with it
from reference.store import ObjectStore, StoreThread

M = TypeVar("M", bound=BaseModel)


class StoredService:
    """A service over the store's objects, its calls run on the store thread."""

    def __init__(self, objects: ObjectStore, thread: StoreThread) -> None:
        self.objects = objects
        self._run = thread.run


def load_json_object(body: bytes | str | dict[str, Any] | None, *,
                     allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (400 `invalid_json` / `invalid_type` otherwise)."""
    if isinstance(body, dict):
        return body
    if body is None or (allow_empty and not body.strip()):
        if allow_empty:
            return {}
        raise errors.invalid_request("The request body must be a JSON object.", None, "invalid_type")
    data = jsonbody.loads(body)
    if not isinstance(data, dict):
        raise errors.invalid_request("The request body must be a JSON object.", None, "invalid_type")
    return data


def parse_model(model: type[M], body: bytes | str | dict[str, Any] | None, *,
                allow_empty: bool = False) -> M:
    """Validate a body against `model`; every failure is one `APIError` 400 naming the param."""
    data = load_json_object(body, allow_empty=allow_empty)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.from_validation_error(exc) from None


def now() -> int:
    return int(time.time())


class ListQuery(BaseModel):
    """Cursor pagination of OpenAI list endpoints (documentation; `paginate` validates)."""

    limit: int | None = None
    after: str | None = None
    before: str | None = None
    order: Literal["asc", "desc"] | None = None
