"""reference.retrieval is sans-IO: pure functions the store and HTTP layers call with data.

An AST scan of every module (imports inside functions included) keeps IO frameworks, sockets,
databases and the adapter packages out of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sans_io import ADAPTER_PACKAGES, IO_MODULES, imported_modules

PACKAGE = Path(__file__).resolve().parents[3] / "reference" / "retrieval"
FORBIDDEN = IO_MODULES | {"apsw", "sqlite_vec", "urllib"}
MODULES = sorted(PACKAGE.glob("*.py"))


def test_package_modules_exist() -> None:
    assert {"__init__", "extract", "chunking", "filters", "search", "vectors", "errors"} <= {
        p.stem for p in MODULES
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_is_sans_io(path: Path) -> None:
    for name in imported_modules(path, "reference.retrieval"):
        assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
        assert not name.startswith(ADAPTER_PACKAGES), f"{path.name} imports {name}"
