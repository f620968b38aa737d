"""reference.retrieval is sans-IO: pure functions the store and HTTP layers call with data.

An AST scan of every module (imports inside functions included) keeps IO frameworks, sockets,
databases and the adapter packages out of it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "reference" / "retrieval"
FORBIDDEN = {
    "asyncio",
    "quart",
    "quart_schema",
    "hypercorn",
    "grpc",
    "grpc_health",
    "httpx",
    "httpx_sse",
    "anyio",
    "trio",
    "aiohttp",
    "requests",
    "socket",
    "sqlite3",
    "apsw",
    "sqlite_vec",
    "urllib",
}
FORBIDDEN_INTERNAL = (
    "reference.http",
    "reference.extproc",
    "reference.store",
    "reference.engine",
    "reference.backend",
)
MODULES = sorted(PACKAGE.glob("*.py"))


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(("reference.retrieval." if node.level else "") + node.module)
    return names


def test_package_modules_exist() -> None:
    assert {"__init__", "extract", "chunking", "filters", "search", "vectors", "errors"} <= {
        p.stem for p in MODULES
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_is_sans_io(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
        assert not name.startswith(FORBIDDEN_INTERNAL), f"{path.name} imports {name}"
