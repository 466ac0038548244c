"""A reminder burst in a test's store, for the tests that run Haven as a subprocess."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.clock import FakeClock
from bot.config import Settings, load_settings
from bot.occurrences import Repeat
from bot.services import build_services
from bot.services.meetings import Access, Kind
from tests.e2e.harness import TEST_SECRET_KEY, Community
from tests.fakediscord import Member
from tests.support.store import HavenStore


def store_settings(store: HavenStore) -> Settings:
    """Settings for preparing a store outside the bot (PostgreSQL needs the shared key)."""
    return load_settings(
        _env_file=None, discord_token="x", haven_secret_key=TEST_SECRET_KEY, **store.settings()
    )


def child_environment(store: HavenStore, prefix: str) -> dict[str, str]:
    """The variables a crash-test child reads to open the same store (`{prefix}DB`, `{prefix}URL`)."""
    return {f"{prefix}DB": str(store.path), f"{prefix}URL": store.url or ""}


async def prepare_burst(
    store: HavenStore,
    community: Community,
    subscribers: list[Member],
    start: datetime,
    meetings: int,
) -> list[int]:
    """Meetings starting at `start` (reminders 15 minutes before), one DM subscriber on each of
    the first few, settings in place and the reminders materialised; returns the meeting ids."""
    settings = store_settings(store)
    db = await store.open()
    try:
        await db.migrate()
        fire = start - timedelta(minutes=15)
        services = build_services(settings, db, FakeClock(fire - timedelta(seconds=1)), b"k" * 32)
        guild_id = community.guild.id
        await services.guilds.update(
            guild_id,
            announce_channel_id=community.announcements.id,
            modlog_channel_id=community.modlog.id,
        )
        ids = []
        async with db.transaction() as tx:
            for i in range(meetings):
                ids.append(
                    await services.meetings.create(
                        tx,
                        guild_id=guild_id,
                        title=f"Meeting {i}",
                        kind=Kind.NA,
                        access=Access.OPEN,
                        formats=(),
                        timezone="UTC",
                        first_date=start.date(),
                        start_time=start.time(),
                        duration_minutes=60,
                        repeat=Repeat.ONCE,
                    )
                )
        for member, meeting_id in zip(subscribers, ids, strict=False):
            await services.reminders.subscribe(guild_id, member.user.id, meeting_id)
        await services.reminders.reconcile()
        assert len(await services.reminders.pending_reminders()) == meetings
        return ids
    finally:
        await db.close()
