"""`copy_json`: the engine's copy of a response skeleton equals `copy.deepcopy` and shares no
mutable part with the original (a shared dict would let one request's answer leak into the
next request built from the same skeleton)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reference.core.serialization import copy_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)


def _containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(c for item in value.values() for c in _containers(item))]
    if isinstance(value, list):
        return [value, *(c for item in value for c in _containers(item))]
    return []


@given(JSON)
def test_copy_json_equals_deepcopy_and_shares_no_container(value: Any) -> None:
    copied = copy_json(value)
    assert copied == copy.deepcopy(value)
    originals = {id(c) for c in _containers(value)}
    assert not originals & {id(c) for c in _containers(copied)}


def test_mutating_the_copy_leaves_the_skeleton_alone() -> None:
    skeleton = {"status": "in_progress", "output": [], "usage": None, "metadata": {"k": "v"}}
    copied = copy_json(skeleton)
    copied["output"].append({"type": "message"})
    copied["metadata"]["k"] = "changed"
    assert skeleton == {"status": "in_progress", "output": [], "usage": None, "metadata": {"k": "v"}}
