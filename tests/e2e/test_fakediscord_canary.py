"""Canary: the hook points and FakeDiscord's behaviour, with a minimal plain discord.py bot.

If discord.py is upgraded and these fail, the fake (not Haven) needs attention first.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.e2e.harness import point_discord_py_at, start_client, stop_client
from tests.fakediscord import ChannelType, FakeDiscord, Guild, InvocationError, Member, P


class Canary(discord.Client):
    """A tiny bot exercising every kind of interaction response."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(
            intents=intents,
            guild_ready_timeout=0.05,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.tree = app_commands.CommandTree(self)
        self.errors: list[tuple[int, int]] = []
        self.joined: list[int] = []
        self.resumed = asyncio.Event()
        self.clicks = 0
        _register(self)

    async def on_member_join(self, member: discord.Member) -> None:
        self.joined.append(member.id)

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before re-identifying; there is no identify limit here."""


class Feedback(discord.ui.Modal, title="Feedback"):
    body: discord.ui.TextInput[Feedback] = discord.ui.TextInput(
        label="What happened?", custom_id="body", max_length=50
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"got: {self.body.value}", ephemeral=True)


class Counter(discord.ui.View):
    def __init__(self, bot: Canary) -> None:
        super().__init__(timeout=None)
        self.bot = bot

    @discord.ui.button(label="Count", custom_id="count")
    async def count(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.bot.clicks += 1
        await interaction.response.edit_message(content=f"count {self.bot.clicks}", view=self)

    @discord.ui.button(label="Ask", custom_id="ask")
    async def ask(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(Feedback())


def _register(bot: Canary) -> None:
    tree = bot.tree

    @tree.command(description="Ephemeral pong")
    async def ping(interaction: discord.Interaction, n: app_commands.Range[int, 1, 5] = 1) -> None:
        await interaction.response.send_message(f"pong {n}", ephemeral=True)

    @tree.command(description="Say something in the channel")
    async def say(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text)

    @tree.command(description="A panel with buttons")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("count 0", view=Counter(bot))

    @tree.command(description="Open a modal")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    @tree.command(description="Defer, then follow up")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("done slowly", ephemeral=True)
        await interaction.followup.send("and one more", ephemeral=True)

    @tree.command(description="Answer twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first", ephemeral=True)
        try:
            await interaction.response.send_message("second")
        except discord.InteractionResponded:
            # discord.py guards itself; go around it to see what Discord says.
            try:
                await interaction.client.http.request(
                    discord.http.Route(
                        "POST",
                        "/interactions/{i}/{t}/callback",
                        i=interaction.id,
                        t=interaction.token,
                    ),
                    json={"type": 4, "data": {"content": "second"}},
                )
            except discord.HTTPException as exc:
                bot.errors.append((exc.status, exc.code))

    @tree.command(description="Follow up without answering")
    async def rude(interaction: discord.Interaction) -> None:
        try:
            await interaction.followup.send("too early")
        except discord.HTTPException as exc:
            bot.errors.append((exc.status, exc.code))
        await interaction.response.send_message("answered", ephemeral=True)

    @tree.command(description="Answer whenever")
    async def answer(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("late?", ephemeral=True)
        except discord.HTTPException as exc:
            bot.errors.append((exc.status, exc.code))

    meeting = app_commands.Group(name="meeting", description="Meetings")

    @meeting.command(name="schedule", description="Schedule one")
    @app_commands.choices(
        kind=[
            app_commands.Choice(name="NA", value="na"),
            app_commands.Choice(name="Family", value="family"),
        ]
    )
    async def schedule(
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 20],
        kind: app_commands.Choice[str],
        room: discord.TextChannel | None = None,
        host: discord.Member | None = None,
    ) -> None:
        where = room.mention if room else "nowhere"
        who = host.display_name if host else "nobody"
        await interaction.response.send_message(
            f"{title} ({kind.value}) in {where} by {who}", ephemeral=True
        )

    async def meeting_names(interaction: discord.Interaction, current: str) -> list[Any]:
        names = ["monday night", "morning light", "family circle"]
        return [app_commands.Choice(name=n, value=n) for n in names if current in n]

    @meeting.command(name="info", description="About one")
    @app_commands.autocomplete(meeting=meeting_names)
    async def info(interaction: discord.Interaction, meeting: str) -> None:
        await interaction.response.send_message(f"about {meeting}", ephemeral=True)

    tree.add_command(meeting)

    admin = app_commands.Group(
        name="admin",
        description="Admins",
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @admin.command(name="wipe", description="Dangerous")
    async def wipe(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("wiped", ephemeral=True)

    tree.add_command(admin)


@pytest.fixture
async def canary(discord_server: FakeDiscord) -> AsyncIterator[Canary]:
    point_discord_py_at(discord_server)
    bot = Canary()
    task = await start_client(bot, discord_server.token)
    await bot.tree.sync()
    try:
        yield bot
    finally:
        await stop_client(bot, task)


@pytest.fixture
def guild(discord_server: FakeDiscord) -> Guild:
    return discord_server.create_guild("Canary")


@pytest.fixture
def peer(discord_server: FakeDiscord, guild: Guild) -> Member:
    return discord_server.create_member(guild, "peer")


# -- login, ready, chunking ------------------------------------------------------------------


async def test_login_ready_and_member_chunking(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    assert canary.user is not None and canary.user.id == discord_server.state.bot_user.id
    assert canary.application_id == discord_server.state.application_id
    g = canary.get_guild(guild.id)
    assert g is not None and g.chunked
    assert {m.id for m in g.members} == set(guild.members)  # arrived by GUILD_MEMBERS_CHUNK
    assert g.me.guild_permissions.manage_channels
    routes = [(c.method, c.route) for c in discord_server.calls[:2]]
    assert routes == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
    assert discord_server.gateway.identifies == 1
    assert any(f["op"] == 8 for f in discord_server.gateway.received)  # REQUEST_GUILD_MEMBERS


async def test_member_join_is_dispatched(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    member = await discord_server.add_member(guild, "newcomer")
    await discord_server.wait_for(lambda: member.user.id in canary.joined)


# -- slash commands ---------------------------------------------------------------------------


async def test_sync_and_ephemeral_reply(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    (sync,) = discord_server.find_calls("PUT", "/applications/{application_id}/commands")
    assert {c["name"] for c in sync.json} >= {"ping", "meeting", "panel"}
    assert {"meeting schedule", "meeting info"} <= discord_server.command_names()

    result = await discord_server.invoke(guild, peer, "ping", n=3)
    assert result.type == 4 and result.ephemeral and result.content == "pong 3"
    assert result.message is not None and result.message.allowed_mentions == {"parse": []}
    # Ephemeral messages are never dispatched nor listed in the channel.
    assert not [e for e, _ in discord_server.gateway.dispatched if e == "MESSAGE_CREATE"]
    assert discord_server.messages_in(discord_server.general(guild)) == []


async def test_public_reply_is_dispatched_without_pings(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    result = await discord_server.invoke(guild, peer, "say", text="hi @everyone")
    assert not result.ephemeral
    (msg,) = discord_server.messages_in(discord_server.general(guild))
    assert msg.content == "hi @everyone" and not msg.mention_everyone
    await discord_server.wait_for(lambda: any(m.id == msg.id for m in canary.cached_messages))


async def test_subcommand_options_are_resolved(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    room = discord_server.create_channel(guild, "Monday Room")
    assert room.name == "monday-room"
    result = await discord_server.invoke(
        guild, peer, "meeting schedule", title="Monday", kind="na", room=room, host=peer
    )
    assert result.content == f"Monday (na) in <#{room.id}> by peer"


@pytest.mark.parametrize(
    ("command", "options", "error"),
    [
        ("nope", {}, "not a synced command"),
        ("meeting", {}, "needs a subcommand"),
        ("meeting schedule", {"title": "x"}, "required option 'kind'"),
        ("meeting schedule", {"title": "x", "kind": "mars"}, "not a choice"),
        ("meeting schedule", {"title": "x" * 21, "kind": "na"}, "at most 20"),
        ("ping", {"n": 9}, "must be ≤ 5"),
        ("ping", {"n": "3"}, "takes a number"),
        ("ping", {"m": 1}, "unknown option"),
    ],
)
async def test_invocations_are_validated_like_discord(
    discord_server: FakeDiscord,
    guild: Guild,
    peer: Member,
    canary: Canary,
    command: str,
    options: dict[str, Any],
    error: str,
) -> None:
    with pytest.raises(InvocationError, match=error):
        await discord_server.invoke(guild, peer, command, **options)


async def test_default_member_permissions_hide_commands(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    with pytest.raises(InvocationError, match="cannot see /admin"):
        await discord_server.invoke(guild, peer, "admin wipe")
    owner = guild.members[guild.owner_id]
    assert (await discord_server.invoke(guild, owner, "admin wipe")).content == "wiped"


async def test_autocomplete(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    choices = await discord_server.autocomplete(
        guild, peer, "meeting info", focused="meeting", meeting="mo"
    )
    assert [c["value"] for c in choices] == ["monday night", "morning light"]


# -- components and modals ------------------------------------------------------------------------


async def test_button_click_updates_the_message(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    panel = await discord_server.invoke(guild, peer, "panel")
    assert panel.custom_ids() == ["count", "ask"]
    click = await discord_server.click(panel, "count", peer)
    assert click.type == 7 and click.content == "count 1"
    assert panel.message is not None
    again = await discord_server.click(panel.message, "count", peer)
    assert again.content == "count 2" and panel.content == "count 2"
    with pytest.raises(InvocationError, match="no component"):
        await discord_server.click(panel, "missing", peer)


async def test_modal_from_command_and_from_button(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    opened = await discord_server.invoke(guild, peer, "feedback")
    assert opened.type == 9 and opened.modal is not None and opened.modal["title"] == "Feedback"
    sent = await discord_server.submit_modal(opened, peer, {"body": "kind words"})
    assert sent.ephemeral and sent.content == "got: kind words"
    with pytest.raises(InvocationError, match="at most|≤ 50"):
        await discord_server.submit_modal(opened, peer, {"body": "x" * 51})

    panel = await discord_server.invoke(guild, peer, "panel")
    asked = await discord_server.click(panel, "ask", peer)
    assert (await discord_server.submit_modal(asked, None, {"body": "b"})).content == "got: b"


# -- interaction semantics --------------------------------------------------------------------------


async def test_deferred_reply_is_replaced_by_the_first_followup(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    result = await discord_server.invoke(guild, peer, "slow")
    assert result.deferred and result.ephemeral
    assert result.content == "done slowly" and not result.message.loading  # type: ignore[union-attr]
    (extra,) = await result.wait_followups(1)
    assert extra.content == "and one more" and extra.ephemeral


async def test_second_callback_is_rejected_with_40060(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    result = await discord_server.invoke(guild, peer, "twice")
    await discord_server.wait_for(lambda: canary.errors == [(400, 40060)])
    assert result.content == "first"


async def test_followup_before_callback_is_10015(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    await discord_server.invoke(guild, peer, "rude")
    assert canary.errors == [(404, 10015)]


async def test_callback_after_three_seconds_is_10062(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    result = await discord_server.invoke(guild, peer, "answer", _age=3.5, _wait=False)
    await discord_server.wait_for(lambda: canary.errors == [(404, 10062)])
    assert result.rejected == [(404, 10062)]
    with pytest.raises(AssertionError, match="The application did not respond"):
        await result.wait(timeout=0)


# -- REST faults --------------------------------------------------------------------------------------


async def test_429_is_retried(discord_server: FakeDiscord, guild: Guild, canary: Canary) -> None:
    discord_server.inject("POST", "/channels/{channel_id}/messages", 429, retry_after=0.01)
    discord_server.inject(
        "POST", "/channels/{channel_id}/messages", 429, retry_after=0.01, global_=True
    )
    channel = canary.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("after two rate limits")
    calls = discord_server.find_calls("POST", "/channels/{channel_id}/messages")
    assert [c.status for c in calls] == [429, 429, 200]
    assert [m.content for m in discord_server.messages_in(channel.id)] == ["after two rate limits"]


async def test_403_and_closed_dms(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    discord_server.inject("POST", "/channels/{channel_id}/messages", 403, code=50013)
    channel = canary.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.send("nope")
    assert forbidden.value.code == 50013

    peer.user.dms_closed = True
    user = await canary.fetch_user(peer.user.id)
    with pytest.raises(discord.Forbidden) as closed:
        await user.send("hello")
    assert closed.value.code == 50007
    assert discord_server.dms_to(peer) == []


async def test_lowered_bot_permissions_are_enforced(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    discord_server.set_role_permissions(
        discord_server.bot_role(guild), P.VIEW_CHANNEL | P.SEND_MESSAGES
    )
    g = canary.get_guild(guild.id)
    assert g is not None
    await discord_server.wait_for(lambda: not g.me.guild_permissions.manage_channels)
    with pytest.raises(discord.Forbidden) as exc:
        await g.create_text_channel("nope")
    assert exc.value.code == 50013


async def test_timeout_fault_delays_the_answer(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    discord_server.inject("GET", "/guilds/{guild_id}/members/{user_id}", "timeout", delay=0.05)
    g = canary.get_guild(guild.id)
    assert g is not None
    member = await g.fetch_member(guild.owner_id)
    assert member.id == guild.owner_id
    (call,) = discord_server.find_calls("GET", "/guilds/{guild_id}/members/{user_id}")
    assert call.fault == "timeout"


async def test_nonce_deduplicates_a_resent_message(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    channel = canary.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("reminder", nonce="job-42")
    second = await channel.send("reminder", nonce="job-42")
    assert first.id == second.id
    assert len(discord_server.messages_in(channel.id)) == 1
    assert [m.id for m in discord_server.nonce_hits] == [first.id]


async def test_discord_validation_errors(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    g = canary.get_guild(guild.id)
    assert g is not None
    channel = g.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.code == 50035
    with pytest.raises(discord.HTTPException) as big_embed:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert big_embed.value.code == 50035

    old = await discord_server.send_user_message(
        discord_server.general(guild),
        guild.members[guild.owner_id],
        "old",
        when=discord_server.now() - timedelta(days=15),
    )
    new = await channel.send("new")
    with pytest.raises(discord.HTTPException) as bulk:
        await channel.delete_messages([discord.Object(old.id), new])
    assert bulk.value.code == 50034

    voice = discord_server.create_channel(guild, "Room", ChannelType.VOICE)
    await discord_server.wait_for(lambda: g.get_channel(voice.id) is not None)
    vc = g.get_channel(voice.id)
    assert isinstance(vc, discord.VoiceChannel)
    with pytest.raises(discord.HTTPException) as past:
        await g.create_scheduled_event(
            name="past",
            start_time=discord_server.now() - timedelta(hours=1),
            channel=vc,
            entity_type=discord.EntityType.voice,
            privacy_level=discord.PrivacyLevel.guild_only,
        )
    assert past.value.code == 50035
    event = await g.create_scheduled_event(
        name="future",
        start_time=discord_server.now() + timedelta(hours=1),
        channel=vc,
        entity_type=discord.EntityType.voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    await discord_server.wait_for(lambda: g.get_scheduled_event(event.id) is not None)


async def test_channels_overwrites_threads_webhooks_invites(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    g = canary.get_guild(guild.id)
    assert g is not None
    category = await g.create_category("Monday Meeting")
    text = await g.create_text_channel(
        "Monday Chat",
        category=category,
        overwrites={
            g.default_role: discord.PermissionOverwrite(view_channel=False),
            g.me: discord.PermissionOverwrite(view_channel=True),
        },
    )
    assert text.name == "monday-chat"
    member = g.get_member(peer.user.id)
    assert member is not None
    await text.set_permissions(member, view_channel=True)
    assert discord_server.permissions_for(guild.id, text.id, peer.user.id) & P.VIEW_CHANNEL
    owner = guild.members[guild.owner_id]
    assert discord_server.permissions_for(guild.id, text.id, owner.user.id) & P.VIEW_CHANNEL

    thread = await text.create_thread(name="talk to a moderator")
    await thread.add_user(member)
    hook = await text.create_webhook(name="Anonymous share")
    sent = await hook.send("shared", username="Blue Heron", wait=True)
    assert sent.author.name == "Blue Heron"
    invite = await text.create_invite(max_age=3600)
    assert invite.code in discord_server.state.invites
    await category.delete()
    await discord_server.wait_for(lambda: g.get_channel(category.id) is None)
    await discord_server.wait_for(lambda: text.category_id is None)


# -- gateway faults ------------------------------------------------------------------------------------


async def test_reconnect_resumes_and_replays_missed_events(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    assert await discord_server.gateway_reconnect() == 1
    role = discord_server.create_role(guild, "Added while away")
    await discord_server.wait_for(lambda: canary.resumed.is_set())
    g = canary.get_guild(guild.id)
    assert g is not None
    await discord_server.wait_for(lambda: g.get_role(role.id) is not None)
    assert discord_server.gateway.resumes == 1 and discord_server.gateway.identifies == 1
    assert (await discord_server.invoke(guild, peer, "ping")).content == "pong 1"


async def test_dropped_socket_resumes(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    assert await discord_server.gateway_drop() == 1
    await discord_server.wait_for(lambda: canary.resumed.is_set())
    assert (await discord_server.invoke(guild, peer, "ping")).content == "pong 1"


async def test_invalid_session_reidentifies(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    await discord_server.gateway_invalid_session(resumable=False)
    await discord_server.wait_for(lambda: discord_server.gateway.identifies == 2)
    await discord_server.wait_for(lambda: len(discord_server.gateway.live_sessions()) == 1)
    assert (await discord_server.invoke(guild, peer, "ping")).content == "pong 1"


# -- honesty checks ---------------------------------------------------------------------------------------


async def test_unmodelled_calls_are_caught(discord_server: FakeDiscord, canary: Canary) -> None:
    with pytest.raises(discord.NotFound):
        await canary.fetch_sticker(1)
    assert [c.path for c in discord_server.unmodelled] == ["/stickers/1"]
    discord_server.unmodelled.clear()  # the fixture would fail the test otherwise


async def test_network_guard_refuses_non_loopback(no_external_network: list[str]) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)
    with pytest.raises(OSError):
        socket.getaddrinfo("discord.com", 443)
    async with aiohttp.ClientSession() as session:
        for url in ("http://192.0.2.1/", "https://discord.com/api/v10/gateway"):
            with pytest.raises(aiohttp.ClientError):
                await session.get(url, timeout=aiohttp.ClientTimeout(total=1))
    assert len(no_external_network) == 4
    no_external_network.clear()


# -- more REST surface -----------------------------------------------------------------------------------


async def test_original_response_get_edit_delete(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    seen: list[discord.Interaction] = []

    @canary.tree.command(description="Remember the interaction")
    async def keep(interaction: discord.Interaction) -> None:
        seen.append(interaction)
        await interaction.response.send_message("v1")

    await canary.tree.sync()
    result = await discord_server.invoke(guild, peer, "keep")
    (interaction,) = seen
    original = await interaction.original_response()
    assert original.content == "v1" and original.id == result.original_id
    await interaction.edit_original_response(content="v2")
    assert result.content == "v2" and result.message is not None and result.message.edits == 1
    await interaction.delete_original_response()
    assert result.message.deleted
    assert discord_server.messages_in(discord_server.general(guild)) == []
    events = [e for e, _ in discord_server.gateway.dispatched if e.startswith("MESSAGE_")]
    assert events == ["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"]

    discord_server.advance(16 * 60)  # interaction tokens live 15 minutes
    with pytest.raises(discord.HTTPException) as expired:
        await interaction.followup.send("too late")
    assert expired.value.code == 50027


async def test_messages_history_edit_delete(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    channel = canary.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    posted = [await channel.send(f"m{i}") for i in range(5)]
    theirs = await discord_server.send_user_message(discord_server.general(guild), peer, "hello")
    history = [m.content async for m in channel.history(limit=3)]
    assert history == ["hello", "m4", "m3"]
    older = [m.content async for m in channel.history(limit=10, before=posted[2])]
    assert older == ["m1", "m0"]
    fetched = await channel.fetch_message(posted[0].id)
    await fetched.edit(content="edited")
    assert discord_server.state.messages[posted[0].id].content == "edited"
    with pytest.raises(discord.Forbidden) as not_ours:
        await (await channel.fetch_message(theirs.id)).edit(content="x")
    assert not_ours.value.code == 50005
    await posted[1].delete()
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(posted[1].id)


async def test_scheduled_event_edit_and_delete(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    g = canary.get_guild(guild.id)
    assert g is not None
    start = discord_server.now() + timedelta(days=1)
    event = await g.create_scheduled_event(
        name="Monday meeting",
        start_time=start,
        end_time=start + timedelta(hours=1),
        entity_type=discord.EntityType.external,
        location="Room 1",
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    moved = await event.edit(
        start_time=start + timedelta(hours=2), end_time=start + timedelta(hours=3)
    )
    stored = discord_server.state.events[event.id]
    assert moved.start_time == stored.scheduled_start_time == start + timedelta(hours=2)
    with pytest.raises(discord.HTTPException) as past:
        await event.edit(start_time=discord_server.now() - timedelta(minutes=5))
    assert past.value.code == 50035
    await event.delete()
    assert stored.deleted
    await discord_server.wait_for(lambda: g.get_scheduled_event(event.id) is None)


async def test_server_errors_and_global_rate_limit(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    channel = canary.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    discord_server.inject("POST", "/channels/{channel_id}/messages", 503)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("during an outage")
    with pytest.raises(ValueError, match="no modelled route"):
        discord_server.inject("GET", "/no/such/route", 500)

    discord_server.global_limit_per_second = 3
    discord_server.global_limit_window = 0.05
    await asyncio.gather(*(channel.send(f"burst {i}") for i in range(5)))
    limited = discord_server.find_calls(status=429)
    assert limited and all(c.fault == "global" for c in limited)
    assert len(discord_server.messages_in(channel.id)) == 5


async def test_interaction_answers_are_not_bound_to_the_global_limit(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    # Discord's docs: interaction endpoints are not bound to the bot's global rate limit.
    discord_server.global_limit_per_second = 1
    discord_server.global_limit_window = 60
    await asyncio.gather(*(discord_server.invoke(guild, peer, "slow") for _ in range(3)))
    assert not discord_server.find_calls(status=429)


async def test_resumable_invalid_session_resumes(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    await discord_server.gateway_invalid_session(resumable=True)
    await discord_server.wait_for(lambda: canary.resumed.is_set())
    assert discord_server.gateway.identifies == 1 and discord_server.gateway.resumes == 1


async def test_auto_sharded_client_uses_gateway_bot(
    discord_server: FakeDiscord, guild: Guild
) -> None:
    point_discord_py_at(discord_server)
    client = discord.AutoShardedClient(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    task = await start_client(client, discord_server.token)
    try:
        assert client.get_guild(guild.id) is not None
        assert discord_server.find_calls("GET", "/gateway/bot")
    finally:
        await stop_client(client, task)


async def test_voice_states_and_member_moves(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    room = discord_server.create_channel(guild, "Meeting Voice", "voice")
    await discord_server.join_voice(guild, peer, room)
    g = canary.get_guild(guild.id)
    assert g is not None
    await discord_server.wait_for(
        lambda: (
            (m := g.get_member(peer.user.id)) is not None
            and m.voice is not None
            and m.voice.channel is not None
            and m.voice.channel.id == room.id
        )
    )
    member = g.get_member(peer.user.id)
    assert member is not None
    await member.move_to(None)
    assert discord_server.voice_channel_of(guild, peer) is None
    await discord_server.wait_for(lambda: member.voice is None or member.voice.channel is None)
    with pytest.raises(discord.HTTPException) as not_in_voice:
        await member.move_to(None)
    assert not_in_voice.value.code == 40032


async def test_roles_pins_typing_and_files(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    g = canary.get_guild(guild.id)
    assert g is not None
    role = await g.create_role(name="Newcomer")
    member = g.get_member(peer.user.id)
    assert member is not None
    await member.add_roles(role)
    assert role.id in guild.members[peer.user.id].roles
    await role.edit(name="Welcomed")
    assert guild.roles[role.id].name == "Welcomed"
    too_high = discord_server.create_role(guild, "Admins", position=5)
    with pytest.raises(discord.Forbidden):
        await member.add_roles(discord.Object(too_high.id))
    await role.delete()
    assert role.id not in guild.roles

    channel = g.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    async with channel.typing():
        pass
    sent = await channel.send(
        "calendar", file=discord.File(io.BytesIO(b"BEGIN:VCALENDAR"), "m.ics")
    )
    stored = discord_server.state.messages[sent.id]
    assert stored.files == {"m.ics": b"BEGIN:VCALENDAR"}
    assert await sent.attachments[0].read() == b"BEGIN:VCALENDAR"
    await sent.pin()
    assert [m.id async for m in channel.pins()] == [sent.id]


async def test_dms_need_a_shared_server(
    discord_server: FakeDiscord, guild: Guild, peer: Member, canary: Canary
) -> None:
    user = await canary.fetch_user(peer.user.id)
    await user.send("hello")
    assert [m.content for m in discord_server.dms_to(peer)] == ["hello"]
    await discord_server.remove_member(guild, peer)
    with pytest.raises(discord.Forbidden) as gone:
        await user.send("still there?")
    assert gone.value.code == 50007


async def test_edits_keep_what_they_do_not_mention(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    channel = canary.get_channel(discord_server.general(guild).id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("v1", embed=discord.Embed(title="card"))
    await sent.edit(content="v2")
    stored = discord_server.state.messages[sent.id]
    assert stored.content == "v2" and [e["title"] for e in stored.embeds] == ["card"]
    assert stored.embeds[0]["type"] == "rich"
    await sent.edit(embed=None)
    assert stored.embeds == [] and stored.edited_at is not None


async def test_privileged_intent_not_enabled_is_refused(discord_server: FakeDiscord) -> None:
    discord_server.privileged_intents = 0  # e.g. Server Members Intent off in the portal
    point_discord_py_at(discord_server)
    client = Canary()
    try:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await start_client(client, discord_server.token)
    finally:
        await client.close()


async def test_hanging_route_times_the_client_out(
    discord_server: FakeDiscord, guild: Guild, canary: Canary
) -> None:
    discord_server.inject("GET", "/guilds/{guild_id}/members/{user_id}", "hang")
    g = canary.get_guild(guild.id)
    assert g is not None
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(g.fetch_member(guild.owner_id), timeout=0.1)
    assert (await g.fetch_member(guild.owner_id)).id == guild.owner_id  # the fault was used up
