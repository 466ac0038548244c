"""The data-deletion contract: everything keyed to a user or a guild can be forgotten.

Every table column that holds a Discord user id is named ``*user_id``. A feature that adds such
a column registers it here (``UserData``); a test checks the schema against the registry so no
store can escape forget-me. A store registered ``kept`` is moderation that must outlive forget-me
(it ends on its own); it still says why in /privacy info. Guild purges delete every row of every
table with a ``guild_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.db import Database
from bot.db.repositories import privacy as repo

log = logging.getLogger(__name__)

ForgetHook = Callable[[int, int | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UserData:
    """A table column keyed to a user, whether rows are scoped by guild, and kept by forget-me."""

    table: str
    user_column: str
    guild_column: str | None = "guild_id"
    purpose: str = ""
    kept: bool = False  # forget-me leaves these rows on purpose; a guild purge still deletes them

    def __post_init__(self) -> None:
        for name in (self.table, self.user_column, self.guild_column or "x"):
            repo.check_identifier(name)


class PrivacyService:
    """Runs forget-me for a user (everywhere, or in one guild) and guild purges."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._stores: list[UserData] = []
        self._hooks: list[ForgetHook] = []
        self._hook_purposes: list[str] = []

    def register(self, *stores: UserData) -> None:
        """Declare user-keyed columns; called by each service at construction."""
        for store in stores:
            if store not in self._stores:
                self._stores.append(store)

    def register_hook(self, hook: ForgetHook, purpose: str = "") -> None:
        """Extra clean-up that plain deletes cannot express (e.g. in-memory maps)."""
        self._hooks.append(hook)
        if purpose:
            self._hook_purposes.append(purpose)

    @property
    def stores(self) -> tuple[UserData, ...]:
        """Registered user-keyed columns."""
        return tuple(self._stores)

    def describe(self) -> list[str]:
        """What is stored against a user, one line per store, for /privacy info."""
        return [s.purpose for s in self._stores if s.purpose] + self._hook_purposes

    async def forget_user(self, user_id: int, guild_id: int | None = None) -> int:
        """Delete the user's rows (in one guild, or everywhere) but kept stores; return the count."""
        total = 0
        for hook in self._hooks:
            await hook(user_id, guild_id)
        async with self.db.transaction() as tx:
            for store in self._stores:
                if store.kept:
                    continue
                total += await repo.delete_user_rows(
                    tx,
                    store.table,
                    store.user_column,
                    user_id,
                    guild_column=store.guild_column,
                    guild_id=guild_id,
                )
        # While the bot runs, not only at shutdown: the deleted rows must leave the -wal file.
        await self.db.truncate_wal()
        log.info("forget-me removed %d rows", total)
        return total

    async def purge_guild(self, guild_id: int) -> int:
        """Delete every row of every table that carries this guild's id."""
        total = 0
        tables = await repo.guild_tables(self.db)
        async with self.db.transaction() as tx:
            for table in tables:
                total += await repo.delete_guild_rows(tx, table, guild_id)
        await self.db.truncate_wal()
        log.info("purged guild data: %d rows", total)
        return total
