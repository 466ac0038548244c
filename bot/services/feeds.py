"""Public feeds of a guild's meetings: settings, room invites and the rendered feeds. No Discord.

A guild opts in; it then has one secret URL token (only its SHA-256 hash is stored) and, per
published meeting, a discord.gg invite code made for the meeting's room through the InviteMaker
port the glue installs. Published: open meetings (closed ones only when the guild explicitly
includes them), with their titles, times, kind, access and formats, and the invite link. Never
descriptions, opening texts, facilitators or anything else about people.

The serialisers are pure and live beside this module: bot/services/ics.py (iCalendar, every repeat
rule) and bot/services/meeting_guide.py (Meeting Guide JSON, weekly meetings only). Their notes,
categories and calendar name are rendered in the guild's language (`/setup defaults language:`);
the codes machines read (UIDs, rules, Meeting Guide types) never change with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Protocol

from bot.bus import MEETING_CHANGED, EventBus
from bot.clock import Clock
from bot.db import Database
from bot.db.repositories import feeds as repo
from bot.db.repositories.guilds import settings as guild_settings
from bot.errors import UserFacingError
from bot.i18n import DEFAULT, Msg, _, use_locale
from bot.jobs import JobEngine
from bot.models.feeds import (
    FeedConfig,
    FeedInvite,
    FeedKind,
    FeedVersion,
    InviteSync,
    RenderedFeed,
)
from bot.models.meetings import Access, Meeting
from bot.services.ics import build_ics, clean, fold_line, invite_url, vtimezone_lines
from bot.services.meeting_guide import build_meeting_guide, meeting_guide_types
from bot.services.meetings import MeetingStore

log = logging.getLogger(__name__)

__all__ = [
    "FeedConfig",
    "FeedInvite",
    "FeedKind",
    "FeedService",
    "InviteMaker",
    "InviteSync",
    "RenderedFeed",
    "build_ics",
    "build_meeting_guide",
    "fold_line",
    "hash_token",
    "invite_url",
    "is_token_shaped",
    "meeting_guide_types",
    "new_token",
    "vtimezone_lines",
]

TOKEN_BYTES = 32  # 256 bits: unguessable, so a plain hash is enough to look it up
# VTIMEZONE observances are listed from the earliest event to this many years past "now";
# calendar clients refetch the feed long before that.
HORIZON_YEARS = 6
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_token() -> str:
    """A fresh, unguessable URL token (43 URL-safe characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def is_token_shaped(token: str) -> bool:
    """Whether a string could be a token at all (cheap rejection before any lookup)."""
    return bool(_TOKEN_SHAPE.match(token))


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class InviteMaker(Protocol):
    """What the Discord glue provides: permanent room invites, and a guild's current name."""

    async def create(self, channel_id: int) -> str | None:
        """A permanent, unlimited invite's code for a channel, or None when Discord refuses."""
        ...

    async def delete(self, code: str) -> bool:
        """Delete an invite; False when Discord refused (one already gone counts as deleted)."""
        ...

    def guild_name(self, guild_id: int) -> str | None:
        """The guild's name, or None while the bot does not see the guild."""
        ...


class FeedService:
    """Per-guild feed settings, invites, and the rendered feeds (cached per content version).

    build_services gives it the bus and the job engine: it then follows meeting changes once the
    glue installs an InviteMaker, and reconciles invites at start and periodically.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        meetings: MeetingStore,
        *,
        events: EventBus | None = None,
        jobs: JobEngine | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.meetings = meetings
        self.events = events
        self.invite_maker: InviteMaker | None = None
        # (guild, kind) -> the last rendering; Last-Modified is when its content first appeared.
        self._cache: dict[tuple[int, str], RenderedFeed] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.jobs = jobs
        if jobs is not None:
            jobs.add_reconciler(self.reconcile)

    def install(self, maker: InviteMaker) -> None:
        """Plug the Discord glue in and start following meeting changes."""
        self.invite_maker = maker
        if self.events is not None:
            self.events.subscribe(MEETING_CHANGED, self.on_meeting_changed)

    def uninstall(self) -> None:
        """Unplug the Discord glue; stored invites are left as they are."""
        if self.events is not None:
            self.events.unsubscribe(MEETING_CHANGED, self.on_meeting_changed)
        self.invite_maker = None

    def _require_maker(self) -> InviteMaker:
        if self.invite_maker is None:
            raise RuntimeError("no invite maker is installed (cogs.feeds not loaded)")
        return self.invite_maker

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    # -- settings ----------------------------------------------------------------------------

    async def get(self, guild_id: int) -> FeedConfig | None:
        """The guild's feed settings, or None when its feeds are off."""
        return await repo.config(self.db, guild_id)

    async def lookup(self, token: str) -> FeedConfig | None:
        """The feed a URL token opens, or None (unknown, rotated, or not token-shaped)."""
        if not is_token_shaped(token):
            return None
        return await repo.config_by_token_hash(self.db, hash_token(token))

    async def enable(
        self, guild_id: int, include_closed: bool = False, calendar_name: str = ""
    ) -> tuple[str | None, bool]:
        """Turn feeds on; return (new token or None if already on, whether anything changed)."""
        now = self.clock.now()
        calendar_name = clean(calendar_name).replace("\n", " ")[:100]
        async with self.db.transaction() as tx:
            current = await repo.include_closed(tx, guild_id)
            if current is not None:
                if current == include_closed:
                    return None, False
                await repo.set_include_closed(tx, guild_id, include_closed)
                return None, True
            token = new_token()
            await repo.insert_config(
                tx, guild_id, hash_token(token), include_closed, calendar_name, now
            )
        return token, True

    async def rotate(self, guild_id: int) -> str:
        """Replace the token (old URLs stop working at once); return the new one."""
        token = new_token()
        async with self.db.transaction() as tx:
            changed = await repo.set_token_hash(tx, guild_id, hash_token(token), self.clock.now())
        if not changed:
            raise UserFacingError(
                Msg(
                    "Feeds are off in this server, so there is nothing to rotate. "
                    "Use `/setup feeds action:enable` first."
                )
            )
        return token

    async def set_calendar_name(self, guild_id: int, name: str) -> bool:
        """Title the guild's calendar (its server's name); True when it changed."""
        name = clean(name).replace("\n", " ")[:100]
        async with self.db.transaction() as tx:
            return await repo.set_calendar_name(tx, guild_id, name)

    async def disable(self, guild_id: int) -> tuple[bool, list[FeedInvite]]:
        """Turn feeds off and forget their invites; return (was on, invites to delete on Discord)."""
        async with self._lock(guild_id), self.db.transaction() as tx:
            invites = await repo.invites(tx, guild_id)
            await repo.delete_invites(tx, guild_id)
            was_on = await repo.delete_config(tx, guild_id)
        self._cache.pop((guild_id, "ics"), None)
        self._cache.pop((guild_id, "json"), None)
        return was_on, invites

    async def enabled_guilds(self) -> list[int]:
        """Every guild whose feeds are on."""
        return await repo.enabled_guilds(self.db)

    # -- invites -----------------------------------------------------------------------------

    async def invites(self, guild_id: int) -> dict[int, FeedInvite]:
        """The stored invites of a guild's published meetings, by meeting id."""
        return {i.meeting_id: i for i in await repo.invites(self.db, guild_id)}

    async def set_invite(self, guild_id: int, invite: FeedInvite) -> FeedInvite | None:
        """Store a meeting's invite; return the one it replaces (to delete on Discord).

        Raises LookupError when the meeting or the guild's feeds no longer exist.
        """
        async with self.db.transaction() as tx:
            old = await repo.invite_of(tx, invite.meeting_id)
            if not await repo.can_publish(tx, guild_id, invite.meeting_id):
                raise LookupError("meeting or feeds gone")
            await repo.upsert_invite(tx, guild_id, invite, self.clock.now())
        if old is None or old.code == invite.code:
            return None
        return old

    async def drop_invite(self, meeting_id: int) -> FeedInvite | None:
        """Forget a meeting's invite; return it (to delete on Discord)."""
        async with self.db.transaction() as tx:
            old = await repo.invite_of(tx, meeting_id)
            await repo.delete_invite(tx, meeting_id)
        return old

    async def published(self, config: FeedConfig) -> list[Meeting]:
        """The meetings a guild's feeds publish: open ones, and closed ones only if included."""
        meetings = await self.meetings.list_guild(config.guild_id)
        return [m for m in meetings if m.access == Access.OPEN or config.include_closed]

    @staticmethod
    def wanted_invites(meetings: Iterable[Meeting]) -> dict[int, int]:
        """Meeting id -> room text channel id for published meetings that have a room."""
        return {m.id: m.room_text_channel_id for m in meetings if m.room_text_channel_id}

    async def sync_invites(self, guild_id: int, *, renew: bool = False) -> InviteSync:
        """Give each published meeting with a room one invite; drop the others (renew: all new)."""
        maker = self._require_maker()
        result = InviteSync()
        async with self._lock(guild_id):
            config = await self.get(guild_id)
            if config is None:
                return result
            wanted = self.wanted_invites(await self.published(config))
            have = await self.invites(guild_id)
            stale: list[FeedInvite] = []
            for meeting_id, invite in have.items():
                if wanted.get(meeting_id) != invite.channel_id:
                    dropped = await self.drop_invite(meeting_id)
                    if dropped is not None:
                        stale.append(dropped)
                        result.removed += 1
            for meeting_id, channel_id in wanted.items():
                current = have.get(meeting_id)
                if not renew and current is not None and current.channel_id == channel_id:
                    continue
                code = await maker.create(channel_id)
                if code is None:
                    result.failed += 1
                    continue
                try:
                    replaced = await self.set_invite(
                        guild_id, FeedInvite(meeting_id, channel_id, code)
                    )
                except LookupError:  # the meeting was deleted meanwhile
                    stale.append(FeedInvite(meeting_id, channel_id, code))
                    continue
                result.created += 1
                if replaced is not None:
                    stale.append(replaced)
            for invite in stale:
                if not await maker.delete(invite.code):
                    result.undeleted.append(invite.code)
        return result

    async def delete_invites(self, invites: list[FeedInvite]) -> list[str]:
        """Delete invites on Discord; return the codes that could not be deleted."""
        maker = self._require_maker()
        return [i.code for i in invites if not await maker.delete(i.code)]

    async def on_meeting_changed(
        self, *, meeting_id: int, guild_id: int, change: str, detail: str = ""
    ) -> None:
        """Keep invites in step when a meeting of a guild with feeds is created or edited."""
        # Deleted meetings keep their invite row (no cascade) until this sync deletes the invite.
        if change in ("created", "edited", "deleted") and await self.get(guild_id):
            await self.sync_invites(guild_id)

    async def reconcile(self) -> None:
        """At start and every few minutes: rooms created since give their meeting an invite."""
        maker = self.invite_maker
        if maker is None:
            return
        for guild_id in await self.enabled_guilds():
            if self.jobs is not None and not self.jobs.owns(guild_id):
                continue  # another process runs that guild's shard and makes its invites
            name = maker.guild_name(guild_id)
            if name is None:
                continue
            try:
                await self.set_calendar_name(guild_id, name)
                await self.sync_invites(guild_id)
            except Exception:
                log.exception("feed invite sync failed")

    # -- rendering ---------------------------------------------------------------------------

    async def render(self, token: str, kind: FeedKind) -> RenderedFeed | None:
        """The feed a token opens, or None for an unknown or rotated token."""
        config = await self.lookup(token)
        if config is None:
            return None
        return await self.render_guild(config, kind)

    async def render_guild(self, config: FeedConfig, kind: FeedKind) -> RenderedFeed:
        """Render a guild's feed; unchanged content keeps its stamp, ETag and Last-Modified.

        The stamp is the content version's ``first_seen`` in the store, so every feed server,
        and one restarted, serves the same bytes and validators for the same content. The text
        people read is in the guild's language, which is part of the content: changing it makes
        a new version, and the same language and meetings always give the same bytes.
        """
        meetings = await self.published(config)
        invites = await self.invites(config.guild_id)
        language = await self.language(config.guild_id)
        now = self.clock.now()
        key = (config.guild_id, kind)
        with use_locale(language):
            name = (
                _("{name}: meetings").format(name=config.calendar_name)
                if config.calendar_name
                else _("Meetings")
            )
            if kind == "ics":
                horizon = date(now.year + HORIZON_YEARS, 1, 1)
                probe = build_ics(meetings, invites, _EPOCH, horizon=horizon, name=name)
            else:
                updated = await repo.meeting_updates(self.db, config.guild_id)
                entries = build_meeting_guide(meetings, invites, updated, now)
                probe = json.dumps(entries, ensure_ascii=False, indent=1)
        digest = hashlib.sha256(probe.encode("utf-8")).hexdigest()
        stamp = await self._first_seen(config.guild_id, kind, digest, now)
        cached = self._cache.get(key)
        if cached is not None and cached.digest == digest and cached.last_modified == stamp:
            return cached
        if kind == "ics":
            with use_locale(language):
                text = build_ics(meetings, invites, stamp, horizon=horizon, name=name)
            body = text.encode("utf-8")
            content_type = "text/calendar; charset=utf-8"
        else:
            body = probe.encode("utf-8")
            content_type = "application/json"
        rendered = RenderedFeed(body, content_type, _etag(body), stamp, digest)
        self._cache[key] = rendered
        return rendered

    async def language(self, guild_id: int) -> str:
        """The language a guild's public text is written in (`/setup defaults language:`)."""
        settings = await guild_settings(self.db, guild_id)
        return DEFAULT if settings is None else settings.language

    async def _first_seen(
        self, guild_id: int, kind: FeedKind, digest: str, now: datetime
    ) -> datetime:
        """When this content was first rendered by any feed server (recorded now if it is new)."""
        current = await repo.feed_version(self.db, guild_id, kind)
        if current is not None and current.digest == digest:
            return current.first_seen
        async with self.db.transaction() as tx:
            current = await repo.feed_version(tx, guild_id, kind)
            if current is None or current.digest != digest:
                # Never before the version it replaces: content that comes back (A, B, A again)
                # must look newer than B to a client that sends only If-Modified-Since.
                stamp = now.replace(microsecond=0)
                if current is not None:
                    stamp = max(stamp, current.first_seen)
                replacing = None if current is None else current.digest
                await repo.replace_feed_version(
                    tx, guild_id, kind, FeedVersion(digest, stamp), replacing
                )
                current = await repo.feed_version(tx, guild_id, kind)
        # None only if the guild's feeds were turned off meanwhile (the row cascades away).
        return now.replace(microsecond=0) if current is None else current.first_seen
