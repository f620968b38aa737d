"""Cursor pagination with OpenAI list semantics.

`limit`: "A limit on the number of objects to be returned. Limit can range between 1 and 100,
and the default is 20." `order`: "The order to return the input items in. Default is desc."
`after` / `before`: "An item ID to list items after/before, used in pagination" - relative to
the requested order. An unknown cursor id is a 400 naming the parameter (`param: "after"`):
the cursor is a request parameter that is invalid, not a resource the URL names, so 404 (which
clients read as "the list does not exist") would mislead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import errors

MIN_LIMIT = 1
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def paginate(
    items: Sequence[dict[str, Any]],
    *,
    limit: int | str | None = DEFAULT_LIMIT,
    after: str | None = None,
    before: str | None = None,
    order: str | None = "desc",
) -> dict[str, Any]:
    """Page through `items`, given in ascending creation order, each with an `id`.

    `limit` may be the raw query string value; a non-integer is a 400 like an out-of-range one.
    """
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, str):
        try:
            limit = int(limit)
        except ValueError:
            raise errors.invalid_request(
                f"Invalid 'limit': expected an integer, but got {limit!r} instead.", "limit", "invalid_type"
            ) from None
    if isinstance(limit, bool) or not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise errors.invalid_request(
            f"Invalid 'limit': expected a value between {MIN_LIMIT} and {MAX_LIMIT}, but got {limit} "
            "instead.",
            "limit",
            "invalid_value",
        )
    if order is None:
        order = "desc"
    if order not in ("asc", "desc"):
        raise errors.invalid_request(
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.", "order", "invalid_value"
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    positions = {item["id"]: index for index, item in enumerate(ordered)}
    start, stop = 0, len(ordered)
    if after is not None:
        if after not in positions:
            raise errors.invalid_request(
                f"Invalid 'after': no item with id '{after}'.", "after", "invalid_value"
            )
        start = positions[after] + 1
    if before is not None:
        if before not in positions:
            raise errors.invalid_request(
                f"Invalid 'before': no item with id '{before}'.", "before", "invalid_value"
            )
        stop = positions[before]
    window = ordered[start:stop] if start < stop else []
    if before is not None and after is None:
        # Paging backwards: the `limit` items right before the cursor, still in `order`.
        page = window[-limit:]
        has_more = len(window) > limit
    else:
        page = window[:limit]
        has_more = len(window) > limit
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": has_more,
    }
