"""benchmarks/vector_search.py keeps running and every method finds the exact top-k."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vector_search.py"


def test_benchmark_runs_small_and_all_methods_agree(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("vector_search_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        module.main(["--sizes", "60", "120", "--dim", "16", "--queries", "3", "--k", "5"])
    finally:
        del sys.modules[spec.name]
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.count("|") == 4]
    assert rows[0].startswith("method")
    measured = {line.split("|")[0].strip(): line for line in rows[1:]}
    assert "numpy, matrix cached in memory" in measured
    assert "numpy, blobs loaded from SQLite per query" in measured
    for name, line in measured.items():
        cells = [c.strip() for c in line.split("|")[1:]]
        if "n/a" in cells:
            assert name.startswith("sqlite-vec"), line  # only the optional extension may be absent
            continue
        assert all(re.fullmatch(r"\d+\.\d\d", c) for c in cells), line
        assert cells[1] == cells[3] == "1.00", f"{name} is not exact: {line}"
