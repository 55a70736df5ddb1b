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


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """Starts a server and yields its SQLAlchemy URL (psycopg 3)."""
    root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if root else []
    data = Path(tempfile.mkdtemp(prefix="rg-pg-"))
    if root:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    run = lambda *args: subprocess.run(  # noqa: E731
        [*prefix, *args], check=True, capture_output=True, text=True
    )
    try:
        run(_binary("initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "rg", "--no-sync")
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        # The server's output goes to a log file: a server holding our pipes open would keep
        # the start command from ever returning.
        log = str(data / "server.log")
        run(_binary("pg_ctl"), "-D", str(data / "db"), "-l", log, "-o", options, "-w", "start")
        try:
            yield f"postgresql+psycopg://rg@127.0.0.1:{port}/postgres"
        finally:
            run(_binary("pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(data, ignore_errors=True)
