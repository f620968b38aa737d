"""Embedding blobs and the cosine kernel (reference.retrieval.vectors)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.retrieval import vectors

_FLOATS = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


def test_blob_is_little_endian_float32() -> None:
    # The same layout sqlite-vec reads, so stored blobs stay usable if we ever switch.
    assert vectors.encode([1.0, -2.5]) == struct.pack("<2f", 1.0, -2.5)
    assert vectors.decode(struct.pack("<3f", 0.5, 1.0, 2.0)).tolist() == [0.5, 1.0, 2.0]


@settings(max_examples=30)
@given(st.lists(_FLOATS, min_size=1, max_size=64))
def test_encode_decode_round_trip(values: list[float]) -> None:
    blob = vectors.encode(values)
    assert len(blob) == 4 * len(values)
    assert vectors.decode(blob, len(values)).tolist() == values


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [float("nan")], [1.0, float("inf")]])
def test_encode_rejects_bad_vectors(bad: list[object]) -> None:
    with pytest.raises(ValueError):
        vectors.encode(bad)  # type: ignore[arg-type]


def test_decode_checks_length_and_dimension() -> None:
    with pytest.raises(ValueError):
        vectors.decode(b"\x00\x00\x00")
    with pytest.raises(ValueError, match="3 dimensions, expected 4"):
        vectors.decode(vectors.encode([1.0, 2.0, 3.0]), 4)


def test_stack_builds_a_matrix_in_row_order() -> None:
    blobs = [vectors.encode([float(i), float(i + 1)]) for i in range(3)]
    assert vectors.stack(blobs, 2).tolist() == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    assert vectors.stack([], 2).shape == (0, 2)
    with pytest.raises(ValueError):
        vectors.stack([vectors.encode([1.0, 2.0, 3.0])], 2)


def test_normalize_keeps_zero_rows_zero() -> None:
    m = vectors.normalize([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(m, [[0.6, 0.8], [0.0, 0.0]], atol=1e-6)


def test_cosine_scores_and_dimension_mismatch() -> None:
    scores = vectors.cosine_scores([[1.0, 0.0]], np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 1.0]], np.float32))
    np.testing.assert_allclose(scores, [[1.0, 0.0, -np.sqrt(0.5)]], atol=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        vectors.cosine_scores([[1.0, 0.0, 0.0]], np.ones((2, 2), np.float32))


def test_top_k_orders_by_score_then_index_and_honours_mask() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9, 0.5])
    assert vectors.top_k(scores, 3).tolist() == [1, 4, 0]
    # The tie at the cut (three 0.5s for the last two places) goes to the lower indices.
    assert vectors.top_k(scores, 4).tolist() == [1, 4, 0, 2]
    mask = np.array([True, False, True, True, False, True])
    assert vectors.top_k(scores, 10, mask).tolist() == [0, 2, 5, 3]
    assert vectors.top_k(scores, 0).tolist() == []
    assert vectors.top_k(scores, 3, np.zeros(6, bool)).tolist() == []


@settings(max_examples=30)
@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=40), st.integers(1, 45))
def test_top_k_equals_a_full_stable_sort(values: list[int], k: int) -> None:
    scores = np.array(values, dtype=np.float32)
    expected = sorted(range(len(values)), key=lambda i: (-values[i], i))[:k]
    assert vectors.top_k(scores, k).tolist() == expected
