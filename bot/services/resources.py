"""The per-guild resource library: shipped cards, guild overrides, suggestions and their vetting.

Discord-free. Shipped cards (data/resources) are approved for every guild; harm-reduction ones start
disabled. A guild can disable or enable any card, re-verify it, add its own cards (moderators) and
suggest cards (anyone) that moderators approve or reject. Only approved, enabled cards are shareable.
Every bad input raises UserFacingError before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.clock import Clock, iso, utc_from_iso
from bot.db import Database
from bot.errors import NotFoundError, UserFacingError
from bot.parsing import contains_mention
from bot.services.cards import (
    CONTACT_KINDS,
    KNOWN_REGIONS,
    KNOWN_TAGS,
    MAX_CONTACTS,
    MAX_SUMMARY_LEN,
    MAX_TITLE_LEN,
    MAX_URL_LEN,
    Card,
    CardError,
    Contact,
    crisis_cards_for,
    known_region,
    load_default_cards,
    normalize_region,
    parse_card,
)
from bot.services.privacy import PrivacyService, UserData

GUILD_PREFIX = "g-"
DEFAULT_REVIEW_DAYS = 180
CRISIS_REVIEW_DAYS = 90
NA_DISCLAIMER = (
    "Haven is not affiliated with or endorsed by Narcotics Anonymous or NA World Services."
)
_NA_RE = re.compile(r"\bnarcotics anonymous\b|\bna\.org\b", re.IGNORECASE)
_NA_ABBREV_RE = re.compile(r"\bNA\b")
_FIELD_LABELS = {
    "title": "title",
    "summary": "summary",
    "source_url": "source link",
    "region": "region",
    "tags": "tags",
    "contacts": "contacts",
}
_SPLIT_RE = re.compile(r"[\s,;]+")

#: Suggestions one person may have waiting for review in a guild (keeps the queue readable).
MAX_PENDING_PER_USER = 3

#: Longest contacts text accepted from a modal (8 lines of kind: value | label).
MAX_CONTACTS_TEXT = 1000


class Status(StrEnum):
    """Where a card stands in vetting."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Origin(StrEnum):
    """Where a card came from."""

    SHIPPED = "shipped"
    SUGGESTED = "suggested"
    ADDED = "added"


@dataclass(frozen=True, slots=True)
class LibraryCard:
    """A card as one guild sees it: content plus its vetting state in that guild."""

    id: str
    title: str
    summary: str
    contacts: tuple[Contact, ...]
    region: str
    tags: frozenset[str]
    source_url: str | None
    verified_on: date | None
    review_days: int
    status: Status
    origin: Origin
    enabled: bool
    revision: int = 1
    notes: str | None = None
    disclaimer: str | None = None
    suggested_by_user_id: int | None = None
    approved_by_user_id: int | None = None
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    review_channel_id: int | None = None
    review_message_id: int | None = None

    @property
    def shipped(self) -> bool:
        """True for a card from the shipped default set."""
        return self.origin is Origin.SHIPPED

    @property
    def shareable(self) -> bool:
        """Approved and enabled in this guild: may be listed, shown and shared."""
        return self.status is Status.APPROVED and self.enabled

    @property
    def row_id(self) -> int:
        """Database id of a guild card ('g-12' -> 12)."""
        return int(self.id.removeprefix(GUILD_PREFIX))

    @property
    def is_crisis(self) -> bool:
        """Tagged `crisis`."""
        return "crisis" in self.tags

    @property
    def is_harm_reduction(self) -> bool:
        """Tagged `harm-reduction`."""
        return "harm-reduction" in self.tags

    @property
    def na_related(self) -> bool:
        """Mentions Narcotics Anonymous or links to na.org: needs the non-affiliation line."""
        text = " ".join([self.title, self.summary, self.source_url or ""])
        text += " " + " ".join(c.value for c in self.contacts)
        return (
            self.id.startswith("fel-na-")
            or bool(_NA_RE.search(text))
            or bool(_NA_ABBREV_RE.search(self.title + " " + self.summary))
        )

    def review_due(self) -> date | None:
        """The last day the card counts as verified (None before approval)."""
        if self.verified_on is None:
            return None
        return self.verified_on + timedelta(days=self.review_days)

    def is_stale(self, today: date) -> bool:
        """Past its review date."""
        due = self.review_due()
        return due is not None and today > due


@dataclass(frozen=True, slots=True)
class Draft:
    """Card content as typed in a modal, not yet validated."""

    title: str
    summary: str
    source_url: str
    contacts: str = ""
    region: str = ""
    tags: str = ""


def _from_shipped(card: Card, enabled: bool | None, verified_on: str | None) -> LibraryCard:
    """A shipped card as a guild sees it, with the guild's override applied."""
    return LibraryCard(
        id=card.id,
        title=card.title,
        summary=card.summary,
        contacts=card.contacts,
        region=card.region,
        tags=card.tags,
        source_url=card.source_url,
        verified_on=date.fromisoformat(verified_on) if verified_on else card.verified_on,
        review_days=card.review_days,
        status=Status.APPROVED,
        origin=Origin.SHIPPED,
        enabled=card.enabled_by_default if enabled is None else bool(enabled),
        notes=card.notes,
        disclaimer=card.disclaimer,
    )


_CARD_COLUMNS = (
    "id, status, origin, enabled, revision, title, summary, region, tags, contacts, source_url, "
    "verified_on, review_days, suggested_by_user_id, approved_by_user_id, approved_at, "
    "rejected_at, review_channel_id, review_message_id"
)


def _from_row(row: Any) -> LibraryCard:
    """A guild card from its database row."""
    contacts = tuple(
        Contact(kind=c["kind"], value=c["value"], label=c.get("label")) for c in json.loads(row[9])
    )
    return LibraryCard(
        id=f"{GUILD_PREFIX}{row[0]}",
        status=Status(row[1]),
        origin=Origin(row[2]),
        enabled=bool(row[3]),
        revision=row[4],
        title=row[5],
        summary=row[6],
        region=row[7],
        tags=frozenset(t for t in row[8].split(",") if t),
        contacts=contacts,
        source_url=row[10],
        verified_on=date.fromisoformat(row[11]) if row[11] else None,
        review_days=row[12],
        suggested_by_user_id=row[13],
        approved_by_user_id=row[14],
        approved_at=utc_from_iso(row[15]) if row[15] else None,
        rejected_at=utc_from_iso(row[16]) if row[16] else None,
        review_channel_id=row[17],
        review_message_id=row[18],
    )


def _user_error(exc: CardError) -> UserFacingError:
    """A CardError as a friendly message naming the field (never repeating the input)."""
    field = exc.field or ""
    label = _FIELD_LABELS.get(field.split("[")[0], "card")
    if field.startswith("contacts["):
        number = int(field.split("[")[1].split("]")[0]) + 1
        label = f"contact on line {number}"
        if field.endswith(".label"):
            label = f"label of the contact on line {number}"
    return UserFacingError(f"The {label} {exc.reason}.")


def parse_tags(text: str | Iterable[str]) -> frozenset[str]:
    """Tags from 'naloxone, overdose' (case-insensitive, from the fixed list)."""
    items = _SPLIT_RE.split(text) if isinstance(text, str) else list(text)
    tags = [t.strip().lower() for t in items if t.strip()]
    if not tags:
        raise UserFacingError(f"Give at least one tag. Tags: {', '.join(sorted(KNOWN_TAGS))}.")
    unknown = [t for t in tags if t not in KNOWN_TAGS]
    if unknown:
        raise UserFacingError(
            f"{len(unknown)} tag(s) are not ones Haven knows. "
            f"Use tags from this list: {', '.join(sorted(KNOWN_TAGS))}."
        )
    return frozenset(tags)


def parse_region(text: str) -> str:
    """A card region (US, CA, GB, IE, AU or intl); 'UK' means GB."""
    try:
        return normalize_region(text)
    except CardError:
        known = ", ".join(sorted(KNOWN_REGIONS, key=str.lower))
        raise UserFacingError(f"That is not a region Haven knows. Use one of: {known}.") from None


def parse_region_and_tags(text: str) -> tuple[str, frozenset[str]]:
    """'US: naloxone, overdose' -> ('US', {'naloxone', 'overdose'}): the region first, then tags."""
    parts = [p for p in _SPLIT_RE.split(text.replace(":", " ")) if p]
    if len(parts) < 2:
        raise UserFacingError(
            "Write the region first, then at least one tag, e.g. `US: naloxone, overdose`."
        )
    return parse_region(parts[0]), parse_tags(parts[1:])


def parse_contacts(text: str, fallback_url: str | None = None) -> list[dict[str, str]]:
    """Contacts from lines like 'phone: 988 | Call 988', '741741' or 'https://...'."""
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if len(lines) > MAX_CONTACTS:
        raise UserFacingError(f"Give at most {MAX_CONTACTS} contacts, one per line.")
    contacts: list[dict[str, str]] = []
    for line in lines:
        body, _, label = line.partition("|")
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
        contacts.append({"kind": "url", "value": fallback_url.strip(), "label": "Website"})
    if not contacts:
        raise UserFacingError("Give at least one contact: a phone or text number, or a link.")
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
    for name, value in (
        ("title", draft.title),
        ("summary", draft.summary),
        ("contacts", draft.contacts),
        ("link", draft.source_url),
    ):
        if contains_mention(value):
            raise UserFacingError(
                f"The {name} contains a Discord mention (@everyone, @here, a user, role or "
                "channel); remove it."
            )
    if len(draft.title.strip()) > MAX_TITLE_LEN:
        raise UserFacingError(
            f"The title is {len(draft.title.strip())} characters; the limit is {MAX_TITLE_LEN}."
        )
    if len(draft.summary.strip()) > MAX_SUMMARY_LEN:
        raise UserFacingError(
            f"The summary is {len(draft.summary.strip())} characters; "
            f"the limit is {MAX_SUMMARY_LEN}."
        )
    if len(draft.source_url.strip()) > MAX_URL_LEN:
        raise UserFacingError(
            f"The link is {len(draft.source_url.strip())} characters; the limit is {MAX_URL_LEN}."
        )
    if len(draft.contacts) > MAX_CONTACTS_TEXT:
        raise UserFacingError(
            f"The contacts are {len(draft.contacts)} characters; the limit is {MAX_CONTACTS_TEXT}."
        )
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
        return parse_card(data, today=today)
    except CardError as exc:
        raise _user_error(exc) from None


def _contacts_json(contacts: Iterable[Contact]) -> str:
    """Contacts as stored (compact JSON)."""
    out = []
    for c in contacts:
        item = {"kind": c.kind, "value": c.value}
        if c.label:
            item["label"] = c.label
        out.append(item)
    return json.dumps(out, separators=(",", ":"))


def contacts_text(contacts: Iterable[Contact]) -> str:
    """Contacts back to the modal's one-per-line form (for prefilling an edit)."""
    return "\n".join(
        f"{c.kind}: {c.value}" + (f" | {c.label}" if c.label else "") for c in contacts
    )


class ResourceLibrary:
    """Reads and changes a guild's resource library."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        privacy: PrivacyService,
        shipped: Mapping[str, Card] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.shipped: dict[str, Card] = dict(
            shipped if shipped is not None else load_default_cards()
        )
        privacy.register(
            UserData(
                "resource_cards",
                "suggested_by_user_id",
                purpose=(
                    "Resource cards you suggested: forget-me deletes pending and rejected ones and "
                    "removes your name from approved ones."
                ),
            ),
            UserData(
                "resource_cards",
                "approved_by_user_id",
                purpose=(
                    "For moderators: which resource cards you approved (forget-me removes your "
                    "name and keeps the card)."
                ),
            ),
        )
        privacy.register_hook(self.forget_user)

    def today(self) -> date:
        """Today's date (UTC) from the injected clock."""
        return self.clock.now().date()

    # -- reading -------------------------------------------------------------

    async def all_cards(self, guild_id: int) -> list[LibraryCard]:
        """Every card the guild knows, in any state: shipped first, then its own."""
        rows = await self.db.fetchall(
            "SELECT card_id, enabled, verified_on FROM resource_overrides WHERE guild_id = ?",
            (guild_id,),
        )
        overrides = {r[0]: (r[1], r[2]) for r in rows}
        cards = [
            _from_shipped(card, *overrides.get(cid, (None, None)))
            for cid, card in sorted(self.shipped.items())
        ]
        own = await self.db.fetchall(
            f"SELECT {_CARD_COLUMNS} FROM resource_cards WHERE guild_id = ? ORDER BY id",  # noqa: S608
            (guild_id,),
        )
        return cards + [_from_row(r) for r in own]

    async def get(self, guild_id: int, card_id: str) -> LibraryCard:
        """One card of the guild by id, in any state."""
        key = card_id.strip().lower()
        if key in self.shipped:
            row = await self.db.fetchone(
                "SELECT enabled, verified_on FROM resource_overrides "
                "WHERE guild_id = ? AND card_id = ?",
                (guild_id, key),
            )
            return _from_shipped(self.shipped[key], *(tuple(row) if row else (None, None)))
        number = key[len(GUILD_PREFIX) :]
        # ASCII digits only ('²'.isdigit() is true, int() refuses it) and within SQLite's integers.
        if (
            key.startswith(GUILD_PREFIX)
            and number.isascii()
            and number.isdigit()
            and len(number) < 19
        ):
            row = await self.db.fetchone(
                f"SELECT {_CARD_COLUMNS} FROM resource_cards WHERE guild_id = ? AND id = ?",  # noqa: S608
                (guild_id, int(number)),
            )
            if row is not None:
                return _from_row(row)
        raise NotFoundError(
            "There is no resource card with that id here. Start typing a title or a tag and "
            "pick a card from the list."
        )

    async def shareable(self, guild_id: int, card_id: str) -> LibraryCard:
        """A card that may be shown or shared: approved and enabled."""
        card = await self.get(guild_id, card_id)
        if card.status is Status.PENDING:
            raise UserFacingError(
                "That card is waiting for a moderator's review; it can be shared once approved."
            )
        if card.status is Status.REJECTED:
            raise UserFacingError("That card was not approved, so it can't be shown or shared.")
        if not card.enabled:
            raise UserFacingError(
                "That card is turned off in this server. A moderator can turn it on with "
                "`/resource enable`."
            )
        return card

    async def list_cards(
        self,
        guild_id: int,
        *,
        tag: str | None = None,
        region: str | None = None,
        home_region: str | None = None,
    ) -> list[LibraryCard]:
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
    ) -> list[LibraryCard]:
        """Cards whose title, id or tag matches what was typed (for autocomplete)."""
        needle = text.strip().casefold()
        scored: list[tuple[int, str, LibraryCard]] = []
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
        return [c for _, _, c in scored[:limit]]

    async def pending(self, guild_id: int) -> list[LibraryCard]:
        """Cards waiting for review, oldest first."""
        rows = await self.db.fetchall(
            f"SELECT {_CARD_COLUMNS} FROM resource_cards "  # noqa: S608
            "WHERE guild_id = ? AND status = 'pending' ORDER BY updated_at, id",
            (guild_id,),
        )
        return [_from_row(r) for r in rows]

    async def stale(self, guild_id: int) -> list[LibraryCard]:
        """Shareable cards past their review date (by the injected clock)."""
        today = self.today()
        return [c for c in await self.all_cards(guild_id) if c.shareable and c.is_stale(today)]

    def crisis_cards(self, region: str | None) -> list[Card]:
        """Shipped crisis cards for a region (plus worldwide); all regions when unset. No I/O."""
        if region is None:
            chosen = [c for c in self.shipped.values() if c.enabled_by_default and c.is_crisis]
            return sorted(chosen, key=lambda c: (c.region == "intl", c.region, c.id))
        return crisis_cards_for(self.shipped, region)

    # -- writing -------------------------------------------------------------

    async def suggest(self, guild_id: int, user_id: int, draft: Draft) -> LibraryCard:
        """Store a suggestion for review; nothing is stored if any field is bad."""
        card = validate(draft, today=self.today())
        waiting = await self.db.fetchval(
            "SELECT count(*) FROM resource_cards "
            "WHERE guild_id = ? AND suggested_by_user_id = ? AND status = 'pending'",
            (guild_id, user_id),
        )
        if waiting >= MAX_PENDING_PER_USER:
            raise UserFacingError(
                f"You already have {waiting} suggestions waiting for review. Please wait until "
                "a moderator has looked at them, then suggest more."
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
    ) -> LibraryCard:
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
    ) -> LibraryCard:
        """Store a validated card for a guild and return it."""
        now = iso(self.clock.now())
        approved = status is Status.APPROVED
        async with self.db.transaction() as tx:
            row_id = await tx.insert(
                "INSERT INTO resource_cards (guild_id, status, origin, title, summary, region, "
                "tags, contacts, source_url, verified_on, review_days, suggested_by_user_id, "
                "approved_by_user_id, approved_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    status.value,
                    origin.value,
                    card.title,
                    card.summary,
                    card.region,
                    ",".join(sorted(card.tags)),
                    _contacts_json(card.contacts),
                    card.source_url,
                    card.verified_on.isoformat() if approved else None,
                    card.review_days,
                    suggested_by,
                    approved_by,
                    now if approved else None,
                    now,
                    now,
                ),
            )
        return await self.get(guild_id, f"{GUILD_PREFIX}{row_id}")

    def check_verified_on(self, when: date) -> date:
        """Return the date, or raise if it is in the future."""
        if when > self.today():
            raise UserFacingError(
                "The verified-on date is in the future. Use the date you checked the source, "
                "as `YYYY-MM-DD`."
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
    ) -> LibraryCard:
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
            changed = await tx.execute(
                "UPDATE resource_cards SET status = 'approved', source_url = ?, verified_on = ?, "
                "approved_by_user_id = ?, approved_at = ?, updated_at = ? "
                "WHERE id = ? AND guild_id = ? AND status = 'pending' AND revision = ?",
                (
                    checked.source_url,
                    checked_on.isoformat(),
                    moderator_id,
                    iso(self.clock.now()),
                    iso(self.clock.now()),
                    card.row_id,
                    guild_id,
                    card.revision,
                ),
            )
        if not changed:  # someone else reviewed it in between
            self.check_reviewable(await self.get(guild_id, card_id), revision)
        return await self.get(guild_id, card_id)

    async def reject(
        self, guild_id: int, card_id: str, moderator_id: int, *, revision: int | None = None
    ) -> LibraryCard:
        """Reject a pending card (it stays out of every list)."""
        card = await self.get(guild_id, card_id)
        self.check_reviewable(card, revision)
        now = iso(self.clock.now())
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE resource_cards SET status = 'rejected', rejected_at = ?, updated_at = ? "
                "WHERE id = ? AND guild_id = ? AND status = 'pending' AND revision = ?",
                (now, now, card.row_id, guild_id, card.revision),
            )
        if not changed:
            self.check_reviewable(await self.get(guild_id, card_id), revision)
        return await self.get(guild_id, card_id)

    def check_reviewable(self, card: LibraryCard, revision: int | None) -> None:
        """Raise unless the card is a pending guild card at the given revision."""
        if card.shipped:
            raise UserFacingError("Shipped cards are approved already; nothing to review.")
        if card.status is Status.APPROVED:
            when = card.approved_at.date().isoformat() if card.approved_at else "earlier"
            raise UserFacingError(f"This card was already approved (on {when}). Nothing changed.")
        if card.status is Status.REJECTED:
            when = card.rejected_at.date().isoformat() if card.rejected_at else "earlier"
            raise UserFacingError(f"This card was already rejected (on {when}). Nothing changed.")
        if revision is not None and revision != card.revision:
            raise UserFacingError(
                "This card was edited after this review message was posted. Review the newest "
                "version (see `/resource review`)."
            )

    def check_editable(self, card: LibraryCard) -> None:
        """Raise for shipped cards, which are edited in data/resources, not in Discord."""
        if card.shipped:
            raise UserFacingError(
                "Shipped cards can't be edited in Discord. Turn it off with `/resource disable`, "
                "add a corrected card with `/resource add`, and tell the bot's operator so the "
                "shipped file is fixed."
            )

    async def edit(
        self, guild_id: int, card_id: str, draft: Draft, *, region: str | None = None
    ) -> LibraryCard:
        """Change a guild card's content; it goes back to review (pending) until re-approved."""
        card = await self.get(guild_id, card_id)
        self.check_editable(card)
        new_region = parse_region(region) if region else card.region
        checked = validate(
            draft, today=self.today(), region=new_region, tags=parse_tags(draft.tags)
        )
        now = iso(self.clock.now())
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE resource_cards SET status = 'pending', revision = revision + 1, "
                "title = ?, summary = ?, region = ?, tags = ?, contacts = ?, source_url = ?, "
                "review_days = ?, approved_by_user_id = NULL, approved_at = NULL, "
                "rejected_at = NULL, updated_at = ? WHERE id = ? AND guild_id = ?",
                (
                    checked.title,
                    checked.summary,
                    checked.region,
                    ",".join(sorted(checked.tags)),
                    _contacts_json(checked.contacts),
                    checked.source_url,
                    checked.review_days,
                    now,
                    card.row_id,
                    guild_id,
                ),
            )
        return await self.get(guild_id, card_id)

    async def set_enabled(self, guild_id: int, card_id: str, enabled: bool) -> LibraryCard:
        """Turn a card on or off for this guild."""
        card = await self.get(guild_id, card_id)
        if card.enabled == enabled:
            state = "on" if enabled else "off"
            raise UserFacingError(f"That card is already turned {state}. Nothing changed.")
        now = iso(self.clock.now())
        async with self.db.transaction() as tx:
            if card.shipped:
                await tx.execute(
                    "INSERT INTO resource_overrides (guild_id, card_id, enabled, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, card_id) DO UPDATE SET "
                    "enabled = excluded.enabled, updated_at = excluded.updated_at",
                    (guild_id, card.id, int(enabled), now),
                )
            else:
                await tx.execute(
                    "UPDATE resource_cards SET enabled = ?, updated_at = ? "
                    "WHERE id = ? AND guild_id = ?",
                    (int(enabled), now, card.row_id, guild_id),
                )
        return replace(card, enabled=enabled)

    async def verify(self, guild_id: int, card_id: str) -> LibraryCard:
        """Record that a moderator re-checked the card today."""
        card = await self.get(guild_id, card_id)
        if card.status is not Status.APPROVED:
            raise UserFacingError(
                "Only approved cards can be marked verified; approve it first (`/resource review`)."
            )
        today = self.today().isoformat()
        now = iso(self.clock.now())
        async with self.db.transaction() as tx:
            if card.shipped:
                await tx.execute(
                    "INSERT INTO resource_overrides (guild_id, card_id, verified_on, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, card_id) DO UPDATE SET "
                    "verified_on = excluded.verified_on, updated_at = excluded.updated_at",
                    (guild_id, card.id, today, now),
                )
            else:
                await tx.execute(
                    "UPDATE resource_cards SET verified_on = ?, updated_at = ? "
                    "WHERE id = ? AND guild_id = ?",
                    (today, now, card.row_id, guild_id),
                )
        return replace(card, verified_on=self.today())

    async def set_review_message(
        self, guild_id: int, card_id: str, channel_id: int, message_id: int
    ) -> None:
        """Remember where a card's Approve / Reject buttons were posted."""
        card = await self.get(guild_id, card_id)
        await self.db.execute(
            "UPDATE resource_cards SET review_channel_id = ?, review_message_id = ? "
            "WHERE id = ? AND guild_id = ?",
            (channel_id, message_id, card.row_id, guild_id),
        )

    async def forget_user(self, user_id: int, guild_id: int | None) -> None:
        """Forget-me: drop a user's unapproved suggestions; keep approved cards without their id."""
        scope = "" if guild_id is None else " AND guild_id = ?"
        extra: tuple[int, ...] = () if guild_id is None else (guild_id,)
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM resource_cards WHERE suggested_by_user_id = ? "  # noqa: S608
                f"AND status != 'approved'{scope}",
                (user_id, *extra),
            )
            await tx.execute(
                "UPDATE resource_cards SET suggested_by_user_id = NULL "  # noqa: S608
                f"WHERE suggested_by_user_id = ?{scope}",
                (user_id, *extra),
            )
            await tx.execute(
                "UPDATE resource_cards SET approved_by_user_id = NULL "  # noqa: S608
                f"WHERE approved_by_user_id = ?{scope}",
                (user_id, *extra),
            )
