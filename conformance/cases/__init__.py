"""The built-in cases. Importing this package registers them in ``conformance.model.REGISTRY``.

Add an area by creating a module here and listing it below (see README.md in this folder)."""

from conformance.cases import (
    backend_errors,
    background,
    chain,
    connectors,
    conversations,
    create_input,
    create_output,
    create_params,
    errors,
    extproc,
    files,
    input_items,
    prompts,
    responses_create,
    responses_stream,
    state,
    stream_items,
    tool_flows,
    tools,
    vector_stores,
)

__all__ = [
    "backend_errors",
    "background",
    "chain",
    "connectors",
    "conversations",
    "create_input",
    "create_output",
    "create_params",
    "errors",
    "extproc",
    "files",
    "input_items",
    "prompts",
    "responses_create",
    "responses_stream",
    "state",
    "stream_items",
    "tool_flows",
    "tools",
    "vector_stores",
]
