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

    def run(*args: str, check: bool = True) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    db = str(data / "db")
    try:
        run(_binary("initdb"), "-D", db, "-A", "trust", "-U", "rg", "--no-sync")
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            # The server's output goes to a log file: a server holding our pipes open would
            # keep the start command from ever returning.
            run(_binary("pg_ctl"), "-D", db, "-l", str(data / "server.log"), "-o", options,
                "-w", "start")  # fmt: skip
            yield f"postgresql+psycopg://rg@127.0.0.1:{port}/postgres"
        finally:
            # Whatever happened, no server outlives the tests; a failed stop must not hide
            # the test's own error.
            run(_binary("pg_ctl"), "-D", db, "-m", "immediate", "-w", "stop", check=False)
    finally:
        shutil.rmtree(data, ignore_errors=True)
