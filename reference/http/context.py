"""What `create_app` hands the blueprints: the engine and the services, kept on the app.

Quart blueprints are module-level, so the parts they serve travel on the application object
(`app.extensions`), put there once by `reference.http.app.create_app`.
"""

from __future__ import annotations

from quart import Quart, current_app

from reference.engine import Engine
from reference.observability.metrics import GatewayMetrics
from reference.services import Services

_ENGINE = "responses_engine"
_SERVICES = "responses_services"
_METRICS = "responses_metrics"


def attach(app: Quart, engine: Engine, services: Services, metrics: GatewayMetrics) -> None:
    app.extensions[_ENGINE] = engine
    app.extensions[_SERVICES] = services
    app.extensions[_METRICS] = metrics


def engine() -> Engine:
    """The engine of the application serving the current request."""
    found: Engine = current_app.extensions[_ENGINE]
    return found


def services() -> Services:
    """The services of the application serving the current request."""
    found: Services = current_app.extensions[_SERVICES]
    return found


def metrics() -> GatewayMetrics:
    """The metrics of the application serving the current request."""
    found: GatewayMetrics = current_app.extensions[_METRICS]
    return found
