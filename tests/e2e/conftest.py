"""Fixtures for end-to-end tests: a FakeDiscord per test, the real Haven bot, a network guard."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Community, HavenRunner, build_community, discord_py_endpoints
from tests.fakediscord import FakeDiscord
from tests.support.actors import People, people_of
from tests.support.postgres import PostgresServer
from tests.support.store import HavenStore

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_external_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail any test that resolves or connects to anything but loopback (e.g. discord.com)."""
    violations: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            violations.append(f"connect to {address!r}")
            raise ConnectionRefusedError(f"e2e tests may only use loopback, not {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            violations.append(f"resolve {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"e2e tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield violations
    assert not violations, f"the test tried to reach the network: {violations}"


@pytest.fixture
async def discord_server() -> AsyncIterator[FakeDiscord]:
    """A fresh FakeDiscord on 127.0.0.1; fails the test on any unmodelled REST call."""
    with discord_py_endpoints():
        server = await FakeDiscord().start()
        try:
            yield server
        finally:
            await server.stop()
    if server.unmodelled:
        calls = "\n".join(f"  {c.method} {c.path} json={c.json!r}" for c in server.unmodelled)
        pytest.fail(f"the bot made REST calls the fake Discord does not model:\n{calls}")


@pytest.fixture
def community(discord_server: FakeDiscord) -> Community:
    """The standard guild: owner, moderator (Manage Server), facilitator, peer, family member."""
    return build_community(discord_server)


@pytest.fixture
def people(discord_server: FakeDiscord, community: Community) -> People:
    """The community's members as callables: `await people.facilitator("meeting info", ...)`."""
    return people_of(discord_server, community)


@pytest.fixture
def haven_clock() -> Any:
    """None: the system clock. A module gives Haven a FakeClock with `haven_clock_at(T0)`."""
    return None


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HavenStore]:
    """A fresh database for the test: a SQLite file, or a PostgreSQL database on the session's
    server in a module marked both_backends (tests/conftest.py)."""
    path = tmp_path / "haven.db"
    if backend != "postgres":
        yield HavenStore(path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.run(server.fresh_database())
    try:
        yield HavenStore(path, server.url(name))
    finally:
        server.discard_database(name)


@pytest.fixture
def haven_runner(discord_server: FakeDiscord, store: HavenStore, haven_clock: Any) -> HavenRunner:
    """A not-yet-started Haven on the test's fresh `store` (start/restart it yourself)."""
    return HavenRunner.on(discord_server, store, clock=haven_clock)


@pytest.fixture
async def haven(haven_runner: HavenRunner, community: Community) -> AsyncIterator[HavenRunner]:
    """The real Haven bot, connected, ready, commands synced, in the `community` guild."""
    await haven_runner.start()
    try:
        yield haven_runner
    finally:
        await haven_runner.stop()
