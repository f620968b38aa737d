"""A throwaway PostgreSQL server on loopback for tests, `up --replicas` demos and CI.

    with ThrowawayPostgres.start() as pg:     # initdb + pg_ctl start in a fresh temp directory
        url = pg.create_database("t1")        # postgresql://postgres@127.0.0.1:PORT/t1
        pg.restart()                          # stop and start again on the same port and data
    # stopped (pg_ctl stop -m immediate) and its directory removed

    python -m devstack.postgres -- COMMAND ...   # runs COMMAND with RESPONSES_POSTGRES_URL set

The binaries come from `$POSTGRES_BIN` or the newest `/usr/lib/postgresql/<N>/bin` (Debian's
layout), else `PATH`. PostgreSQL refuses to run as root: as root, `initdb` and `pg_ctl` run as
the `postgres` user (`runuser`) on a data directory it owns. The server listens on 127.0.0.1 only,
on a free port, with its unix socket in the temp directory, trust authentication and fsync off
(throwaway data: speed over durability).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

URL_VARIABLE = "RESPONSES_POSTGRES_URL"
SERVICE_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (or no `postgres` user to run them as root)."""


def find_binaries() -> Path:
    """The directory holding `initdb` and `pg_ctl`; raises `PostgresUnavailable`."""
    candidates: list[Path] = []
    if os.environ.get("POSTGRES_BIN"):
        candidates.append(Path(os.environ["POSTGRES_BIN"]))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    candidates.extend(debian)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) found in $POSTGRES_BIN, "
                              "/usr/lib/postgresql/*/bin or PATH")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    bin_dir: Path
    root: Path
    port: int
    _as_service_user: bool

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        """The server's `postgres` database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{SERVICE_USER}@127.0.0.1:{self.port}/{name}"

    @classmethod
    def start(cls) -> ThrowawayPostgres:
        bin_dir = find_binaries()
        as_service_user = os.geteuid() == 0
        root = Path(tempfile.mkdtemp(prefix="responses-pg-"))
        if as_service_user:
            try:
                user = pwd.getpwnam(SERVICE_USER)
            except KeyError as exc:
                shutil.rmtree(root)
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run "
                                          "the server as") from exc
            os.chown(root, user.pw_uid, user.pw_gid)
        server = cls(bin_dir, root, _free_port(), as_service_user)
        try:
            server._run("initdb", "-D", str(server.data_dir), "-U", SERVICE_USER, "--auth=trust",
                        "--encoding=UTF8", "--locale=C", "--no-sync")
            server._start()
        except BaseException:
            server.stop()
            raise
        return server

    def _command(self, tool: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / tool), *args]
        return ["runuser", "-u", SERVICE_USER, "--", *command] if self._as_service_user else command

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(self._command(tool, *args), capture_output=True, text=True, timeout=120,
                              cwd=self.root, check=False)
        if done.returncode != 0:
            output = done.stderr.strip() or done.stdout.strip()
            raise RuntimeError(f"{tool} failed ({done.returncode}): {output}")

    def _start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "start", "-D", str(self.data_dir), "-w", "-t", "60",
                  "-l", str(self.root / "server.log"), "-o", options)

    def stop_server(self) -> None:
        """Stop the server, keeping its data (fast shutdown: sessions are disconnected)."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")

    def start_server(self) -> None:
        """Start a stopped server again on the same port and data."""
        self._start()

    def restart(self) -> None:
        self.stop_server()
        self.start_server()

    def create_database(self, name: str) -> str:
        """Create database `name` (owned by `postgres`); return its URL."""
        self._run("psql", "-h", str(self.root), "-p", str(self.port), "-U", SERVICE_USER, "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-q", "-c", f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and remove its directory."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m devstack.postgres -- COMMAND ...`: run COMMAND with a throwaway server whose
    database URL is in `$RESPONSES_POSTGRES_URL`; exit with COMMAND's status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m devstack.postgres -- COMMAND ...", file=sys.stderr)
        return 2
    with ThrowawayPostgres.start() as pg:
        url = pg.create_database("responses")
        print(f"devstack.postgres: throwaway PostgreSQL at {url}", flush=True)
        return subprocess.run(args, env={**os.environ, URL_VARIABLE: url}, check=False).returncode


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
