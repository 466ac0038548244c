"""A card draft from what a person typed: tags, region, contacts, and the whole check. No Discord.

Every bad input raises UserFacingError naming the field (never repeating the input), before
anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

from bot.errors import UserFacingError
from bot.i18n import N_, Msg, PluralMsg, _
from bot.models.resources import Card, Contact, Draft
from bot.parsing import contains_mention, fold_name
from bot.services.shipped_cards import (
    CONTACT_KIND_NAMES,
    KNOWN_REGIONS,
    MAX_CONTACTS,
    MAX_SUMMARY_LEN,
    MAX_TITLE_LEN,
    MAX_URL_LEN,
    TAG_NAMES,
    CardError,
    normalize_region,
    parse_card,
    too_long,
)

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
_LIST_RE = re.compile(r"[,;\n]+")
_REGION_RE = re.compile(r"[\s,;:]+")


#: Longest contacts text accepted from a modal (8 lines of kind: value | label).
MAX_CONTACTS_TEXT = 1000


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


def _spellings(names: Mapping[str, str]) -> dict[str, str]:
    """Every accepted spelling (folded) -> its value: the value, its English name and its name in
    the reader's language; accents and case do not matter."""
    out: dict[str, str] = {}
    for value, name in names.items():
        for spelling in (value, name, _(name)):
            out.setdefault(fold_name(spelling), value)
    return out


def tag_names(tags: Iterable[str]) -> str:
    """Tags as the reader calls them, for a form to show ('naloxona, sobredosis')."""
    return ", ".join(sorted(_(TAG_NAMES[t]) for t in tags if t in TAG_NAMES))


def parse_tags(text: str | Iterable[str]) -> frozenset[str]:
    """Tags from 'naloxone, overdose' or the reader's names for them (from the fixed list)."""
    items = _LIST_RE.split(text) if isinstance(text, str) else list(text)
    names = _spellings(TAG_NAMES)
    tags: list[str] = []
    unknown = 0
    for item in items:
        whole = names.get(fold_name(item))
        if whole is not None:  # one tag, perhaps of several words ("harm reduction")
            tags.append(whole)
            continue
        for word in item.split():  # "naloxone overdose": tags set apart by spaces
            tag = names.get(fold_name(word))
            if tag is None:
                unknown += 1
            else:
                tags.append(tag)
    if not tags and not unknown:
        raise UserFacingError(
            Msg("Give at least one tag. Tags: {tags}.", tags=tag_names(TAG_NAMES))
        )
    if unknown:
        raise UserFacingError(
            PluralMsg(
                "{count} tag is not one Haven knows. Use tags from this list: {tags}.",
                "{count} tags are not ones Haven knows. Use tags from this list: {tags}.",
                unknown,
                tags=tag_names(TAG_NAMES),
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
    parts = _REGION_RE.split(text.strip(), maxsplit=1)
    if len(parts) < 2 or not fold_name(parts[1]):
        raise UserFacingError(
            Msg(
                "Write the region first, then at least one tag, e.g. `{example}`.",
                example=_("US: naloxone, overdose"),
            )
        )
    return parse_region(parts[0]), parse_tags(parts[1])


def parse_contacts(text: str, fallback_url: str | None = None) -> list[dict[str, str]]:
    """Contacts from lines like 'phone: 988 | Call 988', '741741' or 'https://...'."""
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if len(lines) > MAX_CONTACTS:
        raise UserFacingError(
            Msg("Give at most {limit} contacts, one per line.", limit=MAX_CONTACTS)
        )
    contacts: list[dict[str, str]] = []
    kinds = _spellings(CONTACT_KIND_NAMES)
    for line in lines:
        body, _bar, label = line.partition("|")
        named, sep, value = body.partition(":")
        kind = kinds.get(fold_name(named), "") if sep else ""
        if kind:
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
    """Contacts back to the modal's one-per-line form (for prefilling an edit), each kind as the
    reader calls it ("teléfono: 988")."""
    lines = []
    for c in contacts:
        name = CONTACT_KIND_NAMES.get(c.kind)
        kind = _(name) if name else c.kind
        lines.append(f"{kind}: {c.value}" + (f" | {c.label}" if c.label else ""))
    return "\n".join(lines)
