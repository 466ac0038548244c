"""Haven as a sharded client (SHARD_COUNT / SHARD_IDS) on the local Discord-compatible server.

SQLite serves one process on one shard, so there the bot runs SHARD_COUNT=1; on PostgreSQL it
runs the real case, two shards in one process, each guild served by the shard Discord's formula
gives it.
"""

from __future__ import annotations

import pytest
from discord.ext import commands

from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord, P

pytestmark = pytest.mark.both_backends


async def test_sharded_bot_runs_a_slash_command_end_to_end_in_every_shards_guild(
    discord_server: FakeDiscord, community: Community, haven_runner: HavenRunner, backend: str
) -> None:
    server, c = discord_server, community
    count = 2 if backend == "postgres" else 1
    server.shards = count
    guilds = [(c.guild, c.moderator, c.facilitators_role)]
    if count == 2:
        shard = (c.guild.id >> 22) % count
        other = server.create_guild("Second Circle", shard=1 - shard)
        mods = server.create_role(other, "Mods", permissions=P.MANAGE_GUILD)
        guilds.append(
            (other, server.create_member(other, "mod-two", [mods]), server.create_role(other, "F"))
        )
    bot = await haven_runner.start(shard_count=count, shard_ids=f"0-{count - 1}")
    try:
        assert isinstance(bot, commands.AutoShardedBot)
        assert (bot.shard_count, bot.shard_ids, sorted(bot.shards)) == (
            count,
            list(range(count)),
            list(range(count)),
        )
        identified = [f["d"].get("shard") for f in server.gateway.received if f["op"] == 2]
        assert sorted(identified) == [[s, count] for s in range(count)]
        for guild, moderator, role in guilds:
            served = bot.get_guild(guild.id)
            assert served is not None and served.shard_id == (guild.id >> 22) % count
            saved = await server.invoke(guild, moderator, "setup roles", facilitator=role)
            assert saved.ephemeral and saved.content.startswith("Saved."), saved.content
            shown = await server.invoke(guild, moderator, "setup show")
            assert shown.ephemeral and f"<@&{role.id}>" in shown.text
            assert not saved.rejected and not shown.rejected
        stored = await haven_runner.store.query("SELECT guild_id FROM guild_settings")
        assert sorted(r[0] for r in stored) == sorted(g.id for g, _, _ in guilds)
    finally:
        await haven_runner.stop()
