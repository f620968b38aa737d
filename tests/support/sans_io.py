"""The AST scan behind the sans-IO tests: which modules a source file imports, anywhere in it."""

from __future__ import annotations

import ast
from pathlib import Path

# Frameworks, sockets and databases: importing any of them makes a module do IO.
IO_MODULES = frozenset({
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
})
# The reference's adapters and the layers that do IO on their behalf.
ADAPTER_PACKAGES = (
    "reference.http",
    "reference.extproc",
    "reference.store",
    "reference.engine",
    "reference.backend",
)


def imported_modules(path: Path, package: str) -> list[str]:
    """Every module `path` imports, including inside functions, with relative imports resolved
    against `package` (the package `path` belongs to)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                names.append(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.append(node.module)
    return names
