"""Resource cards as plain data: one Card model for shipped and guild cards, and its vetting state."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

#: A guild card's id is this prefix and its row id ('g-12'); shipped ids never start with it.
GUILD_PREFIX = "g-"

_NA_RE = re.compile(r"\bnarcotics anonymous\b|\bna\.org\b", re.IGNORECASE)
_NA_ABBREV_RE = re.compile(r"\bNA\b")


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
class Contact:
    """One way to reach a service: a phone number, text number, chat link, website, email or TTY."""

    kind: str
    value: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class CardText:
    """A shipped card's text in another language, sourced and verified on its own.

    Numbers and links stay the service's own; only the words change. `contact_labels` has one
    label per contact, in the card's order.
    """

    language: str
    title: str
    summary: str
    contact_labels: tuple[str, ...]
    source_url: str
    verified_on: date
    disclaimer: str | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """A resource card: its content, and its vetting state as one guild sees it.

    A shipped card as loaded is approved, and `enabled` is its `enabled_by_default`; a guild's
    override (on/off, re-verified) is applied with `dataclasses.replace`. Guild cards carry the
    review fields; shipped ones leave them None.

    `language` is the language of the text: "en" for a shipped card, None for a guild card (its
    moderators wrote it in their own words). `translations` hold a shipped card's sourced text in
    other languages; `in_language` picks the one a reader gets.
    """

    id: str
    title: str
    summary: str
    contacts: tuple[Contact, ...]
    region: str
    tags: frozenset[str]
    source_url: str | None
    verified_on: date | None
    review_days: int
    enabled_by_default: bool = False
    status: Status = Status.APPROVED
    origin: Origin = Origin.SHIPPED
    enabled: bool = False
    revision: int = 1
    notes: str | None = None
    disclaimer: str | None = None
    suggested_by_user_id: int | None = None
    approved_by_user_id: int | None = None
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    review_channel_id: int | None = None
    review_message_id: int | None = None
    language: str | None = None
    translations: tuple[CardText, ...] = ()

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

    def has_text_in(self, language: str) -> bool:
        """True when a reader of `language` gets the card in their language (or as it was written)."""
        return (
            self.language is None
            or self.language == language
            or any(t.language == language for t in self.translations)
        )

    def in_language(self, language: str) -> Card:
        """The card as a reader of `language` sees it: its sourced text there, else unchanged."""
        if self.language is None or self.language == language:
            return self
        text = next((t for t in self.translations if t.language == language), None)
        if text is None:
            return self
        contacts = tuple(
            Contact(kind=c.kind, value=c.value, label=label)
            for c, label in zip(self.contacts, text.contact_labels, strict=True)
        )
        return replace(
            self,
            title=text.title,
            summary=text.summary,
            contacts=contacts,
            source_url=text.source_url,
            verified_on=text.verified_on,
            disclaimer=text.disclaimer,
            language=language,
        )

    def review_due(self) -> date | None:
        """The last day the card counts as verified (None before approval).

        A card is checked as a whole: it is due when its oldest text (English or a translation)
        is, so the weekly flag never misses a Spanish text that was checked longer ago.
        """
        if self.verified_on is None:
            return None
        oldest = min([self.verified_on, *(t.verified_on for t in self.translations)])
        return oldest + timedelta(days=self.review_days)

    def verified(self, on: date) -> Card:
        """The card re-checked as a whole on a date: its text in every language."""
        texts = tuple(replace(t, verified_on=on) for t in self.translations)
        return replace(self, verified_on=on, translations=texts)

    def is_stale(self, today: date) -> bool:
        """Past its review date: a moderator should re-check it."""
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
