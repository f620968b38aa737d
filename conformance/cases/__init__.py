"""The built-in cases. Importing this package registers them in ``conformance.model.REGISTRY``.

Add an area by creating a module here and listing it below (see README.md in this folder)."""

from conformance.cases import errors, responses_create, responses_stream, state

__all__ = ["errors", "responses_create", "responses_stream", "state"]
