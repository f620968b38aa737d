"""Named checks the case modules share (in the spirit of h2spec's ``Verify*`` functions).

Each takes the case context and an HTTP answer, records its checks with ``ctx.check`` (so the
first unmet one ends the case with expected vs actual) and returns what later checks need. The
``what`` strings are the check names the reports show."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from conformance.context import CaseContext


def error_object(ctx: CaseContext, resp: httpx.Response) -> dict[str, Any]:
    """The body is ``{"error": {"message": str, "type": str, "param": str|null, "code": str|null}}``."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    ctx.check(
        isinstance(body, dict) and isinstance(body.get("error"), dict),
        "body is an object with an `error` object",
        expected='{"error": {...}}',
        actual=resp.text[:300],
    )
    err = body["error"]  # type: ignore[index]
    ctx.check(
        isinstance(err.get("message"), str) and err["message"] != "",
        "error.message is a non-empty string",
        expected="string",
        actual=err.get("message"),
    )
    ctx.check(
        isinstance(err.get("type"), str), "error.type is a string", expected="string", actual=err.get("type")
    )
    for key in ("param", "code"):
        ctx.check(
            key in err and (err[key] is None or isinstance(err[key], str)),
            f"error.{key} is present, a string or null",
            expected="string | null",
            actual=err.get(key, "<missing>"),
        )
    return err  # type: ignore[no-any-return]


def param_named(err: dict[str, Any], param: str) -> bool:
    """``error.param`` is ``param`` or a path inside it (``tools[0].name``, ``text.format``)."""
    got = err.get("param")
    return isinstance(got, str) and (got == param or got.startswith((param + ".", param + "[")))


def names_param(ctx: CaseContext, err: dict[str, Any], param: str) -> None:
    """``error.param`` is ``param`` or a path inside it (``tools[0].name``, ``text.format``)."""
    got = err.get("param")
    ctx.check(
        param_named(err, param),
        "error.param names the offending parameter",
        expected=param,
        actual=got,
    )


def rejected(ctx: CaseContext, resp: httpx.Response, what: str, param: str | None = None) -> dict[str, Any]:
    """A 400 with an error object (naming ``param`` when given); ``what`` names the request."""
    ctx.check_eq(resp.status_code, 400, f"status for {what}")
    err = error_object(ctx, resp)
    if param is not None:
        names_param(ctx, err, param)
    return err


def json_content_type(ctx: CaseContext, resp: httpx.Response, what: str) -> None:
    ctype = resp.headers.get("content-type", "")
    ctx.check(
        ctype.split(";")[0].strip().lower() == "application/json",
        what,
        expected="application/json",
        actual=ctype,
    )


def ids_of(page: dict[str, Any]) -> list[Any]:
    """The ids of a list page's ``data`` (an empty list when ``data`` is not an array)."""
    data = page.get("data")
    return [d.get("id") for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def not_listed(ctx: CaseContext, page: dict[str, Any], gone: Iterable[Any], what: str) -> None:
    ids = ids_of(page)
    left = [i for i in gone if i in ids]
    ctx.check(not left, what, expected=[], actual=left)


def list_page_shape(ctx: CaseContext, page: dict[str, Any]) -> None:
    """A list object: ``object: "list"``, a ``data`` array, ``has_more``, ``first_id``, ``last_id``."""
    got = {
        "object": page.get("object"),
        "data": isinstance(page.get("data"), list),
        "has_more": isinstance(page.get("has_more"), bool),
        "first_id": isinstance(page.get("first_id"), str),
        "last_id": isinstance(page.get("last_id"), str),
    }
    ctx.check_eq(
        got,
        {"object": "list", "data": True, "has_more": True, "first_id": True, "last_id": True},
        "list object fields (types)",
    )
