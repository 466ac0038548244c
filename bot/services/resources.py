"""The per-guild resource library: shipped cards, guild overrides, suggestions and their vetting.

Discord-free. Shipped cards (data/resources) are approved for every guild; harm-reduction ones start
disabled. A guild can disable or enable any card, re-verify it, add its own cards (moderators) and
suggest cards (anyone) that moderators approve or reject. Only approved, enabled cards are shareable.
Every bad input raises UserFacingError before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from bot.clock import Clock
from bot.cluster import Shards, shard_of
from bot.db import Database
from bot.db.repositories import resources as repo
from bot.errors import NotFoundError, UserFacingError
from bot.i18n import N_, Msg
from bot.jobs import Job, JobEngine, NewJob
from bot.models.resources import Card, Draft, Origin, Status
from bot.services.card_drafts import (
    contacts_text,
    parse_region,
    parse_tags,
    validate,
)
from bot.services.privacy import PrivacyService, UserData
from bot.services.shipped_cards import (
    crisis_cards_for,
    known_region,
    load_default_cards,
)

log = logging.getLogger(__name__)

#: Suggestions one person may have waiting for review in a guild (keeps the queue readable).
MAX_PENDING_PER_USER = 3

STALE_JOB = "resources.stale"
STALE_WEEKDAY = 0  # Monday
STALE_AT = time(15, 0)


class ReviewDesk(Protocol):
    """What the Discord glue provides for the weekly check: the guilds, and a word to moderators."""

    def guild_ids(self) -> list[int]:
        """The guilds the bot is in now."""
        ...

    async def flag_stale(self, guild_id: int, cards: list[Card]) -> None:
        """Tell a guild's moderators which cards are due for re-checking."""
        ...


def next_weekly(now: datetime) -> datetime:
    """The next stale-card check after `now` (Mondays, 15:00 UTC)."""
    days = (STALE_WEEKDAY - now.weekday()) % 7
    candidate = datetime.combine(now.date() + timedelta(days=days), STALE_AT, tzinfo=UTC)
    if candidate <= now:
        candidate += timedelta(days=7)
    return candidate


class ResourceLibrary:
    """Reads and changes a guild's resource library; flags stale cards weekly."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        privacy: PrivacyService,
        shipped: Mapping[str, Card] | None = None,
        *,
        jobs: JobEngine | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.jobs = jobs
        self.desk: ReviewDesk | None = None  # installed by cogs.resources
        self.shipped: dict[str, Card] = dict(
            shipped if shipped is not None else load_default_cards()
        )
        privacy.register(
            UserData(
                "resource_cards",
                "suggested_by_user_id",
                purpose=N_(
                    "Resource cards you suggested: forget-me deletes pending and rejected ones and "
                    "removes your name from approved ones."
                ),
            ),
            UserData(
                "resource_cards",
                "approved_by_user_id",
                purpose=N_(
                    "For moderators: which resource cards you approved (forget-me removes your "
                    "name and keeps the card)."
                ),
            ),
        )
        privacy.register_hook(self.forget_user)
        if jobs is not None:
            jobs.register(STALE_JOB, self._on_stale_jobs)
            jobs.add_reconciler(self.ensure_stale_job)

    def today(self) -> date:
        """Today's date (UTC) from the injected clock."""
        return self.clock.now().date()

    # -- reading -------------------------------------------------------------

    async def all_cards(self, guild_id: int) -> list[Card]:
        """Every card the guild knows, in any state: shipped first, then its own."""
        return await repo.all_cards(self.db, guild_id, self.shipped)

    async def get(self, guild_id: int, card_id: str) -> Card:
        """One card of the guild by id, in any state."""
        card = await repo.get_card(self.db, guild_id, card_id.strip().lower(), self.shipped)
        if card is None:
            raise NotFoundError(
                Msg(
                    "There is no resource card with that id here. Start typing a title or a tag "
                    "and pick a card from the list."
                )
            )
        return card

    async def shareable(self, guild_id: int, card_id: str) -> Card:
        """A card that may be shown or shared: approved and enabled."""
        card = await self.get(guild_id, card_id)
        if card.status is Status.PENDING:
            raise UserFacingError(
                Msg(
                    "That card is waiting for a moderator's review; it can be shared once approved."
                )
            )
        if card.status is Status.REJECTED:
            raise UserFacingError(
                Msg("That card was not approved, so it can't be shown or shared.")
            )
        if not card.enabled:
            raise UserFacingError(
                Msg(
                    "That card is turned off in this server. A moderator can turn it on with "
                    "`/resource enable`."
                )
            )
        return card

    async def list_cards(
        self,
        guild_id: int,
        *,
        tag: str | None = None,
        region: str | None = None,
        home_region: str | None = None,
    ) -> list[Card]:
        """Shareable cards by tag and region: that region (or the server's) first, then worldwide."""
        wanted_tag = next(iter(parse_tags(tag))) if tag else None
        wanted_region = parse_region(region) if region else None
        # With no region set, worldwide cards lead: they help every reader, wherever they are.
        first = wanted_region or known_region(home_region)
        result = []
        for card in await self.all_cards(guild_id):
            if not card.shareable:
                continue
            if wanted_tag and wanted_tag not in card.tags:
                continue
            if wanted_region and card.region not in (wanted_region, "intl"):
                continue
            result.append(card)
        result.sort(
            key=lambda c: (
                0 if c.region == first else 1 if c.region == "intl" else 2,
                c.region,
                c.title.casefold(),
            )
        )
        return result

    async def search(
        self, guild_id: int, text: str, *, include_all: bool = False, limit: int = 25
    ) -> list[Card]:
        """Cards whose title, id or tag matches what was typed (for autocomplete)."""
        needle = text.strip().casefold()
        scored: list[tuple[int, str, Card]] = []
        for card in await self.all_cards(guild_id):
            if not include_all and not card.shareable:
                continue
            if include_all and card.status is Status.REJECTED:
                continue
            title = card.title.casefold()
            if not needle:
                score = 3
            elif title.startswith(needle) or card.id == needle:
                score = 0
            elif needle in title:
                score = 1
            elif any(t.startswith(needle) for t in card.tags) or needle in card.id:
                score = 2
            else:
                continue
            scored.append((score, title, card))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [card for *_score, card in scored[:limit]]

    async def pending(self, guild_id: int) -> list[Card]:
        """Cards waiting for review, oldest first."""
        return await repo.pending_cards(self.db, guild_id)

    async def stale(self, guild_id: int) -> list[Card]:
        """Shareable cards past their review date (by the injected clock)."""
        today = self.today()
        return [c for c in await self.all_cards(guild_id) if c.shareable and c.is_stale(today)]

    def crisis_cards(self, region: str | None, language: str = "en") -> list[Card]:
        """Shipped crisis cards for a region (plus worldwide), in `language` where sourced. No I/O."""
        return crisis_cards_for(self.shipped, region, language)

    def crisis_cards_missing(self, language: str, region: str | None) -> list[Card]:
        """The crisis cards /crisis shows for a region that have no sourced text in `language`."""
        return [c for c in self.crisis_cards(region) if not c.has_text_in(language)]

    # -- writing -------------------------------------------------------------

    async def suggest(self, guild_id: int, user_id: int, draft: Draft) -> Card:
        """Store a suggestion for review; nothing is stored if any field is bad."""
        card = validate(draft, today=self.today())
        waiting = await repo.count_waiting(self.db, guild_id, user_id)
        if waiting >= MAX_PENDING_PER_USER:
            raise UserFacingError(
                Msg(  # never fewer than MAX_PENDING_PER_USER (3): always the plural
                    "You already have {count} suggestions waiting for review. Please wait until "
                    "a moderator has looked at them, then suggest more.",
                    count=waiting,
                )
            )
        return await self._insert(guild_id, card, Status.PENDING, Origin.SUGGESTED, user_id)

    async def add(
        self,
        guild_id: int,
        moderator_id: int,
        draft: Draft,
        *,
        region: str,
        verified_on: date | None = None,
    ) -> Card:
        """A moderator adds an approved card, naming its source and verified-on date."""
        today = self.today()
        checked_on = self.check_verified_on(verified_on or today)
        card = validate(
            draft,
            today=today,
            region=parse_region(region),
            tags=parse_tags(draft.tags),
            verified_on=checked_on,
        )
        return await self._insert(
            guild_id, card, Status.APPROVED, Origin.ADDED, None, approved_by=moderator_id
        )

    async def _insert(
        self,
        guild_id: int,
        card: Card,
        status: Status,
        origin: Origin,
        suggested_by: int | None,
        *,
        approved_by: int | None = None,
    ) -> Card:
        """Store a validated card for a guild and return it."""
        async with self.db.transaction() as tx:
            card_id = await repo.insert_card(
                tx,
                guild_id,
                replace(card, status=status, origin=origin),
                suggested_by=suggested_by,
                approved_by=approved_by,
                now=self.clock.now(),
            )
        return await self.get(guild_id, card_id)

    def check_verified_on(self, when: date) -> date:
        """Return the date, or raise if it is in the future."""
        if when > self.today():
            raise UserFacingError(
                Msg(
                    "The verified-on date is in the future. Use the date you checked the source, "
                    "as `YYYY-MM-DD`."
                )
            )
        return when

    async def approve(
        self,
        guild_id: int,
        card_id: str,
        moderator_id: int,
        *,
        source_url: str | None = None,
        verified_on: date | None = None,
        revision: int | None = None,
    ) -> Card:
        """Approve a pending card; the moderator sets its source and verified-on date."""
        card = await self.get(guild_id, card_id)
        self.check_reviewable(card, revision)
        checked_on = self.check_verified_on(verified_on or self.today())
        url = (source_url or card.source_url or "").strip()
        draft = Draft(
            title=card.title,
            summary=card.summary,
            source_url=url,
            contacts=contacts_text(card.contacts),
        )
        checked = validate(
            draft, today=self.today(), region=card.region, tags=card.tags, verified_on=checked_on
        )
        async with self.db.transaction() as tx:
            changed = await repo.approve(
                tx,
                guild_id,
                card,
                source_url=checked.source_url,
                verified_on=checked_on,
                moderator_id=moderator_id,
                now=self.clock.now(),
            )
        if not changed:  # someone else reviewed it in between
            self.check_reviewable(await self.get(guild_id, card_id), revision)
        return await self.get(guild_id, card_id)

    async def reject(
        self, guild_id: int, card_id: str, moderator_id: int, *, revision: int | None = None
    ) -> Card:
        """Reject a pending card (it stays out of every list)."""
        card = await self.get(guild_id, card_id)
        self.check_reviewable(card, revision)
        async with self.db.transaction() as tx:
            changed = await repo.reject(tx, guild_id, card, now=self.clock.now())
        if not changed:
            self.check_reviewable(await self.get(guild_id, card_id), revision)
        return await self.get(guild_id, card_id)

    def check_reviewable(self, card: Card, revision: int | None) -> None:
        """Raise unless the card is a pending guild card at the given revision."""
        if card.shipped:
            raise UserFacingError(Msg("Shipped cards are approved already; nothing to review."))
        if card.status is not Status.PENDING:
            when = card.approved_at if card.status is Status.APPROVED else card.rejected_at
            day = when.date().isoformat() if when else "—"
            raise UserFacingError(
                Msg("This card was already approved (on {day}). Nothing changed.", day=day)
                if card.status is Status.APPROVED
                else Msg("This card was already rejected (on {day}). Nothing changed.", day=day)
            )
        if revision is not None and revision != card.revision:
            raise UserFacingError(
                Msg(
                    "This card was edited after this review message was posted. Review the "
                    "newest version (see `/resource review`)."
                )
            )

    def check_editable(self, card: Card) -> None:
        """Raise for shipped cards, which are edited in data/resources, not in Discord."""
        if card.shipped:
            raise UserFacingError(
                Msg(
                    "Shipped cards can't be edited in Discord. Turn it off with "
                    "`/resource disable`, add a corrected card with `/resource add`, and tell the "
                    "bot's operator so the shipped file is fixed."
                )
            )

    async def edit(
        self, guild_id: int, card_id: str, draft: Draft, *, region: str | None = None
    ) -> Card:
        """Change a guild card's content; it goes back to review (pending) until re-approved."""
        card = await self.get(guild_id, card_id)
        self.check_editable(card)
        new_region = parse_region(region) if region else card.region
        checked = validate(
            draft, today=self.today(), region=new_region, tags=parse_tags(draft.tags)
        )
        async with self.db.transaction() as tx:
            await repo.replace_content(tx, guild_id, card, checked, now=self.clock.now())
        return await self.get(guild_id, card_id)

    async def set_enabled(self, guild_id: int, card_id: str, enabled: bool) -> Card:
        """Turn a card on or off for this guild."""
        card = await self.get(guild_id, card_id)
        if card.enabled == enabled:
            raise UserFacingError(
                Msg("That card is already turned on. Nothing changed.")
                if enabled
                else Msg("That card is already turned off. Nothing changed.")
            )
        async with self.db.transaction() as tx:
            await repo.set_enabled(tx, guild_id, card, enabled, now=self.clock.now())
        return replace(card, enabled=enabled)

    async def verify(self, guild_id: int, card_id: str) -> Card:
        """Record that a moderator re-checked the card today."""
        card = await self.get(guild_id, card_id)
        if card.status is not Status.APPROVED:
            raise UserFacingError(
                Msg(
                    "Only approved cards can be marked verified; approve it first "
                    "(`/resource review`)."
                )
            )
        async with self.db.transaction() as tx:
            await repo.set_verified_on(tx, guild_id, card, self.today(), now=self.clock.now())
        return card.verified(self.today())

    async def set_review_message(
        self, guild_id: int, card_id: str, channel_id: int, message_id: int
    ) -> None:
        """Remember where a card's Approve / Reject buttons were posted."""
        card = await self.get(guild_id, card_id)
        async with self.db.transaction() as tx:
            await repo.set_review_message(tx, guild_id, card, channel_id, message_id)

    async def forget_user(self, user_id: int, guild_id: int | None) -> None:
        """Forget-me: drop a user's unapproved suggestions; keep approved cards without their id."""
        async with self.db.transaction() as tx:
            await repo.forget_user(tx, user_id, guild_id)

    # -- the weekly stale-card check -------------------------------------------

    def _require_desk(self) -> ReviewDesk:
        if self.desk is None:
            raise RuntimeError("no review desk is installed (cogs.resources not loaded)")
        return self.desk

    async def flag_stale(self, guild_id: int) -> list[Card]:
        """Tell the guild's moderators which cards are past their review date."""
        stale = await self.stale(guild_id)
        if stale:
            await self._require_desk().flag_stale(guild_id, stale)
        return stale

    async def flag_stale_everywhere(self, shards: Shards | None = None, shard: int = 0) -> int:
        """Run the stale-card check for every guild (of one shard); return how many had stale cards."""
        flagged = 0
        for guild_id in self._require_desk().guild_ids():
            if shards is not None and shard_of(guild_id, shards.count) != shard:
                continue
            try:
                if await self.flag_stale(guild_id):
                    flagged += 1
            except Exception:
                log.exception("stale-card check failed for a guild")
        return flagged

    async def ensure_stale_job(self) -> None:
        """Reconciler: keep one pending weekly stale-card job per shard while the glue has a desk.

        Each process holds only its shards' guilds, so every shard has its own check, owned by a
        stand-in guild id that Discord's formula puts on that shard (shard 0 keeps guild 0).
        """
        if self.jobs is None or self.desk is None:
            return
        when = next_weekly(self.clock.now())
        count = self.jobs.shards.count if self.jobs.shards is not None else 1
        new = [
            NewJob(
                kind=STALE_JOB,
                guild_id=shard << 22,
                fire_at=when,
                occurrence=when.date().isoformat(),
                slot=str(shard) if shard else "",
            )
            for shard in range(count)
        ]
        async with self.db.transaction() as tx:
            earliest = await self.jobs.add(tx, new)
        self.jobs.wake_for(earliest)

    async def _on_stale_jobs(self, jobs: list[Job]) -> None:
        """Job handler: flag stale cards of each job's shard, then schedule next week's check."""
        assert self.jobs is not None
        shards = self.jobs.shards
        for job in jobs:
            shard = shard_of(job.guild_id, shards.count) if shards is not None else 0
            await self.flag_stale_everywhere(shards, shard)
        async with self.db.transaction() as tx:
            for job in jobs:
                await self.jobs.complete(tx, job)
        await self.ensure_stale_job()
