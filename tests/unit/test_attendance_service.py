"""AttendanceService: once-per-person counts, keys only in memory, pseudonyms, proof slips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.bus import ROOM_CLOSED, ROOM_OPENED
from bot.clock import FakeClock
from bot.db import Database
from bot.errors import UserFacingError
from bot.parsing import neutralize
from bot.services import Services
from bot.services.attendance import (
    SAVE_EVERY,
    SAVE_JOB,
    CountReport,
    OccurrenceCount,
    sign_slip,
    trend_of,
    verify_slip,
)
from tests.support.meetings import make_meeting

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

START = datetime(2027, 1, 5, 23, 50, tzinfo=UTC)
GUILD = 10
OCC = "2027-01-05"


@pytest.fixture
def start() -> datetime:
    """Ten minutes before the Tuesday 19:00 New York meeting opens."""
    return START


async def _meeting(services: Services, title: str = "Tuesday night") -> int:
    return await make_meeting(services, GUILD, title=title)


async def _open(services: Services, meeting_id: int, occ: str = OCC) -> None:
    await services.events.emit(ROOM_OPENED, meeting_id=meeting_id, guild_id=GUILD, occurrence=occ)


async def _close(services: Services, meeting_id: int, occ: str = OCC) -> None:
    await services.events.emit(ROOM_CLOSED, meeting_id=meeting_id, guild_id=GUILD, occurrence=occ)


async def test_check_in_counts_once_per_person(services: Services) -> None:
    mid = await _meeting(services)
    att = services.attendance
    with pytest.raises(UserFacingError):
        await att.check_in(mid, OCC, GUILD, 1)
    await _open(services, mid)
    assert await att.check_in(mid, OCC, GUILD, 1) is True
    assert await att.check_in(mid, OCC, GUILD, 1) is False
    assert await att.check_in(mid, OCC, GUILD, 2) is True
    with pytest.raises(UserFacingError):
        await att.check_in(mid, OCC, 999, 3)  # another guild's interaction
    await _close(services, mid)
    assert await _stored_count(services, mid) == 2
    with pytest.raises(UserFacingError):
        await att.check_in(mid, OCC, GUILD, 4)


async def test_counts_hide_open_and_small_numbers(services: Services) -> None:
    mid = await _meeting(services)
    att = services.attendance
    for week in range(5):
        occ = (date(2027, 1, 5) + timedelta(weeks=week)).isoformat()
        await _open(services, mid, occ)
        for user in range(3 if week < 2 else 8):
            await att.check_in(mid, occ, GUILD, 100 + user)
        await _close(services, mid, occ)
    await _open(services, mid, "2027-02-09")
    report = await att.counts(mid)
    assert [r.occurrence.isoformat() for r in report.rows][-1] == "2027-02-02"
    assert [r.shown for r in report.rows] == ["fewer than 5", "fewer than 5", "8", "8", "8"]
    chart = report.chart()
    assert "fewer than 5" in chart and "3" not in chart.replace("2027", "")
    assert str(report.trend) == "rising"
    assert report.trend.render("es") == "en aumento"


def test_chart_does_not_scale_small_counts() -> None:
    rows = (OccurrenceCount(date(2027, 1, 5), 1), OccurrenceCount(date(2027, 1, 12), 4))
    lines = CountReport(1, rows, "steady").chart().splitlines()
    assert lines[0].split()[1] == lines[1].split()[1] == "░"


def test_trend_words() -> None:
    assert str(trend_of([10, 10, 10, 10])) == "steady"
    assert str(trend_of([20, 20, 10, 10])) == "falling"
    assert "not enough" in str(trend_of([1, 2]))


async def test_key_dropped_one_hour_after_close(services: Services, clock: FakeClock) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    await att.check_in(mid, OCC, GUILD, 1)
    await _close(services, mid)
    assert att.proof(GUILD, 1, {mid: "Tuesday night"}, None)
    clock.advance(timedelta(minutes=61))
    await services.jobs.run_due()
    await services.jobs.drain()
    assert att.live() == []
    with pytest.raises(UserFacingError):
        att.proof(GUILD, 1, {mid: "Tuesday night"}, None)


async def test_proof_only_after_check_in_and_verifies(services: Services) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    with pytest.raises(UserFacingError):
        att.proof(GUILD, 1, {mid: "Tuesday night"}, "Pat")
    await att.check_in(mid, OCC, GUILD, 1)
    (slip,) = att.proof(GUILD, 1, {mid: "Tuesday night"}, "Pat Q.")
    assert (slip.title, slip.occurrence, slip.name) == ("Tuesday night", date(2027, 1, 5), "Pat Q.")
    assert len(slip.code) < 120
    again = att.verify(slip.code)
    assert again is not None and again.name == "Pat Q." and again.meeting_id == mid
    body = slip.code[5:]
    for i in range(len(body)):
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        assert att.verify("HVN1-" + flipped) is None
    assert att.verify("nonsense") is None
    assert verify_slip(b"x" * 32, slip.code) is None


def test_slip_round_trip_and_limits() -> None:
    key = b"p" * 32
    code = sign_slip(key, 123456789, "Ñoño " * 30, date(2030, 12, 31), "José")
    slip = verify_slip(key, code)
    assert slip is not None
    assert slip.meeting_id == 123456789 and slip.occurrence == date(2030, 12, 31)
    assert slip.name == "José" and len(slip.title) <= 60


async def test_pseudonyms_rate_limit_and_silence(services: Services, clock: FakeClock) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    first = att.prepare_share(mid, OCC, GUILD, 1, "hello @everyone see https://evil.example/x")
    assert first.pseudonym.startswith("Peer ")
    assert "@everyone" not in first.text and "https://" not in first.text
    with pytest.raises(UserFacingError, match="30 seconds"):
        att.prepare_share(mid, OCC, GUILD, 1, "again")
    clock.advance(timedelta(seconds=31))
    assert att.prepare_share(mid, OCC, GUILD, 1, "again").number == first.number
    other = att.prepare_share(mid, OCC, GUILD, 2, "me too")
    assert other.number != first.number
    assert att.silence(mid, OCC, GUILD, first.number) is True
    assert att.silence(mid, OCC, GUILD, first.number) is False
    clock.advance(timedelta(seconds=31))
    with pytest.raises(UserFacingError, match="paused"):
        att.prepare_share(mid, OCC, GUILD, 1, "let me")
    att.prepare_share(mid, OCC, GUILD, 2, "still fine")
    # A new occurrence: new key, so the silence and the pseudonym do not carry over.
    await _close(services, mid)
    nxt = "2027-01-12"
    await _open(services, mid, nxt)
    att.prepare_share(mid, nxt, GUILD, 1, "new week")


def test_neutralize() -> None:
    text = neutralize("<@123> <@&456> @here go to www.bad.example or discord.gg/abc http://x.y/z")
    assert "<@1" not in text and "<@&4" not in text and "@here" not in text
    assert "www.bad.example" not in text and "discord.gg/" not in text and "http://" not in text


async def test_reopen_keeps_key_and_restart_recovers(services: Services) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    await att.check_in(mid, OCC, GUILD, 1)
    await _close(services, mid)
    await _open(services, mid)  # a facilitator reopens the same occurrence
    assert await att.check_in(mid, OCC, GUILD, 1) is False
    # A restart forgets the key: the room (still open in the database) gets a new one.
    att._live.clear()
    assert await att.check_in(mid, OCC, GUILD, 1) is True
    await _close(services, mid)
    assert await _stored_count(services, mid) == 2


async def test_silence_and_the_share_limit_survive_forget_me(
    services: Services, clock: FakeClock
) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    first = att.prepare_share(mid, OCC, GUILD, 1, "hello")
    # Forget-me right after sharing: the 30-second wait still holds, under a new pseudonym.
    await services.privacy.forget_user(1)
    with pytest.raises(UserFacingError, match="30 seconds"):
        att.prepare_share(mid, OCC, GUILD, 1, "again at once")
    clock.advance(timedelta(seconds=31))
    second = att.prepare_share(mid, OCC, GUILD, 1, "again")
    assert second.number != first.number  # the old pseudonym is unlinked, and never reused
    assert att.silence(mid, OCC, GUILD, second.number) is True
    # Silenced, then forget-me: still silenced.
    await services.privacy.forget_user(1, GUILD)
    clock.advance(timedelta(seconds=31))
    with pytest.raises(UserFacingError, match="paused"):
        att.prepare_share(mid, OCC, GUILD, 1, "I'm back")
    # Nobody else inherits the retired numbers.
    others = {att.prepare_share(mid, OCC, GUILD, 100 + i, "hi").number for i in range(97)}
    assert first.number not in others and second.number not in others


async def test_one_slip_per_check_in(services: Services) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    await att.check_in(mid, OCC, GUILD, 1)
    titles = {mid: "Tuesday night"}
    (slip,) = att.proof(GUILD, 1, titles, "Pat Q.")
    # Asking again, with another name or none, gives back the same slip.
    (again,) = att.proof(GUILD, 1, titles, "Jordan Smith")
    (bare,) = att.proof(GUILD, 1, titles, None)
    assert again == slip and bare == slip and again.name == "Pat Q."
    # Forget-me does not reset it: the name stays in memory until the key is dropped.
    await services.privacy.forget_user(1)
    (after,) = att.proof(GUILD, 1, titles, "Jordan Smith")
    assert after == slip
    # A check-in without a name on its slip keeps that too.
    await att.check_in(mid, OCC, GUILD, 2)
    (anon,) = att.proof(GUILD, 2, titles, None)
    (still,) = att.proof(GUILD, 2, titles, "Jordan Smith")
    assert anon.name == "" and still == anon


async def _stored_count(services: Services, mid: int) -> int:
    value = await services.db.fetchval(
        "SELECT checkins FROM attendance_counts WHERE meeting_id = ?", (mid,)
    )
    return int(value)


async def _writes(db: Database) -> int:
    """Grows with every write: SQLite's change count, or PostgreSQL's next transaction id."""
    if db.dialect == "postgres":
        return int(await db.fetchval("SELECT txid_current()"))
    return int(await db.fetchval("SELECT total_changes()"))


async def _wrote_since(db: Database, before: int) -> bool:
    """Whether anything was written since `before` (a _writes reading)."""
    probe = 1 if db.dialect == "postgres" else 0  # txid_current() itself takes an id
    return await _writes(db) != before + probe


async def test_check_ins_are_counted_in_memory_and_saved_on_a_fixed_cadence(
    services: Services,
    clock: FakeClock,
) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    changes = await _writes(services.db)
    for user in range(1, 4):
        clock.advance(timedelta(seconds=50))
        assert await att.check_in(mid, OCC, GUILD, user) is True
    assert not await _wrote_since(services.db, changes), "a check-in wrote"
    assert await _stored_count(services, mid) == 0
    # The coarse save runs every SAVE_EVERY from the opening, whether anyone checked in or not.
    clock.set(START + SAVE_EVERY)
    await services.jobs.run_due()
    await services.jobs.drain()
    assert await _stored_count(services, mid) == 3
    clock.set(START + SAVE_EVERY * 2)
    await services.jobs.run_due()
    await services.jobs.drain()
    assert await _stored_count(services, mid) == 3
    await att.check_in(mid, OCC, GUILD, 4)
    await _close(services, mid)
    assert await _stored_count(services, mid) == 4
    # After the close no save is left pending for this occurrence.
    assert await services.jobs.pending(kind=SAVE_JOB, meeting_id=mid) == []


async def test_after_a_restart_a_check_in_still_writes_nothing_and_saves_keep_their_cadence(
    services: Services, clock: FakeClock
) -> None:
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    att._live.clear()  # a restart: the key is gone, the room and its save job are stored
    changes = await _writes(services.db)
    assert await att.check_in(mid, OCC, GUILD, 1) is True
    assert not await _wrote_since(services.db, changes), "a check-in wrote"
    clock.set(START + SAVE_EVERY)
    await services.jobs.run_due()
    await services.jobs.drain()
    assert await _stored_count(services, mid) == 1
    (following,) = await services.jobs.pending(kind=SAVE_JOB, meeting_id=mid)
    assert following.fire_at == START + SAVE_EVERY * 2


async def test_forget_me_goes_on_when_the_fleet_cannot_be_told(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The other processes' unlink is at most once: its failure never keeps stored rows."""
    mid = await _meeting(services)
    att = services.attendance
    await _open(services, mid)
    first = att.prepare_share(mid, OCC, GUILD, 424242, "hello")
    await services.reminders.subscribe(GUILD, 424242, mid)

    async def down(channel: str, payload: str) -> None:
        raise ConnectionError(f"lost while sending {payload}")

    monkeypatch.setattr(services.jobs, "tell_fleet", down)
    await services.privacy.forget_user(424242)
    assert await services.db.fetchval("SELECT COUNT(*) FROM reminder_subscriptions") == 0
    assert first.number in att._live[(mid, OCC)].retired  # unlinked here all the same
    assert "could not tell the other processes" in caplog.text
    assert "424242" not in caplog.text
