"""The Quart application serving the stateful Responses API over HTTP."""

from __future__ import annotations

from quart import Quart
from quart_schema import Info, QuartSchema

from reference.config import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES
from reference.engine import Engine
from reference.http import connectors as connectors_http
from reference.http import context, files, health, responses, vector_stores
from reference.http import context_window as context_window_http
from reference.http import conversations as conversations_http
from reference.http import prompts as prompts_http
from reference.http import websocket as websocket_http
from reference.http.errors import register_error_handlers
from reference.http.openapi import GatewayOpenAPIProvider
from reference.services import Services


def create_app(
    engine: Engine, services: Services, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    stream_done_marker: bool = False, body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> Quart:
    """The HTTP adapter over `engine` and `services` (built by `reference.gateway`, which also
    owns their lifecycle: the app starts and stops nothing)."""
    app = Quart("responses-gateway")
    context.attach(app, engine, services)
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
    for resource in (conversations_http, prompts_http, connectors_http):
        app.register_blueprint(resource.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(vector_stores.bp)
    register_error_handlers(app)
    return app
