"""What resource cards look like in Discord: the card, the review copy, list pages, stale flags.

Every function renders in the current locale (`cogs._kit.i18n`): a card in the reader's language
where its text there is sourced, else in English with a one-line note saying so.
"""

from __future__ import annotations

from datetime import date

import discord

from bot.models.resources import Card, Contact
from bot.services.card_drafts import NA_DISCLAIMER, tag_names
from cogs._kit import COLOR, COLOR_WARN, escape, fit_embed, safe_title, truncate
from cogs._kit.i18n import N_, _, current_locale, ngettext

PAGE_SIZE = 8
NO_ADVICE = N_("Haven gives no medical advice. Contact the service itself for help.")
#: Under a shipped card shown in English to a reader of another language (no sourced text there).
IN_ENGLISH = N_("(in English: we don't have a verified source in your language yet)")

_KIND_LABELS = {
    "phone": N_("Call"),
    "text": N_("Text"),
    "chat": N_("Chat"),
    "url": N_("Web"),
    "email": N_("Email"),
    "tty": N_("TTY"),
}


def for_reader(card: Card) -> tuple[Card, bool]:
    """The card in the reader's language, and whether it is shown in English instead."""
    language = current_locale.get()
    shown = card.in_language(language)
    return shown, shown.language is not None and shown.language != language


def contact_line(contact: Contact) -> str:
    """One contact as a line: kind, value, label."""
    value = contact.value if contact.kind in ("url", "chat") else escape(contact.value)
    kind = _(_KIND_LABELS[contact.kind]) if contact.kind in _KIND_LABELS else contact.kind
    line = f"**{kind}:** {value}"
    if contact.label:
        line += f" — {escape(contact.label)}"
    return line


def vetting_lines(card: Card, today: date) -> list[str]:
    """Source and last-verified lines, shown with every card."""
    lines = []
    if card.source_url:
        lines.append(_("Source: <{url}>").format(url=card.source_url))
    if card.verified_on is None:
        lines.append(_("Not yet verified by a moderator"))
    elif card.is_stale(today):
        lines.append(
            _("Last verified on {day} (due for re-checking by a moderator)").format(
                day=card.verified_on.isoformat()
            )
        )
    else:
        lines.append(_("Last verified on {day}").format(day=card.verified_on.isoformat()))
    return lines


def card_embed(card: Card, today: date) -> discord.Embed:
    """The embed of a card, as shown and shared, in the reader's language where it is sourced."""
    card, in_english = for_reader(card)
    description = escape(card.summary)
    if in_english:
        description = f"*{_(IN_ENGLISH)}*\n{description}"
    embed = discord.Embed(title=safe_title(card.title), description=description)
    embed.colour = COLOR if card.shareable else COLOR_WARN
    embed.add_field(
        name=_("Contact"), value="\n".join(contact_line(c) for c in card.contacts), inline=False
    )
    embed.add_field(name=_("Vetting"), value="\n".join(vetting_lines(card, today)), inline=False)
    notes = [escape(card.disclaimer)] if card.disclaimer else []
    if card.na_related and not (card.disclaimer and NA_DISCLAIMER in card.disclaimer):
        notes.append(escape(_(NA_DISCLAIMER)))
    if notes:
        embed.add_field(name=_("Please note"), value="\n".join(notes), inline=False)
    embed.set_footer(text=f"{card.id} · {_(NO_ADVICE)}")
    return fit_embed(embed)


def review_embed(card: Card, today: date, heading: str) -> discord.Embed:
    """A card as moderators review it: content, region, tags and state."""
    embed = card_embed(card, today)
    embed.colour = COLOR_WARN
    embed.insert_field_at(
        0,
        name=heading,
        value=_("Status: **{status}** · region {region} · tags {tags}").format(
            status=status_name(card), region=card.region, tags=tag_names(card.tags)
        ),
        inline=False,
    )
    return fit_embed(embed)


def status_name(card: Card) -> str:
    """'pending', 'approved' or 'rejected' in the reader's language."""
    names = {"pending": _("pending"), "approved": _("approved"), "rejected": _("rejected")}
    return names[card.status.value]


def list_pages(cards: list[Card], today: date, heading: str) -> list[discord.Embed]:
    """Cards as pages of at most PAGE_SIZE entries."""
    if not cards:
        return [
            discord.Embed(
                title=heading,
                description=_("No cards match. Try another tag or region."),
                colour=COLOR,
            )
        ]
    pages = []
    total = (len(cards) + PAGE_SIZE - 1) // PAGE_SIZE
    for n in range(total):
        lines = []
        any_english = False
        for original in cards[n * PAGE_SIZE : (n + 1) * PAGE_SIZE]:
            c, in_english = for_reader(original)
            any_english = any_english or in_english
            marker = " " + _("(in English)") if in_english else ""
            if c.verified_on is None:
                verified = _("Not yet verified by a moderator")
            elif c.is_stale(today):
                verified = _("Last verified on {day} ⚠️ due for re-checking").format(
                    day=c.verified_on.isoformat()
                )
            else:
                verified = _("Last verified on {day}").format(day=c.verified_on.isoformat())
            lines.append(
                f"**{escape(c.title)}** (`{c.id}`) · {c.region}{marker}\n"
                f"{truncate(escape(c.summary), 140)}\n{verified}"
            )
        if any_english:
            note = _("Cards marked (in English) have no verified source in your language yet.")
            lines.insert(0, f"*{note}*")
        embed = discord.Embed(title=heading, description="\n\n".join(lines), colour=COLOR)
        embed.set_footer(
            text=ngettext(
                "Page {page} of {pages} · {count} card · /resource show card:<id>",
                "Page {page} of {pages} · {count} cards · /resource show card:<id>",
                len(cards),
            ).format(page=n + 1, pages=total, count=len(cards))
        )
        pages.append(fit_embed(embed))
    return pages


def review_queue_embed(pending: list[Card], guild_id: int) -> discord.Embed:
    """The pending queue as moderators see it, with links to each review message."""
    lines = []
    for c in pending:
        where = ""
        if c.review_channel_id and c.review_message_id:
            link = (
                f"https://discord.com/channels/{guild_id}/"
                f"{c.review_channel_id}/{c.review_message_id}"
            )
            where = " · " + _("[review message]({link})").format(link=link)
        lines.append(f"**{escape(c.title)}** (`{c.id}`) · {c.region}{where}")
    embed = discord.Embed(
        title=_("Waiting for review: {count}").format(count=len(pending)),
        description="\n".join(lines),
        colour=COLOR_WARN,
    )
    embed.set_footer(text=_("Buttons below are for the first five, oldest first."))
    return fit_embed(embed)


def add_missing_spanish(embed: discord.Embed, missing: list[Card]) -> discord.Embed:
    """Name the crisis cards /crisis shows here that a Spanish reader gets in English."""
    if missing:
        names = ", ".join(f"{escape(c.title)} (`{c.id}`)" for c in missing)
        embed.add_field(
            name=_("Crisis cards with no Spanish text"),
            value=truncate(
                _(
                    "`/crisis` shows these in English to members whose Discord is in Spanish: no "
                    "Spanish source is verified yet. Add a card in Spanish with `/resource add` "
                    "once you have checked one. {cards}"
                ).format(cards=names),
                1024,
            ),
            inline=False,
        )
    return fit_embed(embed)


def stale_embed(stale: list[Card]) -> discord.Embed:
    """The weekly note to moderators: which cards are past their review date."""
    lines = [
        _("• **{title}** (`{id}`): last verified on {verified}, review was due {due}").format(
            title=escape(c.title),
            id=c.id,
            verified=c.verified_on.isoformat() if c.verified_on else "—",
            due=due.isoformat() if (due := c.review_due()) else "—",
        )
        for c in stale
    ]
    embed = discord.Embed(
        title=_("Resource cards due for re-checking"),
        description="\n".join(lines),
        colour=COLOR_WARN,
    )
    embed.set_footer(
        text=_(
            "Check each card against its source, then run /resource verify card:<id> "
            "(or /resource edit, or /resource disable)."
        )
    )
    return fit_embed(embed)
