"""The built-in cases. Importing this package registers them in ``conformance.model.REGISTRY``.

The module path is the area: ``conformance.cases.errors`` holds the ``errors.*`` cases,
``conformance.cases.responses.stream`` the ``responses.stream.*`` ones. ``AREAS`` is the index
(``responses-conformance list --areas``); add an area by creating its module and listing it in
``MODULES`` (see README.md in this folder)."""

from __future__ import annotations

from types import ModuleType

from conformance.cases import (
    auth,
    connectors,
    conversations,
    errors,
    extproc,
    files,
    prompts,
    schemas,
    state,
    tenants,
    tool_flows,
    vector_stores,
)
from conformance.cases.responses import (
    background,
    compact,
    create,
    input,
    input_tokens,
    output,
    params,
    stream,
    tools,
    websocket,
)
from conformance.cases.responses.stream import timing as stream_timing
from conformance.model import Case

PACKAGE = __name__

#: the area modules, in index order
MODULES: tuple[ModuleType, ...] = (
    create,
    stream,
    stream_timing,
    params,
    input,
    output,
    tools,
    background,
    compact,
    input_tokens,
    websocket,
    errors,
    state,
    files,
    vector_stores,
    conversations,
    prompts,
    connectors,
    tool_flows,
    schemas,
    extproc,
    auth,
    tenants,
)


def module_area(module_name: str) -> str:
    """``conformance.cases.responses.stream`` -> ``responses.stream`` (other modules: their name)."""
    return module_name.removeprefix(PACKAGE + ".")


def area_of(case: Case) -> str:
    """The area of a case: the module it is written in."""
    return module_area(case.module)


def _about(module: ModuleType) -> str:
    doc = (module.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split())


#: area -> what it covers (the first paragraph of its module's docstring)
AREAS: dict[str, str] = {module_area(m.__name__): _about(m) for m in MODULES}

__all__ = ["AREAS", "MODULES", "area_of", "module_area"]
