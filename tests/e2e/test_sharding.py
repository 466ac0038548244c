"""Haven as a sharded client (SHARD_COUNT / SHARD_IDS) on the local Discord-compatible server."""

from __future__ import annotations

from discord.ext import commands

from tests.e2e.harness import Community, HavenRunner
from tests.fakediscord import FakeDiscord


async def test_one_shard_runs_a_slash_command_end_to_end(
    discord_server: FakeDiscord, community: Community, haven_runner: HavenRunner
) -> None:
    c = community
    bot = await haven_runner.start(shard_count=1, shard_ids="0")
    try:
        assert isinstance(bot, commands.AutoShardedBot)
        assert (bot.shard_count, bot.shard_ids, sorted(bot.shards)) == (1, [0], [0])
        identified = [f["d"].get("shard") for f in discord_server.gateway.received if f["op"] == 2]
        assert identified == [[0, 1]]
        assert bot.get_guild(c.guild.id) is not None

        saved = await discord_server.invoke(
            c.guild, c.moderator, "setup roles", facilitator=c.facilitators_role
        )
        assert saved.ephemeral and saved.content.startswith("Saved.")
        shown = await discord_server.invoke(c.guild, c.moderator, "setup show")
        assert shown.ephemeral and f"<@&{c.facilitators_role.id}>" in shown.text
        assert not saved.rejected and not shown.rejected
    finally:
        await haven_runner.stop()
