"""Embedding storage format and the exact (brute-force) cosine search kernel.

Storage: each chunk's embedding is a BLOB of little-endian float32 values (`encode`/`decode`),
4 bytes per dimension, in an ordinary SQLite column. This is also the format sqlite-vec reads,
so a later switch needs no migration of the data.

Search: the store loads a vector store's blobs once into an (n, d) float32 matrix (`stack`),
L2-normalises the rows (`normalize`), and `cosine_scores(..., normalized=True)` scores a query
with one pass over the matrix (cosine = dot product of unit vectors) and `top_k` picks the k
best with `np.partition`. Attribute filters become a boolean row mask applied before ranking,
so they never cost recall.

Choice, measured by `benchmarks/vector_search.py` (one run, 256 dims, top-10, median of 50
queries, exact search everywhere, the shared 2-core dev machine at load average ~7 because
other test suites were running; sqlite-vec 0.1.9 through apsw, numpy 2.4 with OpenBLAS):

    method                                      2k chunks    20k chunks   (ms per query)
    numpy einsum, matrix cached in memory            0.12          1.63
    numpy BLAS `m @ q`, matrix cached                0.05         19.93
    numpy, blobs loaded from SQLite per query       11.95        160.63
    sqlite-vec vec0 KNN                              1.96         34.07
    sqlite-vec vec_distance_cosine on the blobs      7.10         56.08
    (one-off: insert 20k rows 650 ms, vec0 insert 683 ms, load + normalise 20k blobs 84 ms)

All methods return the same top-k (recall 1.00: sqlite-vec's vec0 is brute force too). So:
numpy over a matrix cached per vector store (invalidated when its files change), 20x faster
than sqlite-vec at 20k chunks, and no SQLite extension to ship: this CPython build (like many)
has no `sqlite3.Connection.enable_load_extension`, so sqlite-vec only loads through another
driver (apsw). vec0 also cannot evaluate nested attribute filters inside its KNN query; it
would over-fetch and post-filter. Reading every blob per query instead of caching costs
100x, so the cache matters. The kernel uses einsum rather than BLAS: see `cosine_scores`.
At 20k chunks x 256 dims the cached matrix is 20 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]
_DTYPE = np.dtype("<f4")


def encode(vector: Sequence[float] | npt.NDArray[np.floating]) -> bytes:
    """A vector as a little-endian float32 BLOB."""
    array = np.asarray(vector, dtype=_DTYPE)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("an embedding must be a non-empty one-dimensional vector")
    if not np.all(np.isfinite(array)):
        raise ValueError("an embedding must contain only finite numbers")
    return array.tobytes()


def decode(blob: bytes, dim: int | None = None) -> FloatMatrix:
    """The float32 vector stored in `blob` (checked against `dim` when given)."""
    if len(blob) % 4:
        raise ValueError(f"an embedding blob must be a multiple of 4 bytes, got {len(blob)}")
    vector = np.frombuffer(blob, dtype=_DTYPE).astype(np.float32)
    if dim is not None and vector.size != dim:
        raise ValueError(f"embedding has {vector.size} dimensions, expected {dim}")
    return vector


def stack(blobs: Iterable[bytes], dim: int) -> FloatMatrix:
    """An (n, dim) float32 matrix from n blobs, in one copy."""
    joined = b"".join(blobs)
    if len(joined) % (4 * dim):
        raise ValueError(f"blobs do not all hold {dim} float32 values")
    return np.frombuffer(joined, dtype=_DTYPE).reshape(-1, dim).astype(np.float32)


def normalize(matrix: npt.ArrayLike) -> FloatMatrix:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (they score 0 against anything)."""
    m = np.atleast_2d(np.asarray(matrix, dtype=np.float32))
    norms = np.sqrt(np.einsum("ij,ij->i", m, m))[:, None]
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def cosine_scores(queries: npt.ArrayLike, matrix: FloatMatrix, *, normalized: bool = False) -> FloatMatrix:
    """(q, n) cosine similarities between each query and each row.

    Pass `normalized=True` when the rows are already unit vectors (a cached, normalised
    matrix): normalising 20k x 256 floats costs as much as the product itself.
    """
    q = normalize(queries)
    if not matrix.size:
        m = np.zeros((0, q.shape[1]), dtype=np.float32)
    else:
        m = matrix if normalized else normalize(matrix)
    if q.shape[1] != m.shape[1]:
        raise ValueError(f"query has {q.shape[1]} dimensions, the vectors have {m.shape[1]}")
    # einsum, not `m @ q`: the product is memory-bound, and `@` goes to multi-threaded OpenBLAS,
    # whose threads spin against everything else on a small busy machine (12x slower at 20k x
    # 256 in the table above). einsum's own loop stays on the calling thread and needs no
    # process-wide thread setting (OPENBLAS_NUM_THREADS must be set before numpy is imported).
    scores = np.stack([np.einsum("nd,d->n", m, row) for row in q]) if len(q) else np.zeros((0, len(m)))
    return np.clip(scores, -1.0, 1.0).astype(np.float32, copy=False)


def top_k(
    scores: npt.NDArray[np.floating], k: int, mask: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.intp]:
    """Indices of the k highest scores, best first; ties go to the lower index.

    Rows where `mask` is False are never returned.
    """
    candidates = np.arange(scores.shape[0]) if mask is None else np.flatnonzero(mask)
    if k <= 0 or candidates.size == 0:
        return np.zeros(0, dtype=np.intp)
    values = scores[candidates]
    if k < candidates.size:
        # Keep everything scoring at least the k-th best value, ties at the cut included, so
        # the tie-break below (not argpartition's arbitrary order) decides who stays.
        kth = -np.partition(-values, k - 1)[k - 1]
        keep = values >= kth
        candidates, values = candidates[keep], values[keep]
    # lexsort: last key is primary -> score descending, then index ascending.
    order = np.lexsort((candidates, -values))
    return candidates[order][:k]
