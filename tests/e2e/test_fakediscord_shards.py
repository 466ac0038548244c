"""FakeDiscord with several shards, driven by a plain discord.py AutoShardedClient.

Discord's rules (Gateway docs, sharding): a session identified with `[shard_id, shard_count]`
gets only the guilds with `(guild_id >> 22) % shard_count == shard_id`, DMs go to shard 0 only,
and `GET /gateway/bot` says how many shards to run and the identify `max_concurrency`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.gateway import DiscordWebSocket

from tests.e2e.harness import discord_py_endpoints, point_discord_py_at, start_client, stop_client
from tests.fakediscord import FakeDiscord, Guild, Member

JSON = dict[str, Any]


class ShardedProbe(discord.AutoShardedClient):
    """A plain sharded client with one slash command that counts its invocations."""

    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(intents=intents, guild_ready_timeout=0.05, **options)
        self.tree = app_commands.CommandTree(self)
        self.pings: list[int | None] = []  # the guild shard discord.py filed each ping under

        @self.tree.command(description="Answer with pong")
        async def ping(interaction: discord.Interaction) -> None:
            self.pings.append(interaction.guild.shard_id if interaction.guild else None)
            await interaction.response.send_message("pong", ephemeral=True)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s between shards' IDENTIFYs; the fake has no identify limit."""


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int | None, str, JSON]]:
    """Every dispatch as the client's websockets receive it: (shard id, event, data)."""
    seen: list[tuple[int | None, str, JSON]] = []
    original = DiscordWebSocket.received_message

    async def spy(self: DiscordWebSocket, msg: Any) -> None:
        frame = json.loads(msg)
        if frame.get("op") == 0:
            seen.append((self.shard_id, frame["t"], frame["d"]))
        await original(self, msg)

    monkeypatch.setattr(DiscordWebSocket, "received_message", spy)
    return seen


@pytest.fixture
async def server() -> AsyncIterator[FakeDiscord]:
    """A FakeDiscord configured for two shards."""
    with discord_py_endpoints():
        fake = await FakeDiscord(shards=2).start()
        point_discord_py_at(fake)
        try:
            yield fake
        finally:
            await fake.stop()
    assert not fake.unmodelled, fake.unmodelled


@pytest.fixture
def guilds(server: FakeDiscord) -> dict[int, list[Guild]]:
    """Two guilds on each of the two shards."""
    return {
        shard: [server.create_guild(f"shard {shard} guild {n}", shard=shard) for n in range(2)]
        for shard in (0, 1)
    }


def _on(guild: Guild, count: int) -> int:
    return (guild.id >> 22) % count


def _events(
    received: list[tuple[int | None, str, JSON]], event: str
) -> list[tuple[int | None, JSON]]:
    return [(shard, data) for shard, t, data in received if t == event]


async def test_gateway_bot_reports_the_configured_shards(
    server: FakeDiscord, guilds: dict[int, list[Guild]]
) -> None:
    server.max_concurrency = 16
    client = ShardedProbe()  # no shard_count: discord.py asks GET /gateway/bot
    task = await start_client(client, server.token)
    try:
        assert client.shard_count == 2
        assert sorted(client.shards) == [0, 1]
        limits = await client.fetch_session_start_limits()
        assert limits.max_concurrency == 16
        assert limits.remaining <= limits.total
    finally:
        await stop_client(client, task)
    shards = sorted(f["d"]["shard"] for f in server.gateway.received if f["op"] == 2)
    assert shards == [[0, 2], [1, 2]]


async def test_ready_and_guild_create_carry_only_the_shards_guilds(
    server: FakeDiscord,
    guilds: dict[int, list[Guild]],
    received: list[tuple[int | None, str, JSON]],
) -> None:
    assert all(_on(g, 2) == shard for shard, gs in guilds.items() for g in gs)
    client = ShardedProbe(shard_count=2)
    task = await start_client(client, server.token)
    try:
        for shard in (0, 1):
            expected = {str(g.id) for g in guilds[shard]}
            (ready,) = [d for s, d in _events(received, "READY") if s == shard]
            assert ready["shard"] == [shard, 2]
            assert {g["id"] for g in ready["guilds"]} == expected
            created = {d["id"] for s, d in _events(received, "GUILD_CREATE") if s == shard}
            assert created == expected
        # Every guild reached the client, and discord.py's formula agrees on its shard.
        assert {(g.id, g.shard_id) for g in client.guilds} == {
            (g.id, shard) for shard, gs in guilds.items() for g in gs
        }

        # A guild joined later and its events reach only the owning shard's session.
        late = server.create_guild("joined later", shard=1)
        member = await server.add_member(late, "newcomer")
        await server.wait_for(
            lambda: (g := client.get_guild(late.id)) is not None and g.get_member(member.user.id)
        )
        assert [s for s, d in _events(received, "GUILD_CREATE") if d["id"] == str(late.id)] == [1]
        assert [s for s, _ in _events(received, "GUILD_MEMBER_ADD")] == [1]
    finally:
        await stop_client(client, task)


async def test_dm_arrives_on_shard_0_only(
    server: FakeDiscord,
    guilds: dict[int, list[Guild]],
    received: list[tuple[int | None, str, JSON]],
) -> None:
    member: Member = server.create_member(guilds[1][0], "writes-to-the-bot")
    client = ShardedProbe(shard_count=2)
    task = await start_client(client, server.token)
    try:
        dm = server.dm_channel(member.user)
        message = await server.send_user_message(dm, member, "hello bot")
        await server.wait_for(lambda: any(m.id == message.id for m in client.cached_messages))
        await server.flush()
        assert [s for s, d in _events(received, "MESSAGE_CREATE") if "guild_id" not in d] == [0]
    finally:
        await stop_client(client, task)


async def test_interaction_reaches_the_owning_shard_only(
    server: FakeDiscord,
    guilds: dict[int, list[Guild]],
    received: list[tuple[int | None, str, JSON]],
) -> None:
    guild = guilds[1][1]
    member = server.create_member(guild, "asks")
    client = ShardedProbe(shard_count=2)
    task = await start_client(client, server.token)
    try:
        await client.tree.sync()
        result = await server.invoke(guild, member, "ping")
        assert result.ephemeral and result.content == "pong"
        await server.flush()
        assert [s for s, _ in _events(received, "INTERACTION_CREATE")] == [1]
        assert client.pings == [1]  # handled once, not once per shard
        assert not result.rejected
    finally:
        await stop_client(client, task)


async def test_identify_with_a_shard_outside_the_count_is_closed_4010(server: FakeDiscord) -> None:
    client = ShardedProbe(shard_count=2, shard_ids=[2])
    try:
        with pytest.raises(discord.ConnectionClosed) as info:
            await start_client(client, server.token)
    finally:
        await client.close()
    assert info.value.code == 4010  # Invalid shard
    assert server.gateway.identifies == 0 and not server.gateway.sessions
