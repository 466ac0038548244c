"""ModLineService: sealed mapping, keyed hashes only, close, block and forget-me."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.errors import UserFacingError
from bot.services import Services
from bot.services.modline import (
    MESSAGE_LIMIT,
    MESSAGE_WINDOW,
    NEW_CONVERSATION_EVERY,
    ModLineService,
)

# The database tests run on SQLite and on PostgreSQL (tests/unit/conftest.py).
pytestmark = pytest.mark.both_backends

GUILD = 10
USER = 345678901234567890


# `services` (tests/unit/conftest.py) starts its clock at 2027-01-01 00:00 UTC.


async def _open(line: ModLineService, user: int = USER, thread: int = 555) -> int:
    opening = await line.begin(GUILD, user)
    assert opening.conversation is None
    conv = await line.register(GUILD, user, opening.pseudonym, thread)
    return conv.id


async def test_open_continue_and_relay(services: Services) -> None:
    line = services.modline
    conv_id = await _open(line)
    again = await line.begin(GUILD, USER)
    assert again.conversation is not None and again.conversation.id == conv_id
    conv = await line.by_thread(555)
    assert conv is not None and conv.pseudonym.startswith("Anon-")
    assert await line.recipient(conv) == USER
    other = await line.begin(GUILD, USER + 1)
    assert other.conversation is None and other.pseudonym != conv.pseudonym
    row = await services.db.fetchone("SELECT * FROM modline_conversations")
    assert row is not None
    raw = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in tuple(row))
    assert str(USER).encode() not in raw
    assert USER.to_bytes(8, "big") not in raw and USER.to_bytes(8, "little") not in raw


async def test_close_deletes_mapping(services: Services) -> None:
    line = services.modline
    await _open(line)
    conv = await line.by_thread(555)
    assert conv is not None
    assert await line.close(conv) == USER
    assert await services.db.fetchval("SELECT count(*) FROM modline_conversations") == 0
    assert await line.close(conv) is None
    assert (await line.begin(GUILD, USER)).conversation is None


async def test_block_keeps_only_a_keyed_hash(services: Services) -> None:
    line = services.modline
    await _open(line)
    conv = await line.by_thread(555)
    assert conv is not None
    assert await line.block(conv) is True
    assert await services.db.fetchval("SELECT count(*) FROM modline_conversations") == 0
    row = await services.db.fetchone("SELECT user_hash, pseudonym FROM modline_blocks")
    assert row is not None and bytes(row[0]) == line.block_hash(GUILD, USER)
    assert bytes(row[0]) != line.conversation_hash(GUILD, USER)
    with pytest.raises(UserFacingError, match="can't send"):
        await line.begin(GUILD, USER)
    assert await line.is_blocked(GUILD + 1, USER) is False
    assert (await line.begin(GUILD, USER + 1)).conversation is None


async def test_forget_me_deletes_conversations(services: Services) -> None:
    line = services.modline
    await _open(line, thread=1)
    await _open(line, user=USER + 1, thread=2)
    await services.privacy.forget_user(USER)
    assert await line.by_thread(1) is None
    assert await line.by_thread(2) is not None
    await services.privacy.forget_user(USER + 1, GUILD)
    assert await line.by_thread(2) is None


async def test_other_instance_key_cannot_unseal(services: Services, tmp_path: Path) -> None:
    await _open(services.modline)
    conv = await services.modline.by_thread(555)
    assert conv is not None
    stranger = ModLineService(services.db, services.clock, b"z" * 32, services.privacy)
    with pytest.raises(UserFacingError):
        await stranger.recipient(conv)


async def test_messages_are_rate_limited_and_the_refusal_says_when(
    services: Services, clock: FakeClock
) -> None:
    line = services.modline
    sent = 0
    refusals: list[str] = []
    for _ in range(15):
        try:
            line.admit(GUILD, USER)
            sent += 1
        except UserFacingError as exc:
            refusals.append(exc.message)
    assert sent == MESSAGE_LIMIT < 15
    assert len(refusals) == 15 - MESSAGE_LIMIT
    assert "try again in 10 minutes" in refusals[0]
    clock.advance(MESSAGE_WINDOW - timedelta(minutes=3, seconds=30))
    with pytest.raises(UserFacingError, match="try again in 4 minutes"):
        line.admit(GUILD, USER)
    line.admit(GUILD, USER + 1)  # someone else, and
    line.admit(GUILD + 1, USER)  # the same person in another server, are not held back
    clock.advance(timedelta(minutes=4))
    line.admit(GUILD, USER)


async def test_the_limits_are_kept_by_a_keyed_hash_and_survive_forget_me(
    services: Services,
) -> None:
    line = services.modline
    for _ in range(MESSAGE_LIMIT):
        line.admit(GUILD, USER)
    await services.privacy.forget_user(USER)
    await services.privacy.forget_user(USER, GUILD)  # leaving the server
    with pytest.raises(UserFacingError, match="try again in"):
        line.admit(GUILD, USER)
    held = repr(vars(line))  # what the service keeps in memory: no id, in any form
    assert str(USER) not in held and repr(USER.to_bytes(8, "big"))[2:-1] not in held


async def test_one_new_conversation_an_hour_even_across_forget_me(
    services: Services, clock: FakeClock
) -> None:
    line = services.modline
    await _open(line, thread=1)
    await services.privacy.forget_user(USER)
    # Forget-me deleted the conversation; a new thread with every moderator added is refused.
    with pytest.raises(UserFacingError, match="new conversation") as refused:
        await line.begin(GUILD, USER)
    assert "try again in 60 minutes" in refused.value.message
    assert await services.db.fetchval("SELECT count(*) FROM modline_conversations") == 0
    other = await line.begin(GUILD, USER + 1)  # others are not held back
    assert other.conversation is None
    clock.advance(NEW_CONVERSATION_EVERY)
    assert (await line.begin(GUILD, USER)).conversation is None


async def test_a_moderator_closing_the_conversation_lets_the_person_start_again(
    services: Services,
) -> None:
    line = services.modline
    await _open(line, thread=1)
    conv = await line.by_thread(1)
    assert conv is not None
    assert await line.close(conv) == USER
    assert (await line.begin(GUILD, USER)).conversation is None
