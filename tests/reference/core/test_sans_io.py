"""The core is sans-IO: no module under reference/core imports an IO framework.

ARCHITECTURE.md: reference/core "may import: stdlib, pydantic only (no asyncio, quart, grpc,
httpx)". An AST scan catches imports anywhere in a module, including inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[3] / "reference" / "core"
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
}
FORBIDDEN_INTERNAL = (
    "reference.http",
    "reference.extproc",
    "reference.store",
    "reference.engine",
    "reference.backend",
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against reference.core
                base = "reference.core" if node.level == 1 else "reference"
                names.append(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.append(node.module)
    return names


MODULES = sorted(CORE.glob("*.py"))


def test_core_modules_exist() -> None:
    names = {path.stem for path in MODULES}
    assert {"errors", "ids", "models", "responses", "translate", "sse", "streaming", "pagination"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_is_sans_io(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
        assert not name.startswith(FORBIDDEN_INTERNAL), f"{path.name} imports {name}"


def test_scanner_catches_nested_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import asyncio\n    from httpx import AsyncClient\n")
    assert _imports(module) == ["asyncio", "httpx"]
