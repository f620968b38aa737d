"""The harness tests gateways from the outside: nothing in conformance/ imports `reference`.

import-linter enforces the same contract (pyproject.toml); this AST scan also catches imports
hidden in functions, `importlib.import_module("reference...")` and `__import__` calls."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS_FILES = sorted((ROOT / "conformance").rglob("*.py"))


def _is_reference(name: str | None) -> bool:
    return bool(name) and (name == "reference" or name.startswith("reference."))  # type: ignore[union-attr]


def reference_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_reference(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _is_reference(node.module):
                found.append(str(node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and _is_reference(arg.value)
            ):
                found.append(arg.value)
    return found


def test_scanner_finds_every_import_form() -> None:
    src = (
        "import reference\nfrom reference.core import x\nimport os, reference.engine as e\n"
        "def f():\n    import importlib\n    importlib.import_module('reference.http')\n"
        "    __import__('reference')\n"
        "from conformance import references_ok\nimport referenced\n"
    )
    assert reference_imports(src) == [
        "reference",
        "reference.core",
        "reference.engine",
        "reference.http",
        "reference",
    ]


def test_harness_files_exist() -> None:
    assert ROOT / "conformance" / "cli.py" in HARNESS_FILES


@pytest.mark.parametrize("path", HARNESS_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_conformance_never_imports_reference(path: Path) -> None:
    assert reference_imports(path.read_text(encoding="utf-8")) == []
