"""The core is sans-IO: no module under reference/core imports an IO framework.

ARCHITECTURE.md: reference/core "may import: stdlib, pydantic only (no asyncio, quart, grpc,
httpx)". An AST scan catches imports anywhere in a module, including inside functions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sans_io import ADAPTER_PACKAGES, IO_MODULES, imported_modules

CORE = Path(__file__).resolve().parents[3] / "reference" / "core"


def _imports(path: Path) -> list[str]:
    return imported_modules(path, "reference.core")


MODULES = sorted(CORE.glob("*.py"))


def test_core_modules_exist() -> None:
    names = {path.stem for path in MODULES}
    assert {"errors", "ids", "models", "responses", "translate", "sse", "streaming", "pagination"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_is_sans_io(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in IO_MODULES, f"{path.name} imports {name}"
        assert not name.startswith(ADAPTER_PACKAGES), f"{path.name} imports {name}"


def test_scanner_catches_nested_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import asyncio\n    from httpx import AsyncClient\n")
    assert _imports(module) == ["asyncio", "httpx"]
