"""HTTP adapter: Quart blueprints per resource over the shared engine, served by Hypercorn."""

from reference.http.app import create_app

__all__ = ["create_app"]
