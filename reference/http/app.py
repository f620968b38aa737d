"""The Quart application serving the stateful Responses API over HTTP."""

from __future__ import annotations

from quart import Quart, has_websocket_context, request, websocket
from quart_schema import Info, QuartSchema

from reference.auth import ApiKeys, tenant_for
from reference.config import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES
from reference.engine import Engine
from reference.http import connectors as connectors_http
from reference.http import context, files, health, models, responses, vector_stores
from reference.http import context_window as context_window_http
from reference.http import conversations as conversations_http
from reference.http import prompts as prompts_http
from reference.http import websocket as websocket_http
from reference.http.errors import register_error_handlers
from reference.http.observe import attach as observe
from reference.http.openapi import GatewayOpenAPIProvider
from reference.observability.metrics import GatewayMetrics
from reference.services import Services
from reference.store.tenancy import current_tenant

# Reachable without an API key: liveness checks and the metrics scrape (operators' tools, which
# hold no tenant key; the metrics carry no tenant data).
UNAUTHENTICATED_PATHS = frozenset({"/health", "/metrics"})


def create_app(
    engine: Engine, services: Services, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    stream_done_marker: bool = False, body_timeout: float = DEFAULT_BODY_TIMEOUT,
    api_keys: ApiKeys | None = None, metrics: GatewayMetrics | None = None,
) -> Quart:
    """The HTTP adapter over `engine` and `services` (built by `reference.gateway`, which also
    owns their lifecycle: the app starts and stops nothing). `metrics`: where the app records
    and what `GET /metrics` shows (default: a registry of its own)."""
    app = Quart("responses-gateway")
    metrics = metrics if metrics is not None else GatewayMetrics()
    context.attach(app, engine, services, metrics)
    observe(app, metrics)
    # Open Responses ends streams with `data: [DONE]`; OpenAI does not (see GatewayConfig.profile).
    app.config["STREAM_DONE_MARKER"] = stream_done_marker
    # Quart answers 413 when a body exceeds this, before reading it all (Content-Length) or as
    # soon as the streamed body crosses it (chunked).
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    # A body must arrive within this many seconds (a whole JSON body; each chunk of an upload):
    # a client that stalls mid-body gets a 408 and loses the connection instead of holding it.
    app.config["BODY_TIMEOUT"] = body_timeout
    # Streams last as long as the model generates; Quart's default 60 s response timeout would
    # cut long answers off mid-stream. The backend timeout bounds each wait instead.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    # /openapi.json is generated from the core's pydantic models; the HTML UIs are off because
    # they load scripts from a CDN.
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info=Info(title="responses-gateway (reference)", version="0.1.0"),
        openapi_provider_class=GatewayOpenAPIProvider,
    )
    app.register_blueprint(responses.bp)
    app.register_blueprint(context_window_http.bp)
    app.register_blueprint(websocket_http.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(models.bp)
    for resource in (conversations_http, prompts_http, connectors_http):
        app.register_blueprint(resource.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(vector_stores.bp)
    register_error_handlers(app)
    if api_keys is not None:
        keys = api_keys

        async def authenticate() -> None:
            # Every route but health needs a key; the key's tenant scopes what the request
            # stores and sees (reference.store.tenancy reads it in every store call).
            conn = websocket if has_websocket_context() else request
            if conn.path in UNAUTHENTICATED_PATHS:
                return
            current_tenant.set(tenant_for(conn.headers.get("authorization"), keys))

        app.before_request(authenticate)
        app.before_websocket(authenticate)
    return app
