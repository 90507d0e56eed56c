"""A real PostgreSQL server for the tests: Debian's package (scripts/setup.sh installs it), a
fresh cluster in a temporary folder on a free loopback port, password authentication, stopped
at the end of the session. Tests can stop and start it to see what a database outage does."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port

USER = "model_api"


def _bin_dir() -> Path:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run scripts/setup.sh (apt postgresql)")
    return versions[-1].parent


class PostgresServer:
    """One cluster: ``url`` reaches its ``postgres`` database as the test user."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="model-api-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(24)
        )
        # initdb refuses to run as root: the package's own user runs the server then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres")
        self.root.chmod(0o700)
        (self.root / "pw").write_text(self.password)
        if self.as_user:
            shutil.chown(self.root / "pw", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--pwfile",
            str(self.root / "pw"),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        )
        (self.root / "pw").unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\n"
            )
        self.url = f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/postgres"
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stdout}\n{result.stderr}\n{tail}")

    def start(self) -> None:
        """Start (again) on the same port and data; returns once it accepts connections."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "start"
        )

    def stop(self) -> None:
        """A fast shutdown: connections are cut, as when a database server goes away."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t{secrets.token_hex(6)}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={self.port} user={USER} password={self.password} "
                    "dbname=postgres",
                    autocommit=True,
                ) as connection:
                    connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def fresh_postgres_url(postgres_server: PostgresServer) -> str:
    """A new empty database on the session's server (one per test module)."""
    return postgres_server.create_database()
