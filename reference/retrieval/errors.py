"""Errors raised by the retrieval core.

Every one is a client error: the HTTP layer turns it into a 400 with `as_api_error()`. They
subclass `ValueError` so callers that only know "bad input" can still catch them, and each
carries the `param` that the OpenAI error object names (dotted path, e.g.
`filters.filters[1].type` or `chunking_strategy.static.chunk_overlap_tokens`).
"""

from __future__ import annotations

from reference.core.errors import APIError, invalid_request


class RetrievalError(ValueError):
    """A request or document the retrieval core refuses; maps to HTTP 400."""

    code: str = "invalid_value"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def as_api_error(self) -> APIError:
        return invalid_request(self.message, self.param, self.code)


class UnsupportedFileType(RetrievalError):
    """The file's extension / MIME type is not one we can extract text from."""

    code = "unsupported_file"


class EmptyDocument(RetrievalError):
    """The file has no extractable text (empty upload, whitespace only, scanned PDF)."""

    code = "empty_file"


class UnreadableDocument(RetrievalError):
    """The bytes do not parse as the declared type (bad UTF-8, broken JSON/CSV/PDF)."""

    code = "invalid_file"


class InvalidFilter(RetrievalError):
    """An attribute filter that does not match the ComparisonFilter/CompoundFilter shapes."""

    code = "invalid_filter"


class InvalidChunkingStrategy(RetrievalError):
    """A chunking strategy outside the StaticChunkingStrategy bounds."""

    code = "invalid_chunking_strategy"


class InvalidAttributes(RetrievalError):
    """Vector store file attributes outside the VectorStoreFileAttributes limits."""
