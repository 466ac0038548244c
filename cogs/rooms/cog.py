"""/room: a meeting's room (category, text and voice or stage channel), its lifecycle and moderation."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.bus import MEETING_CHANGED
from bot.errors import UserFacingError
from bot.jobs import MAX_HANDLER_ATTEMPTS, Job
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import HavenView, reply_ephemeral
from bot.services.guilds import GuildSettings
from bot.services.meetings import Access, Kind, Meeting
from bot.services.rooms import (
    CLOSED,
    JOB_CLOSE,
    JOB_LIFT,
    JOB_OPEN,
    OPEN,
    RoomLink,
    RoomService,
    RoomWindow,
    validate_slowmode,
)
from cogs._kit import (
    COLOR,
    ensure_meeting_manager,
    escape,
    fit_embed,
    meeting_autocomplete,
    modlog_embed,
    requires,
    resolve_meeting,
    safe_title,
    truncate,
    ts,
    ts_pair,
)

log = logging.getLogger(__name__)

P = discord.Permissions

# Who may see and join a room at all (the audience: @everyone, the member or the family role).
AUDIENCE_BASE = P(view_channel=True, read_message_history=True, connect=True)
# What opening a room allows its audience, and closing denies, per channel kind.
TEXT_SPEAKING = P(
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    create_private_threads=True,
    add_reactions=True,
)
VOICE_SPEAKING = P(send_messages=True, speak=True)
STAGE_SPEAKING = P(send_messages=True, speak=True, request_to_speak=True)
# Facilitators and moderators always run the room.
STAFF_ALLOW = P(
    view_channel=True,
    read_message_history=True,
    send_messages=True,
    embed_links=True,
    connect=True,
    speak=True,
    manage_messages=True,
    mute_members=True,
    move_members=True,
)
# The bot itself, whatever the audience's overwrites say.
BOT_ALLOW = P(
    view_channel=True,
    read_message_history=True,
    send_messages=True,
    embed_links=True,
    manage_messages=True,
    connect=True,
)
# A closed meeting's room is hidden from @everyone.
HIDDEN = P(view_channel=True, connect=True)
# A person removed from a room; the exact shape marks Haven's removals (lifted automatically).
REMOVAL_DENY = P(view_channel=True, connect=True, send_messages=True, speak=True)

ALL_ROOM_BITS = (
    AUDIENCE_BASE.value
    | TEXT_SPEAKING.value
    | STAGE_SPEAKING.value
    | STAFF_ALLOW.value
    | BOT_ALLOW.value
    | REMOVAL_DENY.value
)
CREATE_NEEDS = P(manage_channels=True, manage_roles=True).value | ALL_ROOM_BITS
STATE_NEEDS = P(manage_roles=True).value | ALL_ROOM_BITS
SLOWMODE_NEEDS = P(manage_channels=True).value
DELETE_NEEDS = P(manage_channels=True).value

ANONYMITY = "Who you see here and what you hear here stays here."
DISCORD_SHOWS = (
    "Discord shows who is in this room to everyone in it; Haven never records who attends."
)
CHECKIN_ID = "haven:checkin:{meeting_id}:{occurrence}"
BULK_MAX = 100
BULK_AGE = timedelta(days=14)

_PERMISSION_LABELS = {
    "manage_roles": "Manage Roles (Manage Permissions)",
    "read_message_history": "Read Message History",
    "view_channel": "View Channels",
    "send_messages_in_threads": "Send Messages in Threads",
}

MISSING_PERMISSION = (
    "Discord refused: I'm missing a permission for that in this room (error 50013). Ask a "
    "moderator to give my role Manage Channels and Manage Roles, and check the room's channels "
    "don't deny them to me, then try again."
)


def permission_names(value: int) -> list[str]:
    """Human names of the permission bits in value, in Discord's order."""
    names = []
    for name, flag in P.VALID_FLAGS.items():
        if value & flag and flag & (flag - 1) == 0:
            names.append(_PERMISSION_LABELS.get(name, name.replace("_", " ").title()))
    return names


def missing_bot_permissions(guild: discord.Guild, needed: int) -> list[str]:
    """What the bot lacks at guild level out of `needed` (empty if it has all)."""
    have = guild.me.guild_permissions
    if have.administrator:
        return []
    missing = needed & ~have.value
    first = P(manage_channels=True, manage_roles=True).value
    return permission_names(missing & first) + permission_names(missing & ~first)


def require_bot_permissions(guild: discord.Guild, needed: int) -> None:
    """Refuse before doing anything when the bot lacks a permission, naming each one."""
    missing = missing_bot_permissions(guild, needed)
    if missing:
        raise UserFacingError(
            f"I can't do that yet: I'm missing these server permissions: {', '.join(missing)}. "
            "Ask a moderator to grant them to my role, then try again. Nothing was changed."
        )


def _merge(
    ows: dict[Any, discord.PermissionOverwrite], target: Any, allow: P, deny: P | None = None
) -> None:
    current = ows.get(target)
    cur_allow, cur_deny = current.pair() if current is not None else (P.none(), P.none())
    new_allow = P(cur_allow.value | allow.value)
    new_deny = P((cur_deny.value | (deny.value if deny else 0)) & ~new_allow.value)
    ows[target] = discord.PermissionOverwrite.from_pair(new_allow, new_deny)


def audience_role(guild: discord.Guild, meeting: Meeting, settings: GuildSettings) -> discord.Role:
    """The role a meeting's room is for: @everyone, the member role or the family role."""
    if meeting.access is Access.OPEN:
        return guild.default_role
    if meeting.kind is Kind.FAMILY:
        role_id, option, label = settings.family_role_id, "family", "family"
    else:
        role_id, option, label = settings.member_role_id, "member", "member"
    role = guild.get_role(role_id) if role_id else None
    if role is None:
        raise UserFacingError(
            f"This meeting is closed, so its room is for the {label} role, and none is set. "
            f"Set it with `/setup roles {option}:` first."
        )
    return role


def speaking_bits(channel_kind: str) -> P:
    """What opening allows (and closing denies) on one kind of room channel."""
    if channel_kind == "text":
        return TEXT_SPEAKING
    if channel_kind == "stage":
        return STAGE_SPEAKING
    return VOICE_SPEAKING


def audience_overwrite(
    channel_kind: str, is_open: bool, locked: bool = False
) -> discord.PermissionOverwrite:
    """The audience's overwrite on a room channel in a state."""
    allow = P(AUDIENCE_BASE.value)
    deny = P.none()
    if channel_kind != "category":
        speaking = speaking_bits(channel_kind)
        if is_open:
            allow = P(allow.value | speaking.value)
        else:
            deny = P(speaking.value)
    if locked and channel_kind in ("voice", "stage"):
        allow = P(allow.value & ~P(connect=True).value)
        deny = P(deny.value | P(connect=True).value)
    return discord.PermissionOverwrite.from_pair(allow, deny)


def room_overwrites(
    guild: discord.Guild,
    meeting: Meeting,
    settings: GuildSettings,
    channel_kind: str,
    is_open: bool,
) -> dict[Any, discord.PermissionOverwrite]:
    """Every overwrite of one room channel: audience, hidden @everyone, staff roles, the bot."""
    ows: dict[Any, discord.PermissionOverwrite] = {}
    audience = audience_role(guild, meeting, settings)
    if not audience.is_default():
        _merge(ows, guild.default_role, P.none(), HIDDEN)
    ows[audience] = audience_overwrite(channel_kind, is_open)
    for role_id in (settings.facilitator_role_id, settings.moderator_role_id):
        role = guild.get_role(role_id) if role_id else None
        if role is not None and not role.is_default():
            _merge(ows, role, STAFF_ALLOW)
    _merge(ows, guild.me, BOT_ALLOW)
    return ows


def occurrence_nonce(key: str) -> str:
    """A Discord message nonce (at most 25 characters) derived from a job's key."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]


def _nonce(key: str | None) -> dict[str, Any]:
    return {"nonce": occurrence_nonce(key)} if key else {}


def opening_card(meeting: Meeting, window: RoomWindow) -> tuple[discord.Embed, HavenView]:
    """The opening card: format text, anonymity statement, check-in button, crisis pointer."""
    opening = meeting.opening_text.strip()
    description = (
        discord.utils.escape_mentions(opening)
        if opening
        else "Welcome. Take a seat; the meeting starts soon."
    )
    embed = discord.Embed(
        title=truncate(f"{safe_title(meeting.title)}: the room is open", 256),
        description=description,
        colour=COLOR,
    )
    if meeting.format_labels:
        embed.add_field(name="Format", value=", ".join(meeting.format_labels), inline=False)
    embed.add_field(name="Starts", value=ts_pair(window.occurrence.start), inline=True)
    embed.add_field(name="Room closes", value=ts(window.closes_at, "t"), inline=True)
    embed.add_field(
        name="What happens here stays here", value=f"{ANONYMITY}\n{DISCORD_SHOWS}", inline=False
    )
    embed.add_field(
        name="Check in",
        value="Press **Check in** to be counted. It is anonymous: only the number is kept.",
        inline=False,
    )
    embed.add_field(
        name="Need help now?",
        value="Use `/crisis` at any time: it answers only you, with crisis lines for your region.",
        inline=False,
    )
    view = HavenView(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Check in",
            style=discord.ButtonStyle.success,
            custom_id=CHECKIN_ID.format(meeting_id=meeting.id, occurrence=window.key),
        )
    )
    # Only rendered here: the attendance feature's DynamicItem answers the button.
    view.stop()
    return fit_embed(embed), view


class DeleteRoomView(HavenView):
    """Confirm or cancel deleting a room; only the person who asked can press."""

    def __init__(self, cog: RoomCog, meeting: Meeting, link: RoomLink, user_id: int) -> None:
        super().__init__(timeout=120)
        self.cog = cog
        self.meeting = meeting
        self.link = link
        self.user_id = user_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the requester may confirm."""
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Delete the room", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Delete the channels and unlink them."""
        self.stop()
        await interaction.response.edit_message(content="Deleting the room…", view=None)
        try:
            await self.cog.delete_room(self.link)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await self.cog.modlog(
            self.link.guild_id, "Room deleted", interaction.user, self.meeting, self.link
        )
        try:
            await interaction.edit_original_response(
                content=f"The room of **{safe_title(self.meeting.title)}** was deleted."
            )
        except discord.HTTPException:
            log.debug("the confirmation went with the deleted room")

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Keep the room."""
        self.stop()
        await interaction.response.edit_message(content="The room was kept.", view=None)


class RoomCog(
    commands.GroupCog, name="room", description="A meeting's room: create and moderate it"
):
    """Room commands and the room lifecycle jobs."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        self.rooms: RoomService = bot.services.rooms
        self._synced_at_start = False
        super().__init__()

    async def cog_load(self) -> None:
        """Register job handlers, the reconciler and the meeting-change subscriber."""
        jobs = self.bot.services.jobs
        jobs.register(JOB_OPEN, self._open_jobs)
        jobs.register(JOB_CLOSE, self._close_jobs)
        jobs.register(JOB_LIFT, self._lift_jobs)
        jobs.add_reconciler(self.reconcile)
        self.bot.services.events.subscribe(MEETING_CHANGED, self.on_meeting_changed)

    async def cog_unload(self) -> None:
        """Stop reacting to meeting changes."""
        self.bot.services.events.unsubscribe(MEETING_CHANGED, self.on_meeting_changed)

    # -- Discord lookups -------------------------------------------------------------------

    def _channels(self, link: RoomLink) -> tuple[discord.Guild | None, Any, Any, Any]:
        guild = self.bot.get_guild(link.guild_id)
        if guild is None:
            return None, None, None, None
        return (
            guild,
            guild.get_channel(link.category_id),
            guild.get_channel(link.text_channel_id),
            guild.get_channel(link.voice_channel_id),
        )

    async def modlog(
        self,
        guild_id: int,
        title: str,
        actor: discord.abc.User | None,
        meeting: Meeting | None,
        link: RoomLink | None,
        **fields: str,
    ) -> None:
        """One compact mod-log entry for a room action (never who attended)."""
        room = safe_title(meeting.title) if meeting else "a deleted meeting"
        if link is not None:
            room += f" (<#{link.text_channel_id}>)"
        extra: dict[str, str] = {}
        if actor is None:
            extra["by"] = "Haven, on schedule"
        await self.bot.post_modlog(
            guild_id, modlog_embed(title, actor, self.bot.clock.now(), **extra, room=room, **fields)
        )

    # -- state -----------------------------------------------------------------------------

    async def apply_state(
        self,
        meeting: Meeting,
        link: RoomLink,
        is_open: bool,
        *,
        unlock: bool = False,
        force: bool = False,
    ) -> bool:
        """Set the audience's send/speak overwrites for a state; True if anything changed."""
        # Without `force` a channel whose cached overwrite already matches is left alone (start,
        # meeting edits); transitions force the write because the cache may lag behind.
        guild, _, text, voice = self._channels(link)
        if guild is None or text is None or voice is None:
            log.warning("room channels of meeting %d are missing", meeting.id)
            return False
        settings = await self.bot.services.guilds.get(guild.id)
        audience = audience_role(guild, meeting, settings)
        changed = False
        voice_kind = "stage" if isinstance(voice, discord.StageChannel) else "voice"
        for channel, kind in ((text, "text"), (voice, voice_kind)):
            current = channel.overwrites_for(audience)
            locked = kind != "text" and current.connect is False and not unlock
            wanted = audience_overwrite(kind, is_open, locked)
            if force or current.pair() != wanted.pair():
                await channel.set_permissions(
                    audience,
                    overwrite=wanted,
                    reason="Haven: room " + ("opened" if is_open else "closed"),
                )
                changed = True
        return changed

    async def open_room(
        self,
        meeting: Meeting,
        link: RoomLink,
        window: RoomWindow,
        *,
        actor: discord.abc.User | None,
        nonce_key: str | None = None,
    ) -> None:
        """Allow sending and speaking, post the opening card once per occurrence, tell others."""
        await self.apply_state(meeting, link, True, unlock=True, force=True)
        _, _, text, _ = self._channels(link)
        entry = await self.rooms.ledger(meeting.id, window.key)
        already_open = entry is not None and entry.opened_at is not None and entry.closed_at is None
        # A scheduled opening of a room that is already open (opened by hand earlier, or the job
        # replayed after a crash) only re-applies the permissions: nothing to announce twice.
        replay = actor is None and already_open
        if isinstance(text, discord.abc.Messageable) and not replay:
            if entry is None or entry.opened_at is None:
                embed, view = opening_card(meeting, window)
                await text.send(embed=embed, view=view, **_nonce(nonce_key))
            else:
                await text.send("The room is open again.")
        await self.rooms.record_opened(meeting, window.key)
        if replay:
            return
        await self.modlog(
            link.guild_id,
            "Room opened",
            actor,
            meeting,
            link,
            occurrence=ts(window.occurrence.start),
        )

    async def close_room(
        self,
        meeting: Meeting,
        link: RoomLink,
        key: str,
        *,
        actor: discord.abc.User | None,
        nonce_key: str | None = None,
    ) -> None:
        """Deny sending and speaking; once per occurrence: clear chat if asked, post a closing line."""
        await self.apply_state(meeting, link, False, force=True)
        entry = await self.rooms.ledger(meeting.id, key)
        if entry is not None and entry.closed_at is not None:
            return
        was_open = entry is not None and entry.opened_at is not None
        policy = await self.rooms.policy(meeting)
        _, _, text, _ = self._channels(link)
        cleared = False
        if was_open and policy.clear_chat and isinstance(text, discord.TextChannel):
            window = await self.rooms.window(meeting, key)
            starts = [
                t
                for t in (entry.opened_at if entry else None, window.opens_at if window else None)
                if t
            ]
            await self.clear_messages(
                text, min(starts) - timedelta(seconds=1), self.bot.clock.now()
            )
            cleared = True
        if was_open and isinstance(text, discord.abc.Messageable):
            state = await self.rooms.state(meeting)
            line = "The room is closed. Thank you for being here."
            if state.window is not None and not state.open:
                line += f" Next meeting: {ts_pair(state.window.occurrence.start)}."
            if cleared:
                line += " Messages from this meeting were cleared for confidentiality."
            await text.send(line, **_nonce(nonce_key))
        await self.rooms.record_closed(meeting, key, cleared=cleared, announce=was_open)
        if was_open or actor is not None:
            await self.modlog(link.guild_id, "Room closed", actor, meeting, link, occurrence=key)

    async def clear_messages(
        self, channel: discord.TextChannel, after: datetime, before: datetime
    ) -> int:
        """Delete an occurrence's messages: bulk under 14 days in chunks of 100, older one by one."""
        recent: list[discord.Message] = []
        old: list[discord.Message] = []
        cutoff = self.bot.clock.now() - BULK_AGE + timedelta(minutes=1)
        async for message in channel.history(limit=None, after=after, before=before):
            if not message.type.is_deletable() or message.pinned:
                continue
            (recent if message.created_at > cutoff else old).append(message)
        for i in range(0, len(recent), BULK_MAX):
            chunk = recent[i : i + BULK_MAX]
            if len(chunk) == 1:
                await chunk[0].delete()
            else:
                await channel.delete_messages(chunk, reason="Haven: room chat cleared after close")
        for message in old:
            try:
                await message.delete()
            except discord.NotFound:
                pass
        return len(recent) + len(old)

    async def lift_removals(self, link: RoomLink, keep_user_ids: Iterable[int]) -> int:
        """Remove Haven's removal overwrites from the room, except for `keep_user_ids`."""
        keep = set(keep_user_ids)
        guild, category, text, voice = self._channels(link)
        lifted: set[int] = set()
        for channel in (category, text, voice):
            if channel is None:
                continue
            for target, ow in list(channel.overwrites.items()):
                if isinstance(target, discord.Role) or target.id in keep:
                    continue
                if isinstance(target, discord.Object) and target.type is not discord.Member:
                    continue
                allow, deny = ow.pair()
                if allow.value != 0 or deny.value != REMOVAL_DENY.value:
                    continue
                try:
                    await self.bot.http.delete_channel_permissions(
                        channel.id, target.id, reason="Haven: room removal lifted"
                    )
                except discord.NotFound:
                    pass
                lifted.add(target.id)
        return len(lifted)

    async def delete_room(self, link: RoomLink) -> None:
        """Delete a room's channels (voice, text, then category) and unlink them."""
        _, category, text, voice = self._channels(link)
        for channel in (voice, text, category):
            if channel is None:
                continue
            try:
                await channel.delete(reason="Haven: room deleted")
            except discord.NotFound:
                pass
        await self.rooms.forget_link(link.meeting_id)

    # -- jobs ------------------------------------------------------------------------------

    async def _run_jobs(self, jobs: list[Job], action: Any) -> None:
        for job in jobs:
            try:
                await action(job)
            except Exception as exc:
                status = getattr(exc, "status", None)
                log.warning(
                    "room job %s failed (%s, HTTP %s)", job.kind, type(exc).__name__, status
                )
                if isinstance(exc, discord.Forbidden) and job.attempts == 0:
                    await self.modlog(
                        job.guild_id,
                        "Room action failed",
                        None,
                        await self.bot.services.meetings.get(job.meeting_id),
                        await self.rooms.link(job.meeting_id),
                        action=job.kind.replace("room_", ""),
                        problem=MISSING_PERMISSION,
                    )
                if job.attempts + 1 >= MAX_HANDLER_ATTEMPTS:
                    await self.bot.services.jobs.fail(job, f"{type(exc).__name__} {status or ''}")
                else:
                    await self.bot.services.jobs.retry(
                        job, self.bot.clock.now() + timedelta(minutes=1), type(exc).__name__
                    )
                continue
            await self.rooms.finish(job)

    async def _job_room(self, job: Job) -> tuple[Meeting, RoomLink] | None:
        meeting = await self.bot.services.meetings.get(job.meeting_id)
        link = await self.rooms.link(job.meeting_id)
        if meeting is None or link is None:
            return None
        return meeting, link

    async def _open_jobs(self, jobs: list[Job]) -> None:
        await self._run_jobs(jobs, self._open_job)

    async def _open_job(self, job: Job) -> None:
        found = await self._job_room(job)
        if found is None:
            return
        meeting, link = found
        state = await self.rooms.state(meeting)
        # Re-derive: the occurrence may be over, cancelled, moved or closed by hand.
        if not state.open or state.key != job.occurrence or state.window is None:
            return
        await self.open_room(meeting, link, state.window, actor=None, nonce_key=job.key)

    async def _close_jobs(self, jobs: list[Job]) -> None:
        await self._run_jobs(jobs, self._close_job)

    async def _close_job(self, job: Job) -> None:
        found = await self._job_room(job)
        if found is None:
            return
        meeting, link = found
        state = await self.rooms.state(meeting)
        if state.open and state.key == job.occurrence:
            return  # moved later or opened again by hand: a new close job exists
        await self.close_room(meeting, link, job.occurrence, actor=None, nonce_key=job.key)
        await self.rooms.schedule(meeting.id)

    async def _lift_jobs(self, jobs: list[Job]) -> None:
        await self._run_jobs(jobs, self._lift_job)

    async def _lift_job(self, job: Job) -> None:
        meeting = await self.bot.services.meetings.get(job.meeting_id)
        link = await self.rooms.link(job.meeting_id)
        if link is None:
            return
        now = self.bot.clock.now()
        removals = await self.rooms.removals(job.meeting_id)
        due = [r for r in removals if r.until <= now]
        active = {r.user_id for r in removals if r.until > now}
        count = await self.lift_removals(link, active)
        await self.rooms.delete_removals(r.id for r in due)
        if count or due:
            members = ", ".join(f"<@{r.user_id}>" for r in due) or "—"
            await self.modlog(
                link.guild_id, "Room removal lifted", None, meeting, link, member=members
            )

    async def reconcile(self) -> None:
        """Materialise room jobs; at start, also set each room to its derived state."""
        await self.rooms.schedule_all()
        if self._synced_at_start:
            return
        self._synced_at_start = True
        for link in await self.rooms.links():
            try:
                meeting = await self.bot.services.meetings.get(link.meeting_id)
                if meeting is None:
                    await self.rooms.forget_link(link.meeting_id)
                    continue
                state = await self.rooms.state(meeting)
                await self.apply_state(meeting, link, state.open)
                if state.open and state.key is not None:
                    entry = await self.rooms.ledger(meeting.id, state.key)
                    if entry is not None and entry.opened_at is not None:
                        await self.rooms.announce_open(meeting, state.key)
            except Exception as exc:
                log.warning("could not sync a room at start (%s)", type(exc).__name__)

    async def on_meeting_changed(
        self, meeting_id: int, guild_id: int, change: str, detail: str = "", **_: Any
    ) -> None:
        """Follow meeting changes: reschedule the room, or delete or release it with the meeting."""
        link = await self.rooms.link(meeting_id)
        if link is None:
            return
        if change == "deleted":
            if detail == "room:delete":
                # One action, one entry: the meeting's "Meeting deleted" names who and "room: deleted".
                await self.delete_room(link)
            else:
                await self.lift_removals(link, ())
                await self.rooms.forget_link(meeting_id)
            return
        meeting = await self.bot.services.meetings.get(meeting_id)
        if meeting is None:
            return
        await self.rooms.schedule(meeting_id)
        state = await self.rooms.state(meeting)
        fields = set(detail.removeprefix("fields:").split(",")) if change == "edited" else set()
        if fields & {"access", "kind"}:
            await self.rebuild_overwrites(meeting, link, state.open)
        else:
            await self.apply_state(meeting, link, state.open)
        if "title" in fields:
            category = self._channels(link)[1]
            if category is not None:
                await category.edit(name=truncate(meeting.title.strip() or "Meeting", 100))

    async def rebuild_overwrites(self, meeting: Meeting, link: RoomLink, is_open: bool) -> None:
        """Rewrite every overwrite from the meeting's access, keeping removals."""
        guild, category, text, voice = self._channels(link)
        if guild is None:
            return
        settings = await self.bot.services.guilds.get(guild.id)
        voice_kind = "stage" if isinstance(voice, discord.StageChannel) else "voice"
        for channel, kind in ((category, "category"), (text, "text"), (voice, voice_kind)):
            if channel is None:
                continue
            wanted = room_overwrites(guild, meeting, settings, kind, is_open)
            for target, ow in channel.overwrites.items():
                allow, deny = ow.pair()
                if not isinstance(target, discord.Role) and (allow.value, deny.value) == (
                    0,
                    REMOVAL_DENY.value,
                ):
                    wanted[target] = ow
            await channel.edit(overwrites=wanted, reason="Haven: meeting access changed")

    # -- command helpers -------------------------------------------------------------------

    async def _target(
        self, interaction: discord.Interaction, meeting_value: str | None
    ) -> tuple[Meeting, RoomLink | None]:
        """The meeting named, or the one whose room this channel is in; managers only."""
        assert interaction.guild_id is not None
        if meeting_value:
            meeting = await resolve_meeting(interaction, meeting_value)
            link = await self.rooms.link(meeting.id)
        else:
            channel = interaction.channel
            ids = [getattr(channel, "id", 0), getattr(channel, "category_id", None) or 0]
            parent = getattr(channel, "parent", None)
            if parent is not None:
                ids += [parent.id, getattr(parent, "category_id", None) or 0]
            link = await self.rooms.link_for_channels(interaction.guild_id, ids)
            found = (
                await self.bot.services.meetings.get(link.meeting_id, interaction.guild_id)
                if link
                else None
            )
            if found is None:
                raise UserFacingError(
                    "Use this inside a meeting's room, or name the meeting with `meeting:`."
                )
            meeting = found
        await ensure_meeting_manager(interaction, meeting)
        return meeting, link

    async def _room(
        self, interaction: discord.Interaction, meeting_value: str | None, needs: int
    ) -> tuple[Meeting, RoomLink, discord.Guild]:
        meeting, link = await self._target(interaction, meeting_value)
        if link is None:
            raise UserFacingError(
                f"**{safe_title(meeting.title)}** has no room yet. Create one with `/room create`."
            )
        guild = interaction.guild
        assert guild is not None
        require_bot_permissions(guild, needs)
        _, _, text, voice = self._channels(link)
        if text is None or voice is None:
            raise UserFacingError(
                "This room's channels were deleted in Discord. Use `/room delete` to unlink it, "
                "then `/room create` to make a new one."
            )
        return meeting, link, guild

    # -- commands --------------------------------------------------------------------------

    @app_commands.command(
        name="create", description="Create a meeting's room: a category with text and voice"
    )
    @app_commands.describe(
        meeting="The meeting (start typing its title)",
        stage="Use a stage channel instead of a voice channel (speaker meetings)",
    )
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def create(
        self, interaction: discord.Interaction, meeting: str, stage: bool = False
    ) -> None:
        """Create the room with overwrites from the meeting's access."""
        found, link = await self._target(interaction, meeting)
        guild = interaction.guild
        assert guild is not None
        if link is not None:
            _, _, text, voice = self._channels(link)
            if text is not None and voice is not None:
                await reply_ephemeral(
                    interaction,
                    f"**{safe_title(found.title)}** already has a room: {text.mention} and "
                    f"{voice.mention}.",
                )
                return
            await self.rooms.forget_link(found.id)  # its channels were deleted in Discord
        require_bot_permissions(guild, CREATE_NEEDS)
        settings = await self.bot.services.guilds.get(guild.id)
        audience_role(guild, found, settings)  # refuses early when the role is not set
        state = await self.rooms.state(found)
        await interaction.response.defer(ephemeral=True, thinking=True)
        name = truncate(found.title.strip() or "Meeting", 100)
        voice_kind = "stage" if stage else "voice"
        created: list[discord.abc.GuildChannel] = []
        try:
            category = await guild.create_category(
                name,
                overwrites=room_overwrites(guild, found, settings, "category", state.open),
                reason="Haven: room created",
            )
            created.append(category)
            text_channel = await guild.create_text_channel(
                "chat",
                category=category,
                overwrites=room_overwrites(guild, found, settings, "text", state.open),
                reason="Haven: room created",
            )
            created.append(text_channel)
            voice_ows = room_overwrites(guild, found, settings, voice_kind, state.open)
            voice_channel: discord.VoiceChannel | discord.StageChannel
            if stage:
                voice_channel = await guild.create_stage_channel(
                    "stage", category=category, overwrites=voice_ows, reason="Haven: room created"
                )
            else:
                voice_channel = await guild.create_voice_channel(
                    "voice", category=category, overwrites=voice_ows, reason="Haven: room created"
                )
            created.append(voice_channel)
        except discord.HTTPException as exc:
            for channel in reversed(created):
                try:
                    await channel.delete(reason="Haven: room creation failed")
                except discord.HTTPException:
                    log.warning("could not remove a half-created room channel")
            if isinstance(exc, discord.Forbidden) and exc.code == 50013:
                raise UserFacingError(
                    "Discord refused to create the room: I'm missing a permission (error 50013). "
                    "Ask a moderator to give my role Manage Channels and Manage Roles, plus the "
                    "permissions I grant in rooms (View Channels, Send Messages, Connect, Speak, "
                    "Manage Messages, Mute and Move Members). Nothing was left behind."
                ) from exc
            if stage:
                raise UserFacingError(
                    "Discord refused to create a stage channel here (it may need a Community "
                    "server). Try again without `stage:`. Nothing was left behind."
                ) from exc
            raise
        link = await self.rooms.save_link(
            found,
            category_id=category.id,
            text_channel_id=text_channel.id,
            voice_channel_id=voice_channel.id,
            stage=stage,
        )
        await self.modlog(
            guild.id, "Room created", interaction.user, found, link, channel=voice_channel.mention
        )
        when = (
            "It is open now."
            if state.open
            else (
                f"It opens {ts(state.window.opens_at, 'R')}, before the next meeting."
                if state.window
                else "The meeting has no upcoming occurrence."
            )
        )
        await reply_ephemeral(
            interaction,
            f"Created the room of **{safe_title(found.title)}**: {text_channel.mention} and "
            f"{voice_channel.mention}. {when}",
        )

    @app_commands.command(name="open", description="Open the room now, for this occurrence")
    @app_commands.describe(meeting="The meeting (or use this inside its room)")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def open(self, interaction: discord.Interaction, meeting: str | None = None) -> None:
        """Open by hand."""
        found, link, _ = await self._room(interaction, meeting, STATE_NEEDS)
        state = await self.rooms.state(found)
        if state.window is None:
            raise UserFacingError("This meeting has no upcoming occurrence to open the room for.")
        if state.open:
            await self.apply_state(found, link, True)
            await reply_ephemeral(interaction, "The room is already open.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.rooms.set_override(found, state.window.key, OPEN)
        try:
            await self.open_room(found, link, state.window, actor=interaction.user)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await reply_ephemeral(
            interaction,
            f"Opened the room until {ts(state.window.closes_at, 't')}, when it closes as scheduled.",
        )

    @app_commands.command(name="close", description="Close the room now, for this occurrence")
    @app_commands.describe(meeting="The meeting (or use this inside its room)")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def close(self, interaction: discord.Interaction, meeting: str | None = None) -> None:
        """Close by hand."""
        found, link, _ = await self._room(interaction, meeting, STATE_NEEDS)
        state = await self.rooms.state(found)
        if not state.open or state.window is None:
            await self.apply_state(found, link, False)
            await reply_ephemeral(interaction, "The room is already closed.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.rooms.set_override(found, state.window.key, CLOSED)
        try:
            await self.close_room(found, link, state.window.key, actor=interaction.user)
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await self.rooms.schedule(found.id)
        await reply_ephemeral(interaction, "Closed the room for this occurrence.")

    async def _set_lock(
        self, interaction: discord.Interaction, meeting: str | None, locked: bool
    ) -> None:
        found, link, guild = await self._room(interaction, meeting, STATE_NEEDS)
        _, _, _, voice = self._channels(link)
        settings = await self.bot.services.guilds.get(guild.id)
        audience = audience_role(guild, found, settings)
        kind = "stage" if isinstance(voice, discord.StageChannel) else "voice"
        state = await self.rooms.state(found)
        try:
            await voice.set_permissions(
                audience,
                overwrite=audience_overwrite(kind, state.open, locked),
                reason="Haven: room " + ("locked" if locked else "unlocked"),
            )
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await self.modlog(
            guild.id, "Room locked" if locked else "Room unlocked", interaction.user, found, link
        )
        await reply_ephemeral(
            interaction,
            "Locked: nobody new can join the voice channel; those inside stay. It unlocks with "
            "`/room unlock` or when the room next opens."
            if locked
            else "Unlocked: people can join the voice channel again.",
        )

    @app_commands.command(
        name="lock", description="Stop new people joining the room's voice channel"
    )
    @app_commands.describe(meeting="The meeting (or use this inside its room)")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def lock(self, interaction: discord.Interaction, meeting: str | None = None) -> None:
        """Deny Connect to the audience."""
        await self._set_lock(interaction, meeting, True)

    @app_commands.command(
        name="unlock", description="Let people join the room's voice channel again"
    )
    @app_commands.describe(meeting="The meeting (or use this inside its room)")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def unlock(self, interaction: discord.Interaction, meeting: str | None = None) -> None:
        """Allow Connect again."""
        await self._set_lock(interaction, meeting, False)

    @app_commands.command(name="slowmode", description="Set slowmode in the room's text channel")
    @app_commands.describe(
        seconds="Seconds between messages per person: 0 (off) to 21600 (6 hours)",
        meeting="The meeting (or use this inside its room)",
    )
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def slowmode(
        self,
        interaction: discord.Interaction,
        seconds: app_commands.Range[int, 0, 21600],
        meeting: str | None = None,
    ) -> None:
        """Set the text channel's slowmode."""
        validate_slowmode(seconds)
        found, link, guild = await self._room(interaction, meeting, SLOWMODE_NEEDS)
        _, _, text, _ = self._channels(link)
        try:
            await text.edit(slowmode_delay=seconds, reason="Haven: room slowmode")
        except discord.Forbidden as exc:
            raise UserFacingError(MISSING_PERMISSION) from exc
        await self.modlog(
            guild.id, "Room slowmode", interaction.user, found, link, seconds=str(seconds)
        )
        await reply_ephemeral(
            interaction,
            f"Slowmode is now {seconds} seconds." if seconds else "Slowmode is off.",
        )

    @app_commands.command(
        name="remove", description="Keep someone out of the room until this meeting ends"
    )
    @app_commands.describe(
        member="Who to remove from the room",
        meeting="The meeting (or use this inside its room)",
    )
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def remove(
        self, interaction: discord.Interaction, member: discord.Member, meeting: str | None = None
    ) -> None:
        """Deny the member the room until the occurrence's room closes, then lift it."""
        found, link, guild = await self._room(interaction, meeting, STATE_NEEDS)
        if member.bot or member.id == interaction.user.id:
            raise UserFacingError("Pick someone else: you can't remove yourself or a bot.")
        settings = await self.bot.services.guilds.get(guild.id)
        if settings.moderator_role_id and any(
            r.id == settings.moderator_role_id for r in member.roles
        ):
            raise UserFacingError("Moderators can't be removed from a room.")
        if member.guild_permissions.manage_guild:
            raise UserFacingError("Moderators can't be removed from a room.")
        state = await self.rooms.state(found)
        if state.window is None:
            raise UserFacingError("This meeting has no current or upcoming occurrence.")
        window = state.window
        await interaction.response.defer(ephemeral=True, thinking=True)
        _, category, text, voice = self._channels(link)
        deny = discord.PermissionOverwrite.from_pair(P.none(), REMOVAL_DENY)
        removal = await self.rooms.add_removal(found, member.id, window)
        try:
            for channel in (category, text, voice):
                if channel is not None:
                    await channel.set_permissions(
                        member, overwrite=deny, reason="Haven: removed from room"
                    )
        except discord.Forbidden as exc:
            await self.rooms.delete_removals([removal.id])
            raise UserFacingError(MISSING_PERMISSION) from exc
        if (
            member.voice is not None
            and member.voice.channel is not None
            and member.voice.channel.id == link.voice_channel_id
        ):
            try:
                await member.move_to(None, reason="Haven: removed from room")
            except discord.HTTPException:
                log.info("could not disconnect a removed member from voice")
        contact = (
            f"<#{settings.moderators_channel_id}> or `/moderators message`"
            if settings.moderators_channel_id
            else "`/moderators message` in the server"
        )
        told = True
        try:
            await member.send(
                f"A facilitator or moderator removed you from the room of "
                f"**{safe_title(found.title)}** in **{escape(guild.name)}** until "
                f"{ts(removal.until, 'f')}. You can take part again after that. If you have "
                f"questions or need support, contact the moderators: {contact}."
            )
        except discord.HTTPException:
            told = False
        await self.modlog(
            guild.id,
            "Member removed from room",
            interaction.user,
            found,
            link,
            member=f"{member.mention} (`{member.id}`)",
            until=ts(removal.until, "f"),
        )
        note = "" if told else " I couldn't message them (their DMs are closed)."
        await reply_ephemeral(
            interaction,
            f"Removed {member.mention} from the room until {ts(removal.until, 'f')}; it lifts "
            f"automatically.{note}",
        )

    @app_commands.command(name="delete", description="Delete a meeting's room (asks to confirm)")
    @app_commands.describe(meeting="The meeting (or use this inside its room)")
    @app_commands.autocomplete(meeting=meeting_autocomplete)
    @app_commands.guild_only()
    @requires(Level.FACILITATOR)
    async def delete(self, interaction: discord.Interaction, meeting: str | None = None) -> None:
        """Ask for confirmation, then delete the channels."""
        found, link = await self._target(interaction, meeting)
        if link is None:
            raise UserFacingError(f"**{safe_title(found.title)}** has no room.")
        guild = interaction.guild
        assert guild is not None
        require_bot_permissions(guild, DELETE_NEEDS)
        await interaction.response.send_message(
            f"Delete the room of **{safe_title(found.title)}**: its category, text and voice "
            "channels, and every message in them? The meeting itself stays.",
            view=DeleteRoomView(self, found, link, interaction.user.id),
            ephemeral=True,
        )


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(RoomCog(bot))
