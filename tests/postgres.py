"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` package, a fresh cluster
in a temporary directory, on loopback, run as an unprivileged user when the suite runs as root
(PostgreSQL refuses to run as root). One per test session; each test gets its own database."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["ThrowawayPostgres", "find_bindir"]

_UNPRIVILEGED = "nobody"


def find_bindir() -> Path | None:
    """The newest installed server's bin directory (Debian keeps them per major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        # not under pytest's tmp dir: its parents are private to root, and the server's user
        # must reach its data directory
        self.root = Path(tempfile.mkdtemp(prefix="leadstream-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, _UNPRIVILEGED)
            self._as_user = ["runuser", "-u", _UNPRIVILEGED, "--"]

    def _run(self, *argv: str) -> None:
        result = subprocess.run([*self._as_user, *argv], capture_output=True, text=True,
                                timeout=120, check=False)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr}{log}")

    def start(self) -> ThrowawayPostgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "leadstream",
                  "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        # fsync off: the tests kill the connector, never the server
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data} -F -c max_connections=50"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://leadstream@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        import psycopg

        name = f"{prefix}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
