"""Measure exact top-k cosine search over chunk embeddings stored in SQLite.

Compares, on the same random float32 vectors and queries, in one run:

- numpy over a matrix cached in memory (the store loads a vector store's blobs once),
- numpy loading every blob from SQLite for each query (no cache),
- sqlite-vec's `vec0` virtual table KNN query,
- sqlite-vec's `vec_distance_cosine()` scalar over the plain BLOB column (our storage format).

sqlite-vec is loaded through apsw, because CPython builds without
`--enable-loadable-sqlite-extensions` (such as this machine's) have no
`sqlite3.Connection.enable_load_extension`; the script says so when that is the case and skips
whatever is not installed (`pip install -e '.[bench]'` brings both).

Usage: python benchmarks/vector_search.py [--sizes 2000 20000] [--dim 256] [--queries 20] [--k 10]
The results decide `reference/retrieval/vectors.py` (its docstring holds the numbers).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reference.retrieval import vectors


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:  # optional: the [bench] extra
        return None


apsw = _optional("apsw")
sqlite_vec = _optional("sqlite_vec")

Searcher = Callable[[np.ndarray], list[int]]


def _time_per_query(search: Searcher, queries: np.ndarray) -> tuple[float, list[list[int]]]:
    """Median milliseconds per query (robust to other load on a shared 2-core machine)."""
    search(queries[0])  # warm-up: page cache, statement cache
    results, times = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(search(query))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, results


def _recall(found: list[list[int]], exact: list[list[int]]) -> float:
    hits = sum(len(set(f) & set(e)) for f, e in zip(found, exact, strict=True))
    return hits / sum(len(e) for e in exact)


def run_size(n: int, dim: int, n_queries: int, k: int, workdir: Path) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(n)
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((n_queries, dim)).astype(np.float32)
    rows: dict[str, dict[str, Any]] = {}
    path = workdir / f"bench-{n}.sqlite"

    # --- our storage: a BLOB column of little-endian float32 in an ordinary table -------------
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE chunks (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
    start = time.perf_counter()
    with db:
        db.executemany(
            "INSERT INTO chunks (id, vector) VALUES (?, ?)",
            ((i, vectors.encode(v)) for i, v in enumerate(matrix)),
        )
    insert_ms = (time.perf_counter() - start) * 1000

    def load() -> tuple[np.ndarray, np.ndarray]:
        rows_ = db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
        ids = np.fromiter((r[0] for r in rows_), dtype=np.int64, count=len(rows_))
        return ids, vectors.normalize(vectors.stack((r[1] for r in rows_), dim))

    start = time.perf_counter()
    ids, cached = load()
    load_ms = (time.perf_counter() - start) * 1000

    def numpy_cached(query: np.ndarray) -> list[int]:
        scores = vectors.cosine_scores(query, cached, normalized=True)[0]
        return ids[vectors.top_k(scores, k)].tolist()

    def numpy_uncached(query: np.ndarray) -> list[int]:
        fresh_ids, fresh = load()
        scores = vectors.cosine_scores(query, fresh, normalized=True)[0]
        return fresh_ids[vectors.top_k(scores, k)].tolist()

    def numpy_blas(query: np.ndarray) -> list[int]:
        # For comparison: the same product through BLAS (`@`), multi-threaded by OpenBLAS.
        scores = cached @ vectors.normalize(query)[0]
        return ids[vectors.top_k(scores, k)].tolist()

    ms, exact = _time_per_query(numpy_cached, queries)
    rows["numpy, matrix cached in memory"] = {
        "ms": ms,
        "recall": 1.0,
        "setup": f"insert {insert_ms:.0f} ms, load {load_ms:.0f} ms",
    }
    ms, found = _time_per_query(numpy_blas, queries)
    rows["numpy BLAS (m @ q), matrix cached"] = {"ms": ms, "recall": _recall(found, exact), "setup": "-"}
    ms, found = _time_per_query(numpy_uncached, queries)
    rows["numpy, blobs loaded from SQLite per query"] = {
        "ms": ms,
        "recall": _recall(found, exact),
        "setup": f"insert {insert_ms:.0f} ms",
    }
    db.close()

    # --- sqlite-vec ---------------------------------------------------------------------------
    vec_rows = ("sqlite-vec vec0 KNN (apsw)", "sqlite-vec vec_distance_cosine on blobs")
    if apsw is None or sqlite_vec is None:
        for name in vec_rows:
            rows[name] = {"ms": None, "recall": None, "setup": "not installed (pip install -e '.[bench]')"}
        return rows
    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.enable_load_extension(False)
    conn.execute(f"CREATE VIRTUAL TABLE vec_chunks USING vec0(embedding float[{dim}] distance_metric=cosine)")
    start = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO vec_chunks (rowid, embedding) VALUES (?, ?)",
            ((i, vectors.encode(v)) for i, v in enumerate(matrix)),
        )
    vec_insert_ms = (time.perf_counter() - start) * 1000

    def vec0(query: np.ndarray) -> list[int]:
        cursor = conn.execute(
            "SELECT rowid FROM vec_chunks WHERE embedding MATCH ? AND k = ? ORDER BY distance",
            (vectors.encode(query), k),
        )
        return [row[0] for row in cursor]

    def vec_scalar(query: np.ndarray) -> list[int]:
        cursor = conn.execute(
            "SELECT id FROM chunks ORDER BY vec_distance_cosine(vector, ?) LIMIT ?",
            (vectors.encode(query), k),
        )
        return [row[0] for row in cursor]

    ms, found = _time_per_query(vec0, queries)
    rows[vec_rows[0]] = {"ms": ms, "recall": _recall(found, exact), "setup": f"insert {vec_insert_ms:.0f} ms"}
    ms, found = _time_per_query(vec_scalar, queries)
    rows[vec_rows[1]] = {"ms": ms, "recall": _recall(found, exact), "setup": "reuses the BLOB table"}
    conn.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args(argv)

    stdlib_ext = hasattr(sqlite3.Connection, "enable_load_extension")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"SQLite {sqlite3.sqlite_version} (stdlib), {os.cpu_count()} CPUs"
    )
    print(f"stdlib sqlite3 can load extensions: {'yes' if stdlib_ext else 'no (built without it)'}")
    if apsw is not None and sqlite_vec is not None:
        print(f"sqlite-vec {getattr(sqlite_vec, '__version__', '?')} via apsw {apsw.apswversion()}")
    else:
        print("sqlite-vec / apsw not installed: their rows are skipped")
    print(f"{args.dim} dims, top-{args.k}, {args.queries} queries per size, exact search everywhere\n")

    results: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="vector-bench-") as tmp:
        for n in args.sizes:
            results[n] = run_size(n, args.dim, args.queries, args.k, Path(tmp))

    methods = list(results[args.sizes[0]])
    width = max(len(m) for m in methods)
    header = f"{'method':<{width}}" + "".join(
        f" | {f'{n} chunks ms/query':>20} | {'recall':>6}" for n in args.sizes
    )
    print(header)
    print("-" * len(header))
    for method in methods:
        line = f"{method:<{width}}"
        for n in args.sizes:
            row = results[n][method]
            ms = "n/a" if row["ms"] is None else f"{row['ms']:.2f}"
            recall = "n/a" if row["recall"] is None else f"{row['recall']:.2f}"
            line += f" | {ms:>20} | {recall:>6}"
        print(line)
    print()
    for n in args.sizes:
        for method in methods:
            print(f"{n:>6} {method:<{width}}  setup: {results[n][method]['setup']}")


if __name__ == "__main__":
    main()
