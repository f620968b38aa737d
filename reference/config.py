"""Gateway configuration: one dataclass filled from the CLI (or tests), read by every adapter."""

from __future__ import annotations

import os
from dataclasses import dataclass

from reference.store.leases import DEFAULT_LEASE_SECONDS

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_BACKEND_TIMEOUT = 120.0
DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds a client may take to send its request body (Quart's BODY_TIMEOUT)."""
DEFAULT_DB = "responses-gateway.sqlite3"
DEFAULT_EXTPROC_PORT = 10000
PROFILES = ("openai", "openresponses")
BACKEND_APIS = ("chat", "responses")


@dataclass
class GatewayConfig:
    backend_url: str
    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    http_port: int = 8080
    extproc_port: int | None = None
    """None: no ext_proc server (the HTTP server alone); 0: a free port."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    backend_timeout: float = DEFAULT_BACKEND_TIMEOUT
    backend_api: str = "chat"
    """What the model backend speaks: `chat` (POST /v1/chat/completions) or `responses` (a
    stateless POST /v1/responses: vLLM, OpenAI; reference/core/upstream.py)."""
    backend_api_key_env: str | None = None
    """Name of the environment variable holding the backend's API key (never the key itself,
    so it does not show up in `ps` or shell history)."""
    profile: str = "openai"
    """Which specification's streaming dialect to speak where the two disagree: Open Responses
    ends every stream with `data: [DONE]`, OpenAI's Responses streams carry no such frame."""
    api_keys_file: str | None = None
    """`KEY TENANT` lines (`--api-keys`): every route but health needs a key, objects are per
    tenant. None: no authentication (everything is shared)."""
    mcp_allowed_urls: tuple[str, ...] = ()
    """URL prefixes of the MCP servers (tools and connectors) requests may name; empty: any."""
    embedding_url: str | None = None
    """The OpenAI-compatible server that computes embeddings (None: the backend)."""
    embedding_api_key_env: str | None = None
    """Environment variable with its key (None: the backend's key when it is the backend)."""
    embedding_model: str = "auto"
    """`auto`: ask the embedding server's GET /v1/models (reference.services.ingest.choose_model)."""
    embedding_dimensions: int | None = None
    """Sent as `dimensions` when set (None: the model's own size)."""
    files_dir: str | None = None
    """Where uploaded file bytes live; None: beside the SQLite file, or a temporary directory
    (`:memory:`, PostgreSQL). Replicas on one machine share one."""
    job_lease_seconds: float = DEFAULT_LEASE_SECONDS
    """How long a job (background response, ingestion) stays its replica's without a renewal
    (`reference.store.leases`)."""

    def __post_init__(self) -> None:
        if self.body_timeout <= 0:
            raise ValueError("body_timeout must be positive")
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        if self.backend_timeout <= 0:
            raise ValueError("backend_timeout must be positive")
        if self.job_lease_seconds <= 0:
            raise ValueError("job_lease_seconds must be positive")
        if self.embedding_dimensions is not None and self.embedding_dimensions <= 0:
            raise ValueError("embedding_dimensions must be positive")
        if not self.embedding_model:
            raise ValueError("embedding_model must not be empty")
        if self.backend_api not in BACKEND_APIS:
            raise ValueError(f"backend_api must be one of {', '.join(BACKEND_APIS)}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}")

    @property
    def stream_done_marker(self) -> bool:
        """Open Responses: "the stream ends with `data: [DONE]`"; OpenAI sends no terminator."""
        return self.profile == "openresponses"

    @property
    def backend_api_key(self) -> str | None:
        if not self.backend_api_key_env:
            return None
        value = os.environ.get(self.backend_api_key_env)
        if value is None:
            raise ValueError(f"environment variable {self.backend_api_key_env} is not set")
        return value

    @property
    def embedding_api_key(self) -> str | None:
        if self.embedding_api_key_env:
            value = os.environ.get(self.embedding_api_key_env)
            if value is None:
                raise ValueError(f"environment variable {self.embedding_api_key_env} is not set")
            return value
        return self.backend_api_key if self.embedding_url is None else None
