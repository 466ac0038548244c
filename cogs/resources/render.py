"""What resource cards look like in Discord: the card, the review copy, list pages, stale flags."""

from __future__ import annotations

from datetime import date

import discord

from bot.models.resources import Card, Contact
from bot.services.resources import NA_DISCLAIMER
from cogs._kit import COLOR, COLOR_WARN, escape, fit_embed, safe_title, truncate

PAGE_SIZE = 8
NO_ADVICE = "Haven gives no medical advice. Contact the service itself for help."

_KIND_LABELS = {
    "phone": "Call",
    "text": "Text",
    "chat": "Chat",
    "url": "Web",
    "email": "Email",
    "tty": "TTY",
}


def contact_line(contact: Contact) -> str:
    """One contact as a line: kind, value, label."""
    value = contact.value if contact.kind in ("url", "chat") else escape(contact.value)
    line = f"**{_KIND_LABELS.get(contact.kind, contact.kind)}:** {value}"
    if contact.label:
        line += f" — {escape(contact.label)}"
    return line


def vetting_lines(card: Card, today: date) -> list[str]:
    """Source and last-verified lines, shown with every card."""
    lines = []
    if card.source_url:
        lines.append(f"Source: <{card.source_url}>")
    if card.verified_on is not None:
        line = f"Last verified on {card.verified_on.isoformat()}"
        if card.is_stale(today):
            line += " (due for re-checking by a moderator)"
        lines.append(line)
    else:
        lines.append("Not yet verified by a moderator")
    return lines


def card_embed(card: Card, today: date) -> discord.Embed:
    """The embed of a card, as shown and shared."""
    embed = discord.Embed(title=safe_title(card.title), description=escape(card.summary))
    embed.colour = COLOR if card.shareable else COLOR_WARN
    embed.add_field(
        name="Contact", value="\n".join(contact_line(c) for c in card.contacts), inline=False
    )
    embed.add_field(name="Vetting", value="\n".join(vetting_lines(card, today)), inline=False)
    notes = [card.disclaimer] if card.disclaimer else []
    if card.na_related and not any(NA_DISCLAIMER in n for n in notes):
        notes.append(NA_DISCLAIMER)
    if notes:
        embed.add_field(name="Please note", value="\n".join(escape(n) for n in notes), inline=False)
    embed.set_footer(text=f"{card.id} · {NO_ADVICE}")
    return fit_embed(embed)


def review_embed(card: Card, today: date, heading: str) -> discord.Embed:
    """A card as moderators review it: content, region, tags and state."""
    embed = card_embed(card, today)
    embed.colour = COLOR_WARN
    embed.insert_field_at(
        0,
        name=heading,
        value=(
            f"Status: **{card.status.value}** · region {card.region} · tags "
            f"{', '.join(sorted(card.tags))}"
        ),
        inline=False,
    )
    return fit_embed(embed)


def list_pages(cards: list[Card], today: date, heading: str) -> list[discord.Embed]:
    """Cards as pages of at most PAGE_SIZE entries."""
    if not cards:
        return [
            discord.Embed(
                title=heading,
                description="No cards match. Try another tag or region.",
                colour=COLOR,
            )
        ]
    pages = []
    total = (len(cards) + PAGE_SIZE - 1) // PAGE_SIZE
    for n in range(total):
        chunk = cards[n * PAGE_SIZE : (n + 1) * PAGE_SIZE]
        lines = []
        for c in chunk:
            verified = c.verified_on.isoformat() if c.verified_on else "not verified"
            stale = " ⚠️ due for re-checking" if c.is_stale(today) else ""
            lines.append(
                f"**{escape(c.title)}** (`{c.id}`) · {c.region}\n"
                f"{truncate(escape(c.summary), 140)}\nLast verified on {verified}{stale}"
            )
        embed = discord.Embed(title=heading, description="\n\n".join(lines), colour=COLOR)
        embed.set_footer(
            text=f"Page {n + 1} of {total} · {len(cards)} cards · /resource show card:<id>"
        )
        pages.append(fit_embed(embed))
    return pages


def review_queue_embed(pending: list[Card], guild_id: int) -> discord.Embed:
    """The pending queue as moderators see it, with links to each review message."""
    lines = []
    for c in pending:
        where = ""
        if c.review_channel_id and c.review_message_id:
            where = (
                f" · [review message](https://discord.com/channels/{guild_id}/"
                f"{c.review_channel_id}/{c.review_message_id})"
            )
        lines.append(f"**{escape(c.title)}** (`{c.id}`) · {c.region}{where}")
    embed = discord.Embed(
        title=f"Waiting for review: {len(pending)}",
        description="\n".join(lines),
        colour=COLOR_WARN,
    )
    embed.set_footer(text="Buttons below are for the first five, oldest first.")
    return fit_embed(embed)


def stale_embed(stale: list[Card]) -> discord.Embed:
    """The weekly note to moderators: which cards are past their review date."""
    lines = [
        f"• **{escape(c.title)}** (`{c.id}`): last verified on "
        f"{c.verified_on.isoformat() if c.verified_on else '—'}, review was due "
        f"{due.isoformat() if (due := c.review_due()) else '—'}"
        for c in stale
    ]
    embed = discord.Embed(
        title="Resource cards due for re-checking",
        description="\n".join(lines),
        colour=COLOR_WARN,
    )
    embed.set_footer(
        text="Check each card against its source, then run /resource verify card:<id> "
        "(or /resource edit, or /resource disable)."
    )
    return fit_embed(embed)
