"""The per-guild resource library: shipped cards, guild overrides, suggestions and their vetting.

Discord-free. Shipped cards (data/resources) are approved for every guild; harm-reduction ones start
disabled. A guild can disable or enable any card, re-verify it, add its own cards (moderators) and
suggest cards (anyone) that moderators approve or reject. Only approved, enabled cards are shareable.
Every bad input raises UserFacingError before anything is written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from bot.clock import Clock
from bot.db import Database
from bot.db.repositories import resources as repo
from bot.errors import NotFoundError, UserFacingError
from bot.i18n import N_, Msg, PluralMsg, _
from bot.jobs import Job, JobEngine, NewJob
from bot.models.resources import Card, Contact, Draft, Origin, Status
from bot.parsing import contains_mention
from bot.services.privacy import PrivacyService, UserData
from bot.services.shipped_cards import (
    CONTACT_KINDS,
    KNOWN_REGIONS,
    KNOWN_TAGS,
    MAX_CONTACTS,
    MAX_SUMMARY_LEN,
    MAX_TITLE_LEN,
    MAX_URL_LEN,
    CardError,
    crisis_cards_for,
    known_region,
    load_default_cards,
    normalize_region,
    parse_card,
    too_long,
)

log = logging.getLogger(__name__)

DEFAULT_REVIEW_DAYS = 180
CRISIS_REVIEW_DAYS = 90
NA_DISCLAIMER = N_(
    "Haven is not affiliated with or endorsed by Narcotics Anonymous or NA World Services."
)
# Singular subjects, so a Spanish reason ("tiene 120 caracteres") agrees with every one of them.
_FIELD_LABELS = {
    "title": Msg("The title"),
    "summary": Msg("The summary"),
    "source_url": Msg("The source link"),
    "region": Msg("The region"),
    "tags": Msg("The tag list"),
    "contacts": Msg("The contact list"),
}
_SPLIT_RE = re.compile(r"[\s,;]+")

#: Suggestions one person may have waiting for review in a guild (keeps the queue readable).
MAX_PENDING_PER_USER = 3

#: Longest contacts text accepted from a modal (8 lines of kind: value | label).
MAX_CONTACTS_TEXT = 1000

STALE_JOB = "resources.stale"
STALE_WEEKDAY = 0  # Monday
STALE_AT = time(15, 0)


def _user_error(exc: CardError) -> UserFacingError:
    """A CardError as a friendly message naming the field (never repeating the input)."""
    field = exc.field or ""
    label = _FIELD_LABELS.get(field.split("[")[0]) or Msg("The card")
    if field.startswith("contacts["):
        number = int(field.split("[")[1].split("]")[0]) + 1
        label = Msg("The contact on line {number}", number=number)
        if field.endswith(".label"):
            label = Msg("The label of the contact on line {number}", number=number)
    return UserFacingError(Msg("{field} {reason}.", field=label, reason=exc.text))


def parse_tags(text: str | Iterable[str]) -> frozenset[str]:
    """Tags from 'naloxone, overdose' (case-insensitive, from the fixed list)."""
    items = _SPLIT_RE.split(text) if isinstance(text, str) else list(text)
    tags = [t.strip().lower() for t in items if t.strip()]
    known = ", ".join(sorted(KNOWN_TAGS))
    if not tags:
        raise UserFacingError(Msg("Give at least one tag. Tags: {tags}.", tags=known))
    unknown = [t for t in tags if t not in KNOWN_TAGS]
    if unknown:
        raise UserFacingError(
            PluralMsg(
                "{count} tag is not one Haven knows. Use tags from this list: {tags}.",
                "{count} tags are not ones Haven knows. Use tags from this list: {tags}.",
                len(unknown),
                tags=known,
            )
        )
    return frozenset(tags)


def parse_region(text: str) -> str:
    """A card region (US, CA, GB, IE, AU or intl); 'UK' means GB."""
    try:
        return normalize_region(text)
    except CardError:
        known = ", ".join(sorted(KNOWN_REGIONS, key=str.lower))
        raise UserFacingError(
            Msg("That is not a region Haven knows. Use one of: {regions}.", regions=known)
        ) from None


def parse_region_and_tags(text: str) -> tuple[str, frozenset[str]]:
    """'US: naloxone, overdose' -> ('US', {'naloxone', 'overdose'}): the region first, then tags."""
    parts = [p for p in _SPLIT_RE.split(text.replace(":", " ")) if p]
    if len(parts) < 2:
        raise UserFacingError(
            Msg("Write the region first, then at least one tag, e.g. `US: naloxone, overdose`.")
        )
    return parse_region(parts[0]), parse_tags(parts[1:])


def parse_contacts(text: str, fallback_url: str | None = None) -> list[dict[str, str]]:
    """Contacts from lines like 'phone: 988 | Call 988', '741741' or 'https://...'."""
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if len(lines) > MAX_CONTACTS:
        raise UserFacingError(
            Msg("Give at most {limit} contacts, one per line.", limit=MAX_CONTACTS)
        )
    contacts: list[dict[str, str]] = []
    for line in lines:
        body, _bar, label = line.partition("|")
        kind, sep, value = body.partition(":")
        kind = kind.strip().lower()
        if sep and kind in CONTACT_KINDS:
            body = value
        elif body.strip().lower().startswith(("https:", "http:", "javascript:")) or "://" in body:
            kind = "url"
        elif "@" in body and " " not in body.strip():
            kind = "email"
        else:
            kind = "phone"
        entry = {"kind": kind, "value": body.strip()}
        if label.strip():
            entry["label"] = label.strip()
        contacts.append(entry)
    if not contacts and fallback_url:
        # Stored with the card, in the words of the person who typed it.
        contacts.append({"kind": "url", "value": fallback_url.strip(), "label": _("Website")})
    if not contacts:
        raise UserFacingError(Msg("Give at least one contact: a phone or text number, or a link."))
    return contacts


def validate(
    draft: Draft,
    *,
    today: date,
    region: str | None = None,
    tags: frozenset[str] | None = None,
    verified_on: date | None = None,
    review_days: int | None = None,
) -> Card:
    """Check a draft with the same rules as the shipped cards; return it as a Card."""
    if region is None or tags is None:
        region, tags = parse_region_and_tags(f"{draft.region} {draft.tags}")
    for name, text, limit in (
        ("title", draft.title.strip(), MAX_TITLE_LEN),
        ("summary", draft.summary.strip(), MAX_SUMMARY_LEN),
        ("contacts", draft.contacts, MAX_CONTACTS_TEXT),
        ("source_url", draft.source_url.strip(), MAX_URL_LEN),
    ):
        if contains_mention(text):
            raise UserFacingError(
                Msg(
                    "{field} contains a Discord mention (@everyone, @here, a user, role or "
                    "channel); remove it.",
                    field=_FIELD_LABELS[name],
                )
            )
        if len(text) > limit:
            raise _user_error(CardError(too_long(len(text), limit), field=name))
    days = review_days or (CRISIS_REVIEW_DAYS if "crisis" in tags else DEFAULT_REVIEW_DAYS)
    data = {
        "id": "g-0",
        "title": draft.title,
        "summary": draft.summary,
        "contacts": parse_contacts(draft.contacts, fallback_url=draft.source_url),
        "region": region,
        "tags": sorted(tags),
        "source_url": draft.source_url,
        "verified_on": verified_on or today,
        "review_days": days,
        "enabled_by_default": False,
    }
    try:
        return parse_card(data, today=today, language=None)
    except CardError as exc:
        raise _user_error(exc) from None


def contacts_text(contacts: Iterable[Contact]) -> str:
    """Contacts back to the modal's one-per-line form (for prefilling an edit)."""
    return "\n".join(
        f"{c.kind}: {c.value}" + (f" | {c.label}" if c.label else "") for c in contacts
    )


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

    async def flag_stale_everywhere(self) -> int:
        """Run the stale-card check for every guild; return how many guilds had stale cards."""
        flagged = 0
        for guild_id in self._require_desk().guild_ids():
            try:
                if await self.flag_stale(guild_id):
                    flagged += 1
            except Exception:
                log.exception("stale-card check failed for a guild")
        return flagged

    async def ensure_stale_job(self) -> None:
        """Reconciler: keep one pending weekly stale-card job while the glue has a desk."""
        if self.jobs is None or self.desk is None:
            return
        when = next_weekly(self.clock.now())
        job = NewJob(kind=STALE_JOB, guild_id=0, fire_at=when, occurrence=when.date().isoformat())
        async with self.db.transaction() as tx:
            earliest = await self.jobs.add(tx, [job])
        self.jobs.wake_for(earliest)

    async def _on_stale_jobs(self, jobs: list[Job]) -> None:
        """Job handler: flag stale cards everywhere, then schedule next week's check."""
        assert self.jobs is not None
        await self.flag_stale_everywhere()
        async with self.db.transaction() as tx:
            for job in jobs:
                await self.jobs.complete(tx, job)
        await self.ensure_stale_job()
