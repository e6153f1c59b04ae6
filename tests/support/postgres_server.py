"""PostgreSQL for tests: the machine's shared server (each test run in a schema of its own, dropped
after), and a throwaway server that a test may stop and start (a database restart mid-run).

``.ci/run`` starts the machine's server when it is not answering and creates ``storelink_test``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.redis_server import free_port

__all__ = ["SHARED_POSTGRES_URL", "PostgresServer", "drop_schema", "new_schema", "postgres_answers"]

SHARED_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/storelink_test"
_BIN = Path("/usr/lib/postgresql/15/bin")


def postgres_answers(url: str = SHARED_POSTGRES_URL) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=1) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def new_schema() -> str:
    return f"storelink_test_{uuid.uuid4().hex[:10]}"


def drop_schema(schema: str, url: str = SHARED_POSTGRES_URL) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class PostgresServer:
    """A throwaway cluster on a spare port, run as the ``postgres`` user (initdb refuses root)."""

    def __init__(self) -> None:
        binary = _BIN / "initdb"
        if not binary.exists() or shutil.which("runuser") is None:
            raise FileNotFoundError("PostgreSQL's server binaries (or runuser) are not installed")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storelink-pg-"))
        self.data = self.dir / "data"
        os.chmod(self.dir, 0o777)  # noqa: S103  (a test's temp dir: the postgres user writes its cluster and socket)
        self._as_postgres(str(_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        as_root = os.geteuid() == 0
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)  # noqa: S603

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", str(self.dir / "log"), "start"
        )
        deadline = time.monotonic() + 15
        while not postgres_answers(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not answer on port {self.port}")
            time.sleep(0.1)

    def stop(self) -> None:
        self._as_postgres(str(_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
