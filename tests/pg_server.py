"""A real PostgreSQL server for the tests: a throw-away cluster in a temporary folder, started with
Debian's ``postgresql`` binaries, listening on a Unix socket only (no TCP port), stopped at the end.

``make setup`` installs the package where it is missing (as root, with apt). PostgreSQL refuses to
run as root, so as root the cluster belongs to the ``postgres`` system user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

INSTALL_HINT = "install Debian's `postgresql` package (`make setup` does it as root: apt-get install postgresql)"


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` / ``pg_ctl`` (PATH first, then Debian's versioned folders)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _run(args: list[str], as_postgres: bool) -> None:
    command = ["runuser", "-u", "postgres", "--", *args] if as_postgres else args
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """Start a cluster under ``folder``; yields the server's SQLAlchemy URL prefix
    (``postgresql+psycopg://vehiclekit@/{database}?host=...``, format it with a database name)."""
    binaries = postgres_bin()
    if binaries is None:
        raise FileNotFoundError(f"PostgreSQL is not installed: {INSTALL_HINT}")
    as_postgres = os.geteuid() == 0
    data, socket = folder / "data", folder / "socket"
    socket.mkdir(parents=True)
    if as_postgres:
        shutil.chown(folder, "postgres")
        shutil.chown(socket, "postgres")
    _run([str(binaries / "initdb"), "-D", str(data), "-U", "vehiclekit", "-A", "trust", "--no-sync"], as_postgres)
    options = f"-k {socket} -c listen_addresses='' -c fsync=on -c max_connections=50"
    _run([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60", "-l", str(folder / "log"), "start"],
         as_postgres)
    try:
        yield f"postgresql+psycopg://vehiclekit@/{{database}}?host={socket}"
    finally:
        _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_postgres)


def create_database(server: str) -> str:
    """A new, empty database on ``server`` (from :func:`postgres_server`); returns its URL."""
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server.format(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.format(database=name)
