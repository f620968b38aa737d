"""The one thread every store call runs on.

Store methods block (sqlite3). Running them on a single dedicated thread keeps them off the
event loop and serialises them: a read-check-write sequence passed as one function (an
optimistic-concurrency check, say) cannot interleave with another within one gateway process.
The composition root (`reference.gateway`) creates one and hands it to the engine and every
service.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class StoreThread:
    def __init__(self, *, observe: Callable[[str, float], None] | None = None) -> None:
        """`observe(operation, seconds)` is told how long each call took, waiting for the thread
        included (the store-latency metric); the operation is the function's name."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="response-store")
        self._observe = observe

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the store thread."""
        loop = asyncio.get_running_loop()
        # The caller's context variables go along (the request's tenant, reference.store.tenancy).
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        if self._observe is None:
            return await loop.run_in_executor(self._executor, call)
        started = time.perf_counter()
        try:
            return await loop.run_in_executor(self._executor, call)
        finally:
            self._observe(getattr(fn, "__name__", "call"), time.perf_counter() - started)

    def close(self) -> None:
        """Wait for the calls already queued, then stop the thread."""
        self._executor.shutdown(wait=True)
