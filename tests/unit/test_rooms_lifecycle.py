"""RoomService runs a room's lifecycle through the RoomEffects port: checked without Discord."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.i18n import Text, render
from bot.services import Services
from bot.services.meetings import Meeting
from bot.services.rooms import JOB_OPEN, MISSING_PERMISSION, RoomLink, RoomWindow
from tests.support.meetings import make_meeting

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

START = datetime(2027, 1, 6, 0, 0, tzinfo=UTC)  # 19:00 New York on Tuesday 5 January
OPENS = START - timedelta(minutes=10)
CLOSES = START + timedelta(minutes=75)


class Refused(Exception):
    """What the fake raises for a missing permission."""


class FakeEffects:
    """Records every Discord action the service asks for; can refuse apply_state."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse = False

    async def apply_state(
        self,
        meeting: Meeting,
        link: RoomLink,
        is_open: bool,
        *,
        unlock: bool = False,
        force: bool = False,
    ) -> bool:
        if self.refuse:
            raise Refused
        self.calls.append(("state", is_open))
        return True

    async def post_opening(
        self, meeting: Meeting, link: RoomLink, window: RoomWindow, nonce_key: str | None
    ) -> None:
        self.calls.append(("card", window.key, nonce_key))

    async def post_reopened(self, link: RoomLink) -> None:
        self.calls.append(("reopened",))

    async def post_closing(
        self, link: RoomLink, next_start: datetime | None, cleared: bool, nonce_key: str | None
    ) -> None:
        self.calls.append(("closing", next_start, cleared))

    async def clear_messages(self, link: RoomLink, after: datetime, before: datetime) -> bool:
        self.calls.append(("clear", after, before))
        return True

    async def lift_removals(self, link: RoomLink, keep_user_ids: Iterable[int]) -> int:
        self.calls.append(("lift", set(keep_user_ids)))
        return 0

    async def rebuild_overwrites(self, meeting: Meeting, link: RoomLink, is_open: bool) -> None:
        self.calls.append(("rebuild", is_open))

    async def rename(self, link: RoomLink, title: str) -> None:
        self.calls.append(("rename", title))

    async def delete_channels(self, link: RoomLink) -> None:
        self.calls.append(("delete",))

    async def modlog(
        self,
        guild_id: int,
        title: Text,
        actor_id: int | None,
        meeting: Meeting | None,
        link: RoomLink | None,
        **fields: Text | datetime,
    ) -> None:
        # As the English mod log shows them.
        shown = {k: v if isinstance(v, datetime) else render(v, "en") for k, v in fields.items()}
        self.calls.append(("modlog", render(title, "en"), actor_id, shown))

    def refused(self, exc: Exception) -> bool:
        return isinstance(exc, Refused)


@pytest.fixture
def start() -> datetime:
    """Just before the first room opens."""
    return OPENS - timedelta(minutes=1)


async def _room(services: Services, **fields: Any) -> tuple[Meeting, FakeEffects]:
    effects = FakeEffects()
    services.rooms.install(effects)
    mid = await make_meeting(services, 1, **fields)
    meeting = await services.meetings.get(mid)
    assert meeting is not None
    await services.rooms.save_link(
        meeting, category_id=10, text_channel_id=11, voice_channel_id=12, stage=False
    )
    return meeting, effects


async def _run_at(services: Services, when: datetime) -> None:
    assert isinstance(services.clock, FakeClock)
    services.clock.set(when)
    await services.jobs.run_due()
    await services.jobs.drain()


async def test_scheduled_open_and_close_post_once_each_and_log_as_haven(
    services: Services,
) -> None:
    meeting, effects = await _room(services, update={"room_clear_chat": True})
    await _run_at(services, OPENS)
    assert effects.calls == [
        ("state", True),
        ("card", "2027-01-05", f"{JOB_OPEN}:{meeting.id}:2027-01-05:"),
        ("modlog", "Room opened", None, {"occurrence": START}),
    ]
    effects.calls.clear()
    window = (await services.rooms.state(meeting)).window
    assert window is not None
    link = await services.rooms.link(meeting.id)
    assert link is not None
    await services.rooms.open_room(meeting, link, window, actor_id=None)  # a replayed job
    assert effects.calls == [("state", True)]
    effects.calls.clear()
    await _run_at(services, CLOSES)
    next_start = START + timedelta(days=7)
    assert effects.calls == [
        ("state", False),
        ("clear", OPENS - timedelta(seconds=1), CLOSES),
        ("closing", next_start, True),
        ("modlog", "Room closed", None, {"occurrence": "2027-01-05"}),
    ]


async def test_a_refused_job_tells_the_mod_log_once_then_retries(services: Services) -> None:
    meeting, effects = await _room(services)
    effects.refuse = True
    await _run_at(services, OPENS)
    failed = [c for c in effects.calls if c[0] == "modlog"]
    assert failed == [
        (
            "modlog",
            "Room action failed",
            None,
            {"action": "open", "problem": str(MISSING_PERMISSION)},
        )
    ]
    [job, _] = await services.jobs.pending(kind=JOB_OPEN, meeting_id=meeting.id)  # and next week
    assert job.fire_at == OPENS + timedelta(minutes=1) and job.attempts == 1
    await _run_at(services, job.fire_at)
    assert [c for c in effects.calls if c[0] == "modlog"] == failed  # not again


async def test_without_the_glue_reconcile_leaves_rooms_alone(services: Services) -> None:
    meeting, effects = await _room(services)
    services.rooms.uninstall()
    await services.jobs.reconcile()
    assert effects.calls == []
