"""Resource cards' buttons and forms: Approve / Reject that survive restarts, and the modals."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import discord

from bot.models.resources import Card, Draft
from bot.parsing import parse_date
from bot.permissions import Level
from bot.runtime.tree import HavenModal, reply_ephemeral
from bot.services.card_drafts import contacts_text, tag_names
from bot.services.shipped_cards import MAX_SUMMARY_LEN, MAX_TITLE_LEN
from cogs._kit import ID, Field, PersistentButton, bot_of, ensure_level, escape, modlog_embed
from cogs._kit.i18n import N_, _, use_locale
from cogs.resources.render import card_embed, review_embed
from cogs.resources.review_desk import (
    after_review,
    close_review_message,
    guild_language,
    log_change,
    moderator_channel,
)

log = logging.getLogger(__name__)


_CARD = Field(r"g-\d+")  # a guild card's id


class ApproveButton(
    PersistentButton,
    prefix="haven:res:approve",
    fields={"card_id": _CARD, "revision": ID},
    label=N_("Approve"),
    style=discord.ButtonStyle.success,
):
    """Persistent Approve button of a suggestion; opens the approval modal."""

    card_id: str
    revision: int

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Moderators only: check the card is still pending, then ask for source and date."""
        await ensure_level(interaction, Level.MODERATOR)
        assert interaction.guild_id is not None
        lib = bot_of(interaction).services.resources
        card = await lib.get(interaction.guild_id, self.card_id)
        lib.check_reviewable(card, self.revision)
        await interaction.response.send_modal(ApproveModal(card, lib.today()))


class RejectButton(
    PersistentButton,
    prefix="haven:res:reject",
    fields={"card_id": _CARD, "revision": ID},
    label=N_("Reject"),
    style=discord.ButtonStyle.danger,
):
    """Persistent Reject button of a suggestion."""

    card_id: str
    revision: int

    async def pressed(self, interaction: discord.Interaction) -> None:
        """Moderators only: reject the card and log it."""
        await ensure_level(interaction, Level.MODERATOR)
        assert interaction.guild_id is not None
        bot = bot_of(interaction)
        card = await bot.services.resources.reject(
            interaction.guild_id, self.card_id, interaction.user.id, revision=self.revision
        )
        await reply_ephemeral(
            interaction, _("Rejected `{card}`. It will not be listed.").format(card=card.id)
        )
        await after_review(interaction, card, N_("Resource card rejected"))


def review_view(card: Card) -> discord.ui.View:
    """Approve / Reject buttons for one card."""
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(card.id, card.revision))
    view.add_item(RejectButton(card.id, card.revision))
    return view


async def post_for_review(interaction: discord.Interaction, card: Card, heading: str) -> bool:
    """Post a pending card with Approve / Reject buttons where moderators review.

    The post is the guild's, so it is in the guild's language; `heading` is N_-marked.
    """
    assert interaction.guild_id is not None
    bot = bot_of(interaction)
    lib = bot.services.resources
    await close_review_message(bot, card, N_("Edited: see the newer review message"))
    channel = await moderator_channel(bot, interaction.guild_id)
    if channel is None:
        return False
    with use_locale(await guild_language(bot, interaction.guild_id)):
        embed, view = review_embed(card, lib.today(), _(heading)), review_view(card)
    try:
        message = await channel.send(embed=embed, view=view)
    except discord.HTTPException as exc:
        log.warning("could not post a card for review: HTTP %s", exc.status)
        return False
    await lib.set_review_message(interaction.guild_id, card.id, message.channel.id, message.id)
    return True


def _text(
    custom_id: str,
    label: str,
    *,
    default: str | None = None,
    placeholder: str | None = None,
    max_length: int = 100,
    paragraph: bool = False,
    required: bool = True,
) -> discord.ui.TextInput[Any]:
    """A text input for a modal."""
    return discord.ui.TextInput(
        custom_id=custom_id,
        label=label,
        default=default,
        placeholder=placeholder,
        max_length=max_length,
        required=required,
        style=discord.TextStyle.paragraph if paragraph else discord.TextStyle.short,
    )


class SuggestModal(HavenModal):
    """Anyone: title, summary, link, contact, region and tags."""

    def __init__(self) -> None:
        super().__init__(title=_("Suggest a resource card"))
        self.card_title = _text(
            "title",
            _("Title"),
            placeholder=_("e.g. Riverside naloxone pick-up"),
            max_length=MAX_TITLE_LEN,
        )
        self.summary = _text(
            "summary", _("Summary (1 to 3 sentences)"), max_length=MAX_SUMMARY_LEN, paragraph=True
        )
        self.link = _text(
            "link",
            _("Official web page (https://…)"),
            placeholder="https://example.org",  # i18n: keep
            max_length=1000,
        )
        self.contact = _text(
            "contact", _("Phone, text number or link (optional)"), max_length=200, required=False
        )
        self.region_tags = _text(
            "region_tags",
            _("Region, then tags"),
            placeholder=_("US: naloxone, overdose"),
            max_length=200,
        )
        for item in (self.card_title, self.summary, self.link, self.contact, self.region_tags):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Store the suggestion (or explain what to fix) and send it to the moderators."""
        assert interaction.guild_id is not None
        bot = bot_of(interaction)
        draft = Draft(
            title=self.card_title.value,
            summary=self.summary.value,
            source_url=self.link.value,
            contacts=self.contact.value or "",
            region=self.region_tags.value,
            tags="",
        )
        card = await bot.services.resources.suggest(
            interaction.guild_id, interaction.user.id, draft
        )
        await reply_ephemeral(
            interaction,
            _(
                "Thank you. Your suggestion went to the moderators; it can be shared once a "
                "moderator checks and approves it."
            ),
        )
        await post_for_review(interaction, card, N_("New suggestion"))


class CardModal(HavenModal):
    """Moderators: add a card, or edit one (which sends it back to review)."""

    def __init__(
        self, *, title: str, card: Card | None, region: str | None, verified_on: str | None
    ) -> None:
        super().__init__(title=title)
        self.card = card
        self.region = region
        self.verified_on = verified_on
        self.card_title = _text(
            "title", _("Title"), default=card.title if card else None, max_length=MAX_TITLE_LEN
        )
        self.summary = _text(
            "summary",
            _("Summary (1 to 3 sentences)"),
            default=card.summary if card else None,
            max_length=MAX_SUMMARY_LEN,
            paragraph=True,
        )
        self.contacts = _text(
            "contacts",
            _("Contacts, one per line"),
            default=contacts_text(card.contacts) if card else None,
            placeholder=_("phone: 988 | Call 988 (kind: value | label)"),
            max_length=1000,
            paragraph=True,
        )
        self.source = _text(
            "source",
            _("Source: the official page you checked"),
            default=card.source_url if card else None,
            max_length=1000,
        )
        self.tags = _text(
            "tags",
            _("Tags"),
            default=tag_names(card.tags) if card else None,
            max_length=200,
        )
        for item in (self.card_title, self.summary, self.contacts, self.source, self.tags):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Validate and store; an edit goes back to review."""
        await ensure_level(interaction, Level.MODERATOR)
        assert interaction.guild_id is not None
        bot = bot_of(interaction)
        lib = bot.services.resources
        draft = Draft(
            title=self.card_title.value,
            summary=self.summary.value,
            source_url=self.source.value,
            contacts=self.contacts.value,
            tags=self.tags.value,
        )
        if self.card is None:
            assert self.region is not None
            when = parse_date(self.verified_on, _("verified-on date")) if self.verified_on else None
            card = await lib.add(
                interaction.guild_id,
                interaction.user.id,
                draft,
                region=self.region,
                verified_on=when,
            )
            await reply_ephemeral(
                interaction,
                _("Added `{card}`; it can be shared now.").format(card=card.id),
                embed=card_embed(card, lib.today()),
            )
            with use_locale(await guild_language(bot, interaction.guild_id)):
                entry = modlog_embed(
                    _("Resource card added"),
                    interaction.user,
                    bot.clock.now(),
                    card=f"{escape(card.title)} (`{card.id}`)",
                    verified_on=card.verified_on.isoformat() if card.verified_on else "—",
                )
            await bot.post_modlog(interaction.guild_id, entry)
            return
        card = await lib.edit(interaction.guild_id, self.card.id, draft, region=self.region)
        await reply_ephemeral(
            interaction,
            _(
                "Saved. `{card}` went back to review and is not shareable until a moderator "
                "approves it again."
            ).format(card=card.id),
        )
        await post_for_review(interaction, card, N_("Edited card: needs review again"))
        # The review message may sit in another channel: the audit trail names who edited it.
        await log_change(interaction, N_("Resource card edited"), card)


class ApproveModal(HavenModal):
    """The approving moderator confirms the source and the verified-on date."""

    def __init__(self, card: Card, today: date) -> None:
        super().__init__(title=_("Approve resource card"))
        self.card = card
        self.source = _text(
            "source",
            _("Source: the official page you checked"),
            default=card.source_url,
            max_length=1000,
        )
        self.verified_on = _text(
            "verified_on", _("Verified on (YYYY-MM-DD)"), default=today.isoformat(), max_length=10
        )
        self.add_item(self.source)
        self.add_item(self.verified_on)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Approve with the moderator's source and date; record who approved."""
        await ensure_level(interaction, Level.MODERATOR)
        assert interaction.guild_id is not None
        bot = bot_of(interaction)
        card = await bot.services.resources.approve(
            interaction.guild_id,
            self.card.id,
            interaction.user.id,
            source_url=self.source.value,
            verified_on=parse_date(self.verified_on.value, _("verified-on date")),
            revision=self.card.revision,
        )
        await reply_ephemeral(
            interaction,
            _("Approved `{card}`. It can be listed and shared now.").format(card=card.id),
        )
        await after_review(interaction, card, N_("Resource card approved"))
