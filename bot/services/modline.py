"""The anonymous line to moderators: pseudonymous conversations and a hashed blocklist. No Discord.

A conversation row holds the person's user id only sealed with AES-GCM under a sub-key of the
instance key (so the bot can relay moderators' replies by DM), and a keyed hash of guild and user
id to find their open conversation. Blocks keep only a keyed hash under a different sub-key.
Nothing here can be read back into a user id without the instance key.

The pace limits (messages per window, one new conversation an hour) live only in memory, keyed by
a third keyed hash, so forget-me and leaving the server do not reset them; a restart does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.clock import Clock
from bot.db import Database
from bot.db.repositories import modline as repo
from bot.errors import UserFacingError
from bot.i18n import N_, Msg, PluralMsg
from bot.keys import derive_key
from bot.models.modline import Conversation, Opening
from bot.parsing import clean_text, neutralize
from bot.services.privacy import PrivacyService

__all__ = [
    "MESSAGE_LIMIT",
    "MESSAGE_MAX",
    "MESSAGE_WINDOW",
    "NEW_CONVERSATION_EVERY",
    "Conversation",
    "ModLineService",
    "Opening",
]

log = logging.getLogger(__name__)

MESSAGE_MAX = 1800
MESSAGE_LIMIT = 6  # messages a person may send to the moderators of a guild per window
MESSAGE_WINDOW = timedelta(minutes=10)
NEW_CONVERSATION_EVERY = timedelta(hours=1)  # each opens a private thread and adds moderators
_NONCE = 12
_rng = secrets.SystemRandom()


@dataclass(slots=True)
class _Pace:
    """One person's recent use of the line in one guild (memory only)."""

    sent: deque[datetime] = field(default_factory=deque)
    opened: datetime | None = None  # a new conversation; cleared when moderators close it


def _wait_words(delta: timedelta) -> PluralMsg:
    seconds = max(1, math.ceil(delta.total_seconds()))
    if seconds < 60:
        return PluralMsg("{count} second", "{count} seconds", seconds)
    minutes = math.ceil(seconds / 60)
    return PluralMsg("{count} minute", "{count} minutes", minutes)


class ModLineService:
    """Opens, continues, closes and blocks anonymous conversations with moderators."""

    def __init__(self, db: Database, clock: Clock, key: bytes, privacy: PrivacyService) -> None:
        self.db = db
        self.clock = clock
        self._seal = AESGCM(derive_key(key, "modline-seal"))
        self._conversation_key = derive_key(key, "modline-conversation")
        self._block_key = derive_key(key, "modline-block")
        self._pace_key = derive_key(key, "modline-pace")
        self._pace: dict[bytes, _Pace] = {}
        privacy.register_hook(
            self._forget,
            purpose=N_(
                "An open conversation with moderators links its pseudonym to you, encrypted; it is "
                "deleted when the conversation closes. A block keeps only a keyed hash of your "
                "account, which nobody can read back. To limit floods, the bot's memory counts "
                "your recent messages to moderators under a keyed hash for up to an hour; "
                "forget-me does not reset that count."
            ),
        )

    # -- keyed hashes and sealing ---------------------------------------------------------------

    def _hash(self, key: bytes, guild_id: int, user_id: int) -> bytes:
        return hmac.new(key, f"{guild_id}:{user_id}".encode(), hashlib.sha256).digest()

    def conversation_hash(self, guild_id: int, user_id: int) -> bytes:
        """The keyed hash that finds a person's open conversation in a guild."""
        return self._hash(self._conversation_key, guild_id, user_id)

    def block_hash(self, guild_id: int, user_id: int) -> bytes:
        """The keyed hash stored for a blocked person."""
        return self._hash(self._block_key, guild_id, user_id)

    @staticmethod
    def _aad(guild_id: int, pseudonym: str) -> bytes:
        return f"haven-modline:{guild_id}:{pseudonym}".encode()

    def _seal_user(self, guild_id: int, pseudonym: str, user_id: int) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        plain = user_id.to_bytes(8, "big")
        return nonce + self._seal.encrypt(nonce, plain, self._aad(guild_id, pseudonym))

    def _unseal(self, guild_id: int, pseudonym: str, sealed: bytes) -> int:
        try:
            plain = self._seal.decrypt(
                sealed[:_NONCE], sealed[_NONCE:], self._aad(guild_id, pseudonym)
            )
        except InvalidTag:
            raise UserFacingError(
                Msg(
                    "I can't reach the person behind this conversation any more (the instance "
                    "key changed). Close it."
                )
            ) from None
        return int.from_bytes(plain, "big")

    # -- pace limits (memory only, keyed hash, untouched by forget-me) ---------------------------

    def _pace_of(self, guild_id: int, user_id: int) -> _Pace:
        now = self.clock.now()
        for key, pace in list(self._pace.items()):
            while pace.sent and pace.sent[0] <= now - MESSAGE_WINDOW:
                pace.sent.popleft()
            if pace.opened is not None and pace.opened <= now - NEW_CONVERSATION_EVERY:
                pace.opened = None
            if not pace.sent and pace.opened is None:
                del self._pace[key]
        return self._pace.setdefault(self._hash(self._pace_key, guild_id, user_id), _Pace())

    def admit(self, guild_id: int, user_id: int) -> None:
        """Count one message from this person, or refuse it (saying when) past the limit."""
        pace = self._pace_of(guild_id, user_id)
        if len(pace.sent) >= MESSAGE_LIMIT:
            wait = pace.sent[0] + MESSAGE_WINDOW - self.clock.now()
            window = int(MESSAGE_WINDOW.total_seconds() // 60)
            raise UserFacingError(
                Msg(
                    "You can send the moderators {limit} messages every {window} minutes; "
                    "please try again in {wait}. If you are in danger right now, `/crisis` "
                    "lists crisis lines near you.",
                    limit=MESSAGE_LIMIT,
                    window=window,
                    wait=_wait_words(wait),
                )
            )
        pace.sent.append(self.clock.now())

    # -- peers ----------------------------------------------------------------------------------

    @staticmethod
    def clean_message(text: str) -> str:
        """A message to or from moderators: plain text within the limit."""
        return clean_text(text, field="message", max_len=MESSAGE_MAX, multiline=True)

    @classmethod
    def peer_message(cls, text: str) -> str:
        """An anonymous message as moderators see it: no clickable link, no mention (as /share)."""
        return neutralize(cls.clean_message(text))

    async def is_blocked(self, guild_id: int, user_id: int) -> bool:
        """Whether this person is blocked from the line in this guild."""
        return await repo.is_blocked(self.db, guild_id, self.block_hash(guild_id, user_id))

    async def begin(self, guild_id: int, user_id: int) -> Opening:
        """The open conversation of this person, or a fresh pseudonym; refuses blocked people."""
        if await self.is_blocked(guild_id, user_id):
            raise UserFacingError(
                Msg("You can't send messages to this server's moderators through Haven.")
            )
        conv = await repo.by_user_hash(self.db, guild_id, self.conversation_hash(guild_id, user_id))
        if conv is not None:
            return Opening(conv, conv.pseudonym)
        # Also after forget-me, which deletes the conversation but not this memory: otherwise
        # each forget-me would open another private thread with every moderator added again.
        opened = self._pace_of(guild_id, user_id).opened
        if opened is not None:
            wait = opened + NEW_CONVERSATION_EVERY - self.clock.now()
            raise UserFacingError(
                Msg(
                    "You started a conversation with the moderators less than an hour ago. A "
                    "new conversation can be started once an hour: please try again in {wait}. "
                    "If you are in danger right now, `/crisis` lists crisis lines near you.",
                    wait=_wait_words(wait),
                )
            )
        taken = await repo.pseudonyms(self.db, guild_id)
        for _attempt in range(50):
            name = f"Anon-{_rng.randint(1000, 9999)}"
            if name not in taken:
                return Opening(None, name)
        raise UserFacingError(
            Msg("The moderators have too many open conversations; try again later.")
        )

    async def register(
        self, guild_id: int, user_id: int, pseudonym: str, thread_id: int
    ) -> Conversation:
        """Store a new conversation once its thread exists."""
        async with self.db.transaction() as tx:
            conv_id = await repo.insert_conversation(
                tx,
                guild_id,
                pseudonym,
                thread_id,
                self.conversation_hash(guild_id, user_id),
                self._seal_user(guild_id, pseudonym, user_id),
                self.clock.now(),
            )
        self._pace_of(guild_id, user_id).opened = self.clock.now()
        return Conversation(conv_id, guild_id, pseudonym, thread_id)

    # -- moderators -----------------------------------------------------------------------------

    async def by_thread(self, thread_id: int) -> Conversation | None:
        """The open conversation shown in a thread, if any."""
        return await repo.by_thread(self.db, thread_id)

    async def by_id(self, conversation_id: int) -> Conversation | None:
        """An open conversation by id, if it still exists."""
        return await repo.by_id(self.db, conversation_id)

    async def recipient(self, conversation: Conversation) -> int:
        """The user id to deliver a reply to (used only to send the DM, never shown)."""
        sealed = await repo.sealed_user(self.db, conversation.id)
        if sealed is None:
            raise UserFacingError(Msg("This conversation was closed."))
        return self._unseal(conversation.guild_id, conversation.pseudonym, sealed)

    async def close(self, conversation: Conversation) -> int | None:
        """Delete the conversation (and with it the sealed mapping); return whom to tell, if known."""
        async with self.db.transaction() as tx:
            sealed = await repo.sealed_user(tx, conversation.id)
            if sealed is None:
                return None
            await repo.delete_conversation(tx, conversation.id)
        await self.db.truncate_wal()  # no copy of the hash or the sealed id stays in the log
        try:
            user_id = self._unseal(conversation.guild_id, conversation.pseudonym, sealed)
        except UserFacingError:
            return None
        # Moderators ended it, so the person may start a new one at once.
        self._pace_of(conversation.guild_id, user_id).opened = None
        return user_id

    async def block(self, conversation: Conversation) -> bool:
        """Block the person behind a conversation (only a keyed hash is kept) and close it."""
        async with self.db.transaction() as tx:
            sealed = await repo.sealed_user(tx, conversation.id)
            if sealed is None:
                return False
            user_id = self._unseal(conversation.guild_id, conversation.pseudonym, sealed)
            await repo.insert_block(
                tx,
                conversation.guild_id,
                self.block_hash(conversation.guild_id, user_id),
                conversation.pseudonym,
                self.clock.now(),
            )
            await repo.delete_conversation(tx, conversation.id)
        await self.db.truncate_wal()
        return True

    async def _forget(self, user_id: int, guild_id: int | None) -> None:
        """Forget-me: delete this person's open conversations (blocks stay: they hold no id)."""
        if guild_id is not None:
            guilds = [guild_id]
        else:
            guilds = await repo.conversation_guilds(self.db)
        if not guilds:
            return
        async with self.db.transaction() as tx:
            for gid in guilds:
                await repo.delete_by_user_hash(tx, gid, self.conversation_hash(gid, user_id))
