"""Every store test that takes `open_backend` runs against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reference.store import ResponseStore, open_store
from tests.support import postgres

OpenStore = Callable[[], ResponseStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the test's database (the same one on every call, as a restarted gateway would);
    every store it opened is closed after the test."""
    location = str(tmp_path / "db.sqlite") if request.param == "sqlite" else postgres.fresh_database()
    opened: list[ResponseStore] = []

    def open_it() -> ResponseStore:
        store = open_store(location)
        opened.append(store)
        return store

    yield open_it
    for store in opened:
        store.close()
