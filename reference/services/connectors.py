"""Connectors: a registry of remote MCP servers that `{"type": "mcp"}` tools name by `connector_id`.

OpenAI's `MCPTool` takes "`server_url` or `connector_id`" but publishes no API to register
connectors (theirs are built in: `connector_googledrive`, ...). This gateway lets an operator
register any MCP server once, with its credentials, so requests need not carry them:

- `POST /v1/connectors` `{label, server_url, headers?, description?, metadata?}` -> the connector.
- `GET /v1/connectors` (paginated like every OpenAI list: `limit`, `after`, `before`, `order`
  default `desc`), `GET /v1/connectors/{id}`,
  `DELETE /v1/connectors/{id}` -> `{"id", "object": "connector.deleted", "deleted": true}`.

The object::

    {"id": "conn_...", "object": "connector", "created_at": 1700000000, "label": "docs",
     "server_url": "https://mcp.example/mcp", "description": null, "metadata": {},
     "headers": {"Authorization": "****cdef"}}

Header values are credentials: they are stored (the MCP loop sends them) but never returned in
full. Every response shows them redacted - `****` plus the last four characters when the value
is at least 16 characters long (enough to tell two keys apart without revealing a usable
secret), `****` otherwise. `label` follows MCP `server_label` conventions (letters, digits, `_`
and `-`, at most 64); `server_url` must be an absolute http(s) URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reference.core import errors, ids, pagination
from reference.core.models import validate_metadata
from reference.logredact import redact_url_credentials
from reference.mcp_client import MCPServerRef
from reference.services.common import StoredService, dump, now, parse_model
from reference.store import Kind, ObjectStore, StoreThread

CONNECTOR = Kind.CONNECTOR
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,64}")
# RFC 9110 field-name: a token.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
REDACTED = "****"
_SHOW_TAIL_FROM = 16


class CreateConnectorBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    label: str
    server_url: str
    headers: dict[str, str] | None = None
    description: str | None = Field(default=None, max_length=512)
    metadata: dict[str, str] | None = None

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.fullmatch(value):
            raise ValueError("must be 1 to 64 letters, digits, '_' or '-'")
        return value

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, item in (value or {}).items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"'{name}' is not a valid HTTP header name")
            # CR/LF in a value would let a stored header inject others into MCP requests.
            if any(ch in item for ch in "\r\n\0"):
                raise ValueError(f"the value of '{name}' contains a line break or NUL")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return validate_metadata(value)


# Output shapes, for /openapi.json (the objects themselves are built as dicts).
_OPEN = ConfigDict(extra="allow")


class ConnectorObject(BaseModel):
    model_config = _OPEN
    id: str
    object: Literal["connector"] = "connector"
    created_at: int
    label: str
    server_url: str
    description: str | None
    metadata: dict[str, str]
    headers: dict[str, str] = Field(description="Header names with redacted values.")


class ConnectorList(BaseModel):
    model_config = _OPEN
    object: Literal["list"] = "list"
    data: list[ConnectorObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedConnector(BaseModel):
    model_config = _OPEN
    id: str
    object: Literal["connector.deleted"] = "connector.deleted"
    deleted: bool


def redact(value: str) -> str:
    return REDACTED + value[-4:] if len(value) >= _SHOW_TAIL_FROM else REDACTED


def public_view(connector: Mapping[str, Any]) -> dict[str, Any]:
    """The connector as clients see it: header values redacted."""
    view = dict(connector)
    view["headers"] = {name: redact(str(value)) for name, value in (connector.get("headers") or {}).items()}
    return view


class Connectors(StoredService):
    """Registered MCP servers (the connector routes), resolved for the hosted tool loop."""

    async def _load(self, connector_id: str, param: str | None = None) -> dict[str, Any]:
        found = await self._run(self.objects.get, CONNECTOR, connector_id)
        if found is None:
            raise errors.not_found("connector", connector_id, param)
        return found

    def __init__(self, objects: ObjectStore, thread: StoreThread, *,
                 url_allowed: Callable[[str], bool] = lambda _url: True) -> None:
        super().__init__(objects, thread)
        # The gateway's MCP server URL allow-list (MCPToolCache.allows): a connector can only
        # name a server a request's mcp tool could name.
        self._url_allowed = url_allowed

    async def create(self, body: bytes | str | dict[str, Any] | None) -> dict[str, Any]:
        req = parse_model(CreateConnectorBody, body)
        if not self._url_allowed(req.server_url):
            raise errors.invalid_request(
                f"Connector '{req.label}' names an MCP server this gateway does not allow "
                f"({redact_url_credentials(req.server_url)}): only the server URLs on its allow-list "
                "can be used.", "server_url", "mcp_server_not_allowed")
        connector = {"id": ids.new_id(ids.CONNECTOR), "object": "connector", "created_at": now(),
                     "label": req.label, "server_url": req.server_url, "description": req.description,
                     "metadata": req.metadata or {}, "headers": req.headers or {}}
        await self._run(self.objects.put, CONNECTOR, dump(connector), object_id=connector["id"],
                          created_at=connector["created_at"])
        return public_view(connector)

    async def get(self, connector_id: str) -> dict[str, Any]:
        return public_view(await self._load(connector_id))

    async def list_connectors(self, *, limit: int | str | None = None, after: str | None = None,
                              before: str | None = None, order: str | None = None) -> dict[str, Any]:
        everything = await self._run(self.objects.list, CONNECTOR)
        page = pagination.paginate(everything, limit=limit, after=after, before=before, order=order)
        page["data"] = [public_view(c) for c in page["data"]]
        return page

    async def delete(self, connector_id: str) -> dict[str, Any]:
        if not await self._run(self.objects.delete, CONNECTOR, connector_id):
            raise errors.not_found("connector", connector_id)
        return {"id": connector_id, "object": "connector.deleted", "deleted": True}

    async def resolve_connector(self, connector_id: str) -> dict[str, Any]:
        """`{"label", "url", "headers"}` (headers in full) for the MCP loop; 404 when unknown."""
        connector = await self._load(connector_id, "tools.connector_id")
        return {"label": connector["label"], "url": connector["server_url"],
                "headers": dict(connector.get("headers") or {})}

    async def connector_refs(self, tools: Iterable[Mapping[str, Any]] | None) -> dict[str, MCPServerRef]:
        """The registered connectors a request's mcp tools name, keyed by id, ready for
        `reference.mcp_client.server_ref_from_tool(tool, connectors)`.

        Unknown ids are left out, so `server_ref_from_tool` answers them with its 400 naming
        `tools.connector_id` (a bad request parameter, not a missing URL resource).
        """
        wanted = {str(tool["connector_id"]) for tool in tools or ()
                  if isinstance(tool, Mapping) and tool.get("type") == "mcp"
                  and isinstance(tool.get("connector_id"), str) and not tool.get("server_url")}
        refs: dict[str, MCPServerRef] = {}
        for connector_id in sorted(wanted):
            found = await self._run(self.objects.get, CONNECTOR, connector_id)
            if found is not None:
                refs[connector_id] = MCPServerRef(label=found["label"], url=found["server_url"],
                                                  headers=dict(found.get("headers") or {}))
        return refs
