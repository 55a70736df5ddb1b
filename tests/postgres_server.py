"""A throwaway PostgreSQL server for the journal's tests: initdb in a temporary directory, a
free port on 127.0.0.1, trust authentication, stopped at the end. PostgreSQL refuses to run as
root, so under root the server runs as the ``postgres`` user that Debian's package creates."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"{name} not found: install Debian's postgresql package (.ci/run does it)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A throwaway server: ``url`` (SQLAlchemy, psycopg 3), and :meth:`stop`, :meth:`start`
    and :meth:`restart` on the same data directory and port, for tests of a database that
    goes away and comes back."""

    def __init__(self, data: Path, port: int, prefix: list[str]) -> None:
        self.data = data
        self.port = port
        self._prefix = prefix
        self.url = f"postgresql+psycopg://rg@127.0.0.1:{port}/postgres"

    def run(self, *args: str, check: bool = True) -> None:
        """Runs a server command (as the postgres user under root); raises RuntimeError with its
        output when it fails and ``check``."""
        done = subprocess.run([*self._prefix, *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def init(self) -> None:
        """Creates the data directory: trust authentication, superuser ``rg``."""
        self.run(_binary("initdb"), "-D", str(self.data / "db"), "-A", "trust", "-U", "rg",
                 "--no-sync")  # fmt: skip

    def start(self) -> None:
        """Starts the server and returns once it accepts connections."""
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        # The server's output goes to a log file: a server holding our pipes open would keep
        # the start command from ever returning.
        self.run(_binary("pg_ctl"), "-D", str(self.data / "db"), "-l",
                 str(self.data / "server.log"), "-o", options, "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast", check: bool = True) -> None:
        """Stops the server (``fast``: every session is ended, as a restart does)."""
        self.run(_binary("pg_ctl"), "-D", str(self.data / "db"), "-m", mode, "-w", "stop",
                 check=check)  # fmt: skip

    def restart(self) -> None:
        """Stops and starts the server on the same data directory and port."""
        self.stop()
        self.start()


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Starts a server and yields it; stopped and removed at the end, whatever happened."""
    root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if root else []
    data = Path(tempfile.mkdtemp(prefix="rg-pg-"))
    if root:
        shutil.chown(data, "postgres", "postgres")
    server = PostgresServer(data, _free_port(), prefix)
    try:
        server.init()
        try:
            server.start()
            yield server
        finally:
            # No server outlives the tests; a failed stop must not hide the test's own error.
            server.stop("immediate", check=False)
    finally:
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """Starts a server and yields its SQLAlchemy URL (psycopg 3)."""
    with postgres_server() as server:
        yield server.url
