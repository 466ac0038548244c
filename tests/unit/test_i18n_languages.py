"""Languages in the data: the guild's default, each meeting's, each subscription's (both stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.db import Database
from bot.errors import UserFacingError
from bot.i18n import current_locale, use_locale
from bot.models.meetings import MeetingEdit
from bot.permissions import Level
from bot.services import Services
from bot.services.meeting_guide import meeting_guide_types
from bot.services.meetings import Actor
from bot.services.reminders.delivery import SendResult
from tests.meeting_guide_spec import SPEC_TYPES
from tests.support.meetings import make_meeting
from tests.unit.test_reminders_service import ANNOUNCE, PEER_A, PEER_B, FakeSender
from tests.unit.test_reminders_service import GUILD as REMINDER_GUILD
from tests.unit.test_reminders_service import NOW as REMINDER_NOW
from tests.unit.test_reminders_service import START as REMINDER_START
from tests.unit.test_reminders_service import _settings as reminder_settings
from tests.unit.test_reminders_service import _world as reminder_world
from tests.unit.test_rooms_lifecycle import CLOSES, OPENS, FakeEffects

pytestmark = pytest.mark.both_backends

GUILD = 500
FAC = Actor(11, Level.FACILITATOR)
MOD = Actor(13, Level.MODERATOR)


@pytest.fixture
def start() -> datetime:
    """A Monday before the default test meeting's first Tuesday."""
    return datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


async def test_guild_language_defaults_to_english_and_is_stored(services: Services) -> None:
    assert (await services.guilds.get(GUILD)).language == "en"
    await services.guilds.update(GUILD, language="es")
    services.guilds._cache.clear()
    assert (await services.guilds.get(GUILD)).language == "es"


async def test_a_new_meeting_takes_the_guilds_language_unless_given(services: Services) -> None:
    schedule = services.meeting_service.schedule
    english = await schedule(
        GUILD, FAC, title="A", start="2027-01-05 19:00", timezone="UTC", repeat="weekly"
    )
    await services.guilds.update(GUILD, language="es")
    spanish = await schedule(
        GUILD, FAC, title="B", start="2027-01-05 19:00", timezone="UTC", repeat="weekly"
    )
    chosen = await schedule(
        GUILD,
        FAC,
        title="C",
        start="2027-01-05 19:00",
        timezone="UTC",
        repeat="weekly",
        language="en",
    )
    assert (english.language, spanish.language, chosen.language) == ("en", "es", "en")
    stored = await services.meetings.get(spanish.id, GUILD)
    assert stored is not None and stored.language == "es"


async def test_editing_a_meetings_language(services: Services) -> None:
    meeting_id = await make_meeting(services, GUILD)
    result = await services.meeting_service.edit(GUILD, meeting_id, MOD, MeetingEdit(language="es"))
    assert result.meeting.language == "es" and result.changed == ("language",)
    with pytest.raises(UserFacingError) as refused:
        await services.meeting_service.edit(GUILD, meeting_id, MOD, MeetingEdit(language="fr"))
    assert "`fr` is not a language" in refused.value.message
    with use_locale("es"):
        assert "`fr`" in refused.value.message
    stored = await services.meetings.get(meeting_id, GUILD)
    assert stored is not None and stored.language == "es"


async def test_a_subscription_keeps_its_locale_and_follows_the_persons_next_interaction(
    services: Services,
) -> None:
    first = await make_meeting(services, GUILD)
    second = await make_meeting(services, GUILD, title="Second")
    reminders = services.reminders
    await reminders.subscribe(GUILD, 7, first, locale="es-419")
    await reminders.subscribe(GUILD, 8, first)
    from bot.db.repositories import reminders as repo

    assert await repo.locales_of(services.db, [7, 8]) == {7: "es", 8: "en"}
    await reminders.subscribe(GUILD, 7, second, locale="es")
    assert await reminders.note_locale(7, "es-ES") is False  # already Spanish: no write
    reminders._locales.clear()  # a restart: the first interaction reads once
    assert await reminders.note_locale(7, "es-ES") is False
    assert await reminders.note_locale(7, "en-US") is True  # switched their client to English
    assert await repo.locales_of(services.db, [7]) == {7: "en"}
    assert await reminders.note_locale(7, "en-GB") is False
    assert await reminders.note_locale(99, "es") is False  # no subscriptions: nothing to write


async def test_the_store_refuses_a_language_it_does_not_know(services: Services) -> None:
    meeting_id = await make_meeting(services, GUILD)
    with pytest.raises(Exception):  # noqa: B017 - the CHECK constraint, either backend's error
        async with services.db.transaction() as tx:
            await services.meetings.update(tx, meeting_id, language="fr")


class LanguageEffects(FakeEffects):
    """Records the language current when each room post is made (the glue renders in it)."""

    async def post_opening(self, meeting: Any, link: Any, window: Any, nonce_key: Any) -> None:
        self.calls.append(("card", current_locale.get()))

    async def post_closing(self, link: Any, next_start: Any, cleared: Any, nonce_key: Any) -> None:
        self.calls.append(("closing", current_locale.get()))


async def test_a_spanish_meetings_room_posts_in_spanish_whoever_opens_it(
    services: Services, clock: FakeClock
) -> None:
    effects = LanguageEffects()
    services.rooms.install(effects)
    meeting_id = await make_meeting(services, GUILD, update={"language": "es"})
    meeting = await services.meetings.get(meeting_id)
    assert meeting is not None
    await services.rooms.save_link(
        meeting, category_id=10, text_channel_id=11, voice_channel_id=12, stage=False
    )
    for when in (OPENS, CLOSES):
        clock.set(when)
        await services.jobs.run_due()
        await services.jobs.drain()
    assert [c for c in effects.calls if c[0] in ("card", "closing")] == [
        ("card", "es"),
        ("closing", "es"),
    ]
    assert current_locale.get() == "en"


class LanguageSender(FakeSender):
    """Records the language current at each send (the glue renders the message in it)."""

    def __init__(self) -> None:
        super().__init__()
        self.languages: list[tuple[str, int, str, str]] = []

    async def to_channel(self, guild_id: int, channel_id: int, message: Any) -> SendResult:
        self.languages.append(("channel", channel_id, current_locale.get(), type(message).__name__))
        return await super().to_channel(guild_id, channel_id, message)

    async def to_user(self, guild_id: int, user_id: int, message: Any) -> SendResult:
        self.languages.append(("dm", user_id, current_locale.get(), type(message).__name__))
        return await super().to_user(guild_id, user_id, message)


async def _subscribed(
    db: Database, clock: FakeClock, language: str, locales: tuple[str, str]
) -> tuple[Any, LanguageSender, Any]:
    """A reminder world recording languages, a meeting in `language`, PEER_A and PEER_B
    subscribed from clients in `locales`."""
    clock.set(REMINDER_NOW)
    world = await reminder_world(db, clock, reminder_settings())
    sender = world.sender = world.reminders.sender = LanguageSender()
    meeting = await world.schedule(language=language)
    for peer, locale in zip((PEER_A, PEER_B), locales, strict=True):
        await world.reminders.subscribe(REMINDER_GUILD, peer, meeting.id, locale=locale)
    return world, sender, meeting


async def test_reminders_post_in_the_meetings_language_and_dm_in_each_persons(
    db: Database, clock: FakeClock
) -> None:
    world, sender, meeting = await _subscribed(db, clock, "es", ("en-US", "es-419"))
    await world.at(REMINDER_START - timedelta(minutes=15))
    assert sorted(sender.languages) == [
        ("channel", ANNOUNCE, "es", "ReminderMessage"),
        ("dm", PEER_A, "en", "ReminderMessage"),
        ("dm", PEER_B, "es", "ReminderMessage"),
    ]
    await world.reminders.note_locale(PEER_A, "es-ES")  # PEER_A switched their client
    await world.meetings.cancel(REMINDER_GUILD, meeting.id, FAC, "2027-01-14")
    sender.languages.clear()
    await world.at(REMINDER_START + timedelta(days=6))
    assert sorted(x for x in sender.languages if x[3] == "NoticeMessage") == [
        ("channel", ANNOUNCE, "es", "NoticeMessage"),
        ("dm", PEER_A, "es", "NoticeMessage"),
        ("dm", PEER_B, "es", "NoticeMessage"),
    ]


async def test_a_deleted_meetings_notice_keeps_each_subscribers_language(
    db: Database, clock: FakeClock
) -> None:
    """Their subscription goes with the meeting: the notice itself keeps the language."""
    # An English meeting: the language of a DM is each person's own.
    world, sender, meeting = await _subscribed(db, clock, "en", ("es-ES", "en-GB"))
    await world.meetings.delete(REMINDER_GUILD, meeting.id, FAC, delete_room=False)
    await world.run()
    assert sorted(x for x in sender.languages if x[3] == "NoticeMessage") == [
        ("dm", PEER_A, "es", "NoticeMessage"),
        ("dm", PEER_B, "en", "NoticeMessage"),
    ]
    assert await db.fetchval("SELECT COUNT(*) FROM reminder_notices") == 0


async def test_a_spanish_meeting_carries_the_meeting_guide_spanish_type(services: Services) -> None:
    english = await services.meetings.get(await make_meeting(services, GUILD))
    spanish = await services.meetings.get(
        await make_meeting(services, GUILD, update={"language": "es"})
    )
    assert english is not None and spanish is not None
    assert meeting_guide_types(english) == ["O", "D"]
    assert meeting_guide_types(spanish) == ["O", "D", "S"]
    assert "S" in SPEC_TYPES
