"""Job leases across real gateway processes on one PostgreSQL database (`reference.store.leases`):
a replica killed with SIGKILL has its background responses marked failed and its ingestion jobs
taken over by a live replica within the lease time; a replica that restarts leaves the running
jobs of the others alone."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.gateway_process import GatewayProcess, start_subprocess
from fixtures.backend.server import BackendHandle, run_in_thread
from tests.support import postgres

LEASE = 2.0
"""`serve --job-lease`: short, so a dead replica's jobs are taken over within seconds."""
TAKEOVER = LEASE * 4 / 3 + 10.0
"""Expiry, one heartbeat of the survivor, and slack for a machine shared with other work (CI
runs the mutants beside this; here it takes 2 to 6 s)."""
SLOW = "[[delay:60000]]"
"""A scripted-backend directive: the answer comes after a minute (the job runs meanwhile)."""

pytestmark = pytest.mark.replicas


@pytest.fixture(scope="module")
def backend() -> Iterator[BackendHandle]:
    with run_in_thread() as handle:
        yield handle


Serve = Callable[..., GatewayProcess]


@pytest.fixture
def serve(backend: BackendHandle, tmp_path: Path) -> Iterator[Serve]:
    """Starts replicas of one deployment (one database, one files directory); stops them all."""
    db = postgres.fresh_database()
    started: list[GatewayProcess] = []

    def start(*extra: str) -> GatewayProcess:
        gateway = start_subprocess(["--backend-url", backend.url, "--http-port", "0", "--db", db,
                                    "--files-dir", str(tmp_path / "files"), "--job-lease", str(LEASE),
                                    *extra])
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def _background(gateway: GatewayProcess, text: str) -> str:
    made = httpx.post(f"{gateway.url}/responses", timeout=10,
                      json={"model": "m", "input": f"{SLOW} {text}", "background": True})
    assert made.status_code == 200, made.text
    return str(made.json()["id"])


def _status(gateway: GatewayProcess, path: str) -> str:
    got = httpx.get(f"{gateway.url}/{path}", timeout=10)
    assert got.status_code == 200, got.text
    return str(got.json()["status"])


def _wait_status(gateway: GatewayProcess, path: str, statuses: tuple[str, ...], within: float) -> float:
    """Seconds until `path` reads one of `statuses`; fails after `within` seconds."""
    start = time.monotonic()
    while (status := _status(gateway, path)) not in statuses:
        assert time.monotonic() - start < within, f"{path} still {status} after {within} s"
        time.sleep(0.1)
    return time.monotonic() - start


def test_a_killed_replicas_background_job_fails_within_the_lease_and_a_restart_spares_the_others(
        serve: Serve) -> None:
    first, second = serve(), serve()
    on_first = _background(first, "runs on the first replica")
    on_second = _background(second, "runs on the second replica")
    for gateway, rid in ((first, on_first), (second, on_second)):
        _wait_status(gateway, f"responses/{rid}", ("in_progress",), 10)

    second.stop(signal.SIGKILL)
    killed = time.monotonic()
    restarted = serve()  # the second replica comes back as a new process on the same database
    _wait_status(first, f"responses/{on_second}", ("failed",), TAKEOVER + 10)
    since_kill = time.monotonic() - killed
    assert since_kill <= TAKEOVER, f"failed only {since_kill:.1f} s after the kill"
    failed = httpx.get(f"{first.url}/responses/{on_second}", timeout=10).json()
    assert failed["error"]["code"] == "server_error", failed
    print(f"the killed replica's job was marked failed {since_kill:.1f} s after the kill")

    # Neither the restart nor the heartbeats of the new process touched the live replica's job,
    # and it can still be cancelled from there.
    time.sleep(LEASE)
    assert _status(restarted, f"responses/{on_first}") == "in_progress"
    cancelled = httpx.post(f"{restarted.url}/responses/{on_first}/cancel", timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    time.sleep(2)  # the owner notices within engine.CANCEL_POLL_SECONDS and never overwrites it
    assert _status(first, f"responses/{on_first}") == "cancelled"


def test_a_killed_replicas_ingestion_is_taken_over_and_completes(serve: Serve) -> None:
    # The first replica embeds slowly (a minute per call): its job is still running when killed.
    slow = serve("--embedding-model", "scripted-delay:60000")
    fast = serve()
    upload = httpx.post(f"{slow.url}/files", timeout=10, data={"purpose": "assistants"},
                        files={"file": ("tides.txt", b"The moon raises the tides twice a day.",
                                        "text/plain")})
    assert upload.status_code == 200, upload.text
    file_id = upload.json()["id"]
    store = httpx.post(f"{slow.url}/vector_stores", timeout=10, json={"file_ids": [file_id]})
    assert store.status_code == 200 and store.json()["status"] == "in_progress", store.text
    path = f"vector_stores/{store.json()['id']}/files/{file_id}"
    time.sleep(LEASE)  # renewed by the slow replica's heartbeat: nobody takes it over
    assert _status(fast, path) == "in_progress"

    slow.stop(signal.SIGKILL)
    waited = _wait_status(fast, path, ("completed", "failed"), TAKEOVER + 10)
    assert waited <= TAKEOVER, f"taken over only after {waited:.1f} s"
    assert _status(fast, path) == "completed"
    hits = httpx.post(f"{fast.url}/vector_stores/{store.json()['id']}/search", timeout=10,
                      json={"query": "moon tides"})
    assert hits.status_code == 200 and hits.json()["data"][0]["file_id"] == file_id, hits.text
