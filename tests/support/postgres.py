"""A throwaway PostgreSQL server for the tests: a temp data dir, 127.0.0.1, a free port.

PostgreSQL refuses to run as root, so under root every server command runs as the ``postgres``
OS user (created when missing). When no server can be started, ``start_postgres`` returns the
reason instead and the PostgreSQL tests are skipped with it (``HAVEN_TEST_POSTGRES=off`` skips
them on purpose).
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

TEMPLATE = "haven_template"
_SERVER_USER = "postgres"
_numbers = itertools.count(1)
T = TypeVar("T")


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One running throwaway server; ``url(name)`` connects to a database on it."""

    def __init__(self, pg_ctl: str, root: Path, port: int, as_user: list[str]) -> None:
        self.pg_ctl = pg_ctl
        self.root = root
        self.port = port
        self.as_user = as_user
        # Copies and drops happen on this one thread while tests run (each takes ~0.1-0.3 s).
        self._background = ThreadPoolExecutor(1, thread_name_prefix="haven-pg")
        self._next: Future[str] | None = None
        self._taking = threading.Lock()

    @property
    def data(self) -> Path:
        """The cluster's data folder."""
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """A connection URL for one database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        self._background.shutdown(wait=True, cancel_futures=True)
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    async def create_database(self, name: str, template: str | None = None) -> None:
        """CREATE DATABASE, optionally as a copy of a template."""
        import asyncpg

        conn = await asyncpg.connect(self.url())
        try:
            suffix = f" TEMPLATE {template}" if template else ""
            await conn.execute(f"CREATE DATABASE {name}{suffix}")
        finally:
            await conn.close()

    async def drop_database(self, name: str) -> None:
        """DROP DATABASE, closing whatever is still connected."""
        import asyncpg

        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one of the async helpers from sync code, even while an event loop runs."""
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    async def fresh_database(self) -> str:
        """A new database copied from the migrated template; returns its name.

        The copy was made in the background while the previous test ran, and the next one is
        started now, so a test waits for a copy only when it asks sooner than one takes.
        """
        with self._taking:
            ready = self._next or self._background.submit(self._copy_template)
            self._next = self._background.submit(self._copy_template)
        return await asyncio.wrap_future(ready)

    def discard_database(self, name: str) -> None:
        """Drop a test's database in the background (DROP ... WITH (FORCE) ends its sessions)."""
        self._background.submit(lambda: asyncio.run(self.drop_database(name)))

    def _copy_template(self) -> str:
        name = f"t{os.getpid()}_{next(_numbers)}"
        asyncio.run(self.create_database(name, TEMPLATE))
        return name


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    try:
        entry = pwd.getpwnam(_SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", _SERVER_USER],
            capture_output=True,
            check=True,
        )
        entry = pwd.getpwnam(_SERVER_USER)
    return ["runuser", "-u", _SERVER_USER, "--"], entry.pw_uid, entry.pw_gid


def start_postgres() -> PostgresServer | str:
    """Start a throwaway server with a migrated template database, or say why it cannot."""
    if os.environ.get("HAVEN_TEST_POSTGRES", "").lower() in ("0", "off", "no"):
        return "HAVEN_TEST_POSTGRES is off"
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[dev]')"
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        return "PostgreSQL is not installed (no initdb/pg_ctl; apt-get install postgresql)"
    try:
        as_user, uid, gid = _as_server_user()
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"cannot create the postgres OS user to run the server as ({exc})"
    root = Path(tempfile.mkdtemp(prefix="haven-pg-"))
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    server = PostgresServer(pg_ctl, root, _free_port(), as_user)
    init = subprocess.run(
        [*as_user, initdb, "-D", str(server.data), "-U", "postgres", "--auth=trust"]
        + ["--locale=C", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        return f"initdb failed: {(init.stderr or init.stdout).strip().splitlines()[-1:]}"
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories={root}"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        " -c max_connections=300 -c autovacuum=off"
    )
    started = subprocess.run(
        [*as_user, pg_ctl, "-D", str(server.data), "-o", options]
        + ["-l", str(root / "server.log"), "-w", "-t", "60", "start"],
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    if started.returncode != 0:
        log = root / "server.log"
        tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
        server.stop()
        return f"the PostgreSQL server did not start: {tail or started.stderr.strip()}"
    try:
        # A fixture may ask for the server while its event loop runs: migrate on another thread.
        server.run(_migrate_template(server))
    except Exception as exc:
        server.stop()
        return f"migrating the template database failed: {exc}"
    return server


async def _migrate_template(server: PostgresServer) -> None:
    from bot.db.postgres import PostgresDatabase

    await server.create_database(TEMPLATE)
    db = await PostgresDatabase.open(server.url(TEMPLATE))
    try:
        await db.migrate()
    finally:
        await db.close()
