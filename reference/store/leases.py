"""Job leases: every background response and ingestion job is run by exactly one gateway process,
and a job whose process died is taken over by a live one instead of staying `in_progress`.

A job has a name (`response/<id>`, `ingest/<vector store id>/<file id>`) and, while it runs, a
lease row in the store (`ResponseStore.claim_job` and friends): its owner (one gateway process,
`JobLeases.owner`) and an expiry on the database's clock. The owner claims the lease before it
records the job as running, renews all its leases together every `seconds / 3` (the heartbeat)
and releases a lease once the job's outcome is stored. A process that stops renewing (killed,
frozen, cut off from the database) loses its leases `seconds` after its last renewal; from then
on any live process may claim them (one claim wins: the store's upsert is atomic) and decides
what becomes of the job (the engine marks a response failed, `VectorStores` ingests the file
again). The same heartbeat runs those sweeps, so a dead replica's jobs end within about
`seconds * 4 / 3`. A gateway that restarts takes only what is unleased or expired, never the
running jobs of the other replicas.

With one SQLite process the same code runs: a clean shutdown releases its leases, so the next
start takes its jobs over at once; after a crash they wait for their leases to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence

from reference.core.errors import APIError
from reference.store.base import ResponseStore
from reference.store.thread import StoreThread

log = logging.getLogger("reference.leases")

DEFAULT_LEASE_SECONDS = 30.0
"""How long a job stays its owner's without a renewal (`serve --job-lease`)."""

Sweep = Callable[[], Awaitable[object]]


def new_owner() -> str:
    """A name for this process's leases: unique per process start (a restarted replica on the
    same host and pid is another owner), readable in the table (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class JobLeases:
    """One gateway process's leases: claim, release, and the heartbeat that renews them and runs
    the sweeps that take over expired ones."""

    def __init__(self, store: ResponseStore, thread: StoreThread, *,
                 seconds: float = DEFAULT_LEASE_SECONDS, owner: str | None = None) -> None:
        if seconds <= 0:
            raise ValueError("the job lease must be positive")
        self._store = store
        self._run = thread.run
        self.seconds = seconds
        self.owner = owner or new_owner()
        self._heartbeat: asyncio.Task[None] | None = None

    async def claim(self, job: str) -> bool:
        """Take `job` (True), or leave it to the live owner that holds it (False)."""
        return await self._run(self._store.claim_job, job, self.owner, self.seconds)

    async def release(self, job: str) -> None:
        """Give `job` up once its outcome is stored. A store fault is logged, not raised: the
        lease then expires and a sweep finds the job finished."""
        try:
            await self._run(self._store.release_job, job, self.owner)
        except APIError as exc:
            log.warning("could not release the lease of %s (%s); it will expire", job, exc.message)

    async def expired(self, prefix: str) -> list[str]:
        """The jobs named `prefix...` whose lease expired."""
        return [job for job in await self._run(self._store.expired_jobs) if job.startswith(prefix)]

    async def renew(self) -> list[str]:
        return await self._run(self._store.renew_jobs, self.owner, self.seconds)

    def start(self, sweeps: Sequence[Sweep]) -> None:
        """Start the heartbeat: every `seconds / 3`, renew this process's leases, then run each
        sweep (take over the jobs whose lease expired)."""
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(list(sweeps)), name="job leases")

    async def _beat(self, sweeps: list[Sweep]) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await self.renew()
                for sweep in sweeps:
                    await sweep()
            except APIError as exc:
                # The database is away: nobody can take our jobs while nobody reaches it either;
                # try again at the next beat.
                log.warning("job lease heartbeat failed: %s", exc.message)
            except Exception:
                log.exception("job lease heartbeat failed")

    async def aclose(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
