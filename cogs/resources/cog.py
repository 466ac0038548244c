"""/resource: list, show, share, suggest and vet resource cards; weekly stale-card flags."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs import Job, NewJob
from bot.models.resources import Card, Contact
from bot.parsing import parse_date
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import HavenModal, HavenView, guarded, reply_ephemeral
from bot.services.resources import (
    NA_DISCLAIMER,
    Draft,
    ResourceLibrary,
    Status,
    contacts_text,
)
from bot.services.shipped_cards import KNOWN_TAGS, MAX_SUMMARY_LEN, MAX_TITLE_LEN
from cogs._kit import (
    COLOR,
    COLOR_WARN,
    bot_of,
    caller_level,
    ensure_level,
    escape,
    fit_embed,
    modlog_embed,
    requires,
    safe_title,
    truncate,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 8
STALE_JOB = "resources.stale"
STALE_WEEKDAY = 0  # Monday
STALE_AT = time(15, 0)
NO_ADVICE = "Haven gives no medical advice. Contact the service itself for help."

REGION_CHOICES = [
    app_commands.Choice(name="United States", value="US"),
    app_commands.Choice(name="Canada", value="CA"),
    app_commands.Choice(name="United Kingdom", value="GB"),
    app_commands.Choice(name="Ireland", value="IE"),
    app_commands.Choice(name="Australia", value="AU"),
    app_commands.Choice(name="Worldwide", value="intl"),
]
TAG_CHOICES = [app_commands.Choice(name=t, value=t) for t in sorted(KNOWN_TAGS)]

_KIND_LABELS = {
    "phone": "Call",
    "text": "Text",
    "chat": "Chat",
    "url": "Web",
    "email": "Email",
    "tty": "TTY",
}


# -- rendering ------------------------------------------------------------------------


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


def next_weekly(now: datetime) -> datetime:
    """The next stale-card check after `now` (Mondays, 15:00 UTC)."""
    days = (STALE_WEEKDAY - now.weekday()) % 7
    candidate = datetime.combine(now.date() + timedelta(days=days), STALE_AT, tzinfo=UTC)
    if candidate <= now:
        candidate += timedelta(days=7)
    return candidate


# -- views, buttons and modals --------------------------------------------------------


class PageView(HavenView):
    """Previous / next buttons over pre-rendered pages; only the requester can turn them."""

    def __init__(self, pages: list[discord.Embed], owner_id: int) -> None:
        super().__init__(timeout=600)
        self.pages = pages
        self.owner_id = owner_id
        self.index = 0
        self._sync()

    def _sync(self) -> None:
        """Enable or disable the page buttons for the current page."""
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the person who asked turns the pages."""
        return interaction.user.id == self.owner_id

    async def _show(self, interaction: discord.Interaction, step: int) -> None:
        """Move by `step` pages and redraw."""
        self.index = max(0, min(len(self.pages) - 1, self.index + step))
        self._sync()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Go back one page."""
        await self._show(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Go forward one page."""
        await self._show(interaction, 1)


def _cog(interaction: discord.Interaction) -> ResourcesCog:
    """The loaded resources cog (for modals and persistent buttons)."""
    cog = bot_of(interaction).get_cog("resource")
    if not isinstance(cog, ResourcesCog):
        raise RuntimeError("resources cog not loaded")
    return cog


class ApproveButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"haven:res:approve:(?P<card>g-\d+):(?P<rev>\d+)",
):
    """Persistent Approve button of a suggestion; opens the approval modal."""

    def __init__(self, card_id: str, revision: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Approve",
                style=discord.ButtonStyle.success,
                custom_id=f"haven:res:approve:{card_id}:{revision}",
            )
        )
        self.card_id = card_id
        self.revision = revision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> ApproveButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["card"], int(match["rev"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Open the approval modal (errors take the one error path)."""
        await self._press(interaction)

    @guarded
    async def _press(self, interaction: discord.Interaction) -> None:
        """Moderators only: check the card is still pending, then ask for source and date."""
        await ensure_level(interaction, Level.MODERATOR)
        assert interaction.guild_id is not None
        lib = bot_of(interaction).services.resources
        card = await lib.get(interaction.guild_id, self.card_id)
        lib.check_reviewable(card, self.revision)
        await interaction.response.send_modal(ApproveModal(card, lib.today()))


class RejectButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"haven:res:reject:(?P<card>g-\d+):(?P<rev>\d+)",
):
    """Persistent Reject button of a suggestion."""

    def __init__(self, card_id: str, revision: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Reject",
                style=discord.ButtonStyle.danger,
                custom_id=f"haven:res:reject:{card_id}:{revision}",
            )
        )
        self.card_id = card_id
        self.revision = revision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> RejectButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["card"], int(match["rev"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Reject (errors take the one error path)."""
        await self._press(interaction)

    @guarded
    async def _press(self, interaction: discord.Interaction) -> None:
        """Moderators only: reject the card and log it."""
        await ensure_level(interaction, Level.MODERATOR)
        assert interaction.guild_id is not None
        bot = bot_of(interaction)
        card = await bot.services.resources.reject(
            interaction.guild_id, self.card_id, interaction.user.id, revision=self.revision
        )
        await reply_ephemeral(interaction, f"Rejected `{card.id}`. It will not be listed.")
        await _cog(interaction).after_review(interaction, card, "Resource card rejected")


def review_view(card: Card) -> discord.ui.View:
    """Approve / Reject buttons for one card."""
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(card.id, card.revision))
    view.add_item(RejectButton(card.id, card.revision))
    return view


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


class SuggestModal(HavenModal, title="Suggest a resource card"):
    """Anyone: title, summary, link, contact, region and tags."""

    card_title: discord.ui.TextInput[Any] = _text(
        "title", "Title", placeholder="e.g. Riverside naloxone pick-up", max_length=MAX_TITLE_LEN
    )
    summary: discord.ui.TextInput[Any] = _text(
        "summary", "Summary (1 to 3 sentences)", max_length=MAX_SUMMARY_LEN, paragraph=True
    )
    link: discord.ui.TextInput[Any] = _text(
        "link", "Official web page (https://…)", placeholder="https://example.org", max_length=1000
    )
    contact: discord.ui.TextInput[Any] = _text(
        "contact", "Phone or text number, or a link (optional)", max_length=200, required=False
    )
    region_tags: discord.ui.TextInput[Any] = _text(
        "region_tags", "Region, then tags", placeholder="US: naloxone, overdose", max_length=200
    )

    def __init__(self) -> None:
        super().__init__()

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
            "Thank you. Your suggestion went to the moderators; it can be shared once a "
            "moderator checks and approves it.",
        )
        await _cog(interaction).post_for_review(interaction, card, "New suggestion")


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
            "title", "Title", default=card.title if card else None, max_length=MAX_TITLE_LEN
        )
        self.summary = _text(
            "summary",
            "Summary (1 to 3 sentences)",
            default=card.summary if card else None,
            max_length=MAX_SUMMARY_LEN,
            paragraph=True,
        )
        self.contacts = _text(
            "contacts",
            "Contacts, one per line (kind: value | label)",
            default=contacts_text(card.contacts) if card else None,
            placeholder="phone: 988 | Call 988",
            max_length=1000,
            paragraph=True,
        )
        self.source = _text(
            "source",
            "Source: the official page you checked",
            default=card.source_url if card else None,
            max_length=1000,
        )
        self.tags = _text(
            "tags", "Tags", default=", ".join(sorted(card.tags)) if card else None, max_length=200
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
        cog = _cog(interaction)
        if self.card is None:
            assert self.region is not None
            when = parse_date(self.verified_on, "verified-on date") if self.verified_on else None
            card = await lib.add(
                interaction.guild_id,
                interaction.user.id,
                draft,
                region=self.region,
                verified_on=when,
            )
            await reply_ephemeral(
                interaction,
                f"Added `{card.id}`; it can be shared now.",
                embed=card_embed(card, lib.today()),
            )
            await bot.post_modlog(
                interaction.guild_id,
                modlog_embed(
                    "Resource card added",
                    interaction.user,
                    bot.clock.now(),
                    card=f"{escape(card.title)} (`{card.id}`)",
                    verified_on=card.verified_on.isoformat() if card.verified_on else "—",
                ),
            )
            return
        card = await lib.edit(interaction.guild_id, self.card.id, draft, region=self.region)
        await reply_ephemeral(
            interaction,
            f"Saved. `{card.id}` went back to review and is not shareable until a moderator "
            "approves it again.",
        )
        await cog.post_for_review(interaction, card, "Edited card: needs review again")
        # The review message may sit in another channel: the audit trail names who edited it.
        await cog.log_change(interaction, "Resource card edited", card)


class ApproveModal(HavenModal):
    """The approving moderator confirms the source and the verified-on date."""

    def __init__(self, card: Card, today: date) -> None:
        super().__init__(title="Approve resource card")
        self.card = card
        self.source = _text(
            "source",
            "Source: the official page you checked",
            default=card.source_url,
            max_length=1000,
        )
        self.verified_on = _text(
            "verified_on", "Verified on (YYYY-MM-DD)", default=today.isoformat(), max_length=10
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
            verified_on=parse_date(self.verified_on.value, "verified-on date"),
            revision=self.card.revision,
        )
        await reply_ephemeral(
            interaction, f"Approved `{card.id}`. It can be listed and shared now."
        )
        await _cog(interaction).after_review(interaction, card, "Resource card approved")


# -- the cog --------------------------------------------------------------------------


class ResourcesCog(commands.GroupCog, name="resource", description="Vetted resource cards"):
    """Resource cards: browse and share (everyone), suggest (everyone), vet (moderators)."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        """Register the persistent review buttons and the weekly stale-card check."""
        self.bot.add_dynamic_items(ApproveButton, RejectButton)
        self.bot.services.jobs.register(STALE_JOB, self._on_stale_jobs)
        self.bot.services.jobs.add_reconciler(self.ensure_stale_job)

    async def cog_unload(self) -> None:
        """Stop handling the review buttons."""
        self.bot.remove_dynamic_items(ApproveButton, RejectButton)

    @property
    def lib(self) -> ResourceLibrary:
        """The resource library service."""
        return self.bot.services.resources

    # -- helpers -------------------------------------------------------------

    async def _moderator_channel(self, guild_id: int) -> discord.abc.Messageable | None:
        """The review channel, else the mod-log channel, if the bot can use one."""
        settings = await self.bot.services.guilds.get(guild_id)
        for channel_id in (settings.review_channel_id, settings.modlog_channel_id):
            if channel_id is None:
                continue
            channel = self.bot.get_channel(channel_id)
            if isinstance(channel, discord.abc.Messageable):
                return channel
        return None

    async def post_for_review(
        self, interaction: discord.Interaction, card: Card, heading: str
    ) -> bool:
        """Post a pending card with Approve / Reject buttons where moderators review."""
        assert interaction.guild_id is not None
        await self.close_review_message(card, "Edited: see the newer review message")
        channel = await self._moderator_channel(interaction.guild_id)
        if channel is None:
            return False
        try:
            message = await channel.send(
                embed=review_embed(card, self.lib.today(), heading), view=review_view(card)
            )
        except discord.HTTPException as exc:
            log.warning("could not post a card for review: HTTP %s", exc.status)
            return False
        await self.lib.set_review_message(
            interaction.guild_id, card.id, message.channel.id, message.id
        )
        return True

    async def close_review_message(self, card: Card, heading: str) -> None:
        """Take the buttons off a card's earlier review message and say what happened."""
        if not (card.review_channel_id and card.review_message_id):
            return
        channel = self.bot.get_channel(card.review_channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return
        try:
            await channel.get_partial_message(card.review_message_id).edit(
                embed=review_embed(card, self.lib.today(), heading), view=None
            )
        except discord.HTTPException as exc:
            log.info("could not update a review message: HTTP %s", exc.status)

    async def after_review(self, interaction: discord.Interaction, card: Card, title: str) -> None:
        """Close the review message (no more buttons) and write the mod log."""
        assert interaction.guild_id is not None
        await self.close_review_message(card, title)
        fields = {"card": f"{escape(card.title)} (`{card.id}`)"}
        if card.status is Status.APPROVED:
            fields["source"] = card.source_url or "—"
            fields["verified_on"] = card.verified_on.isoformat() if card.verified_on else "—"
        await self.bot.post_modlog(
            interaction.guild_id,
            modlog_embed(title, interaction.user, self.bot.clock.now(), **fields),
        )

    async def log_change(self, interaction: discord.Interaction, title: str, card: Card) -> None:
        """Write a card change to the mod log."""
        assert interaction.guild_id is not None
        await self.bot.post_modlog(
            interaction.guild_id,
            modlog_embed(
                title,
                interaction.user,
                self.bot.clock.now(),
                card=f"{escape(card.title)} (`{card.id}`)",
            ),
        )

    # -- stale cards -----------------------------------------------------------

    async def flag_stale(self, guild_id: int) -> list[Card]:
        """Tell the guild's moderators which cards are past their review date."""
        stale = await self.lib.stale(guild_id)
        if not stale:
            return []
        channel = await self._moderator_channel(guild_id)
        if channel is None:
            return stale
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
        try:
            await channel.send(embed=fit_embed(embed))
        except discord.HTTPException as exc:
            log.warning("could not flag stale cards: HTTP %s", exc.status)
        return stale

    async def flag_stale_everywhere(self) -> int:
        """Run the stale-card check for every guild; return how many guilds were flagged."""
        flagged = 0
        for guild in list(self.bot.guilds):
            try:
                if await self.flag_stale(guild.id):
                    flagged += 1
            except Exception:
                log.exception("stale-card check failed for a guild")
        return flagged

    async def ensure_stale_job(self) -> None:
        """Reconciler: keep one pending weekly stale-card job."""
        jobs = self.bot.services.jobs
        when = next_weekly(self.bot.clock.now())
        async with self.bot.db.transaction() as tx:
            earliest = await jobs.add(
                tx,
                [
                    NewJob(
                        kind=STALE_JOB, guild_id=0, fire_at=when, occurrence=when.date().isoformat()
                    )
                ],
            )
        jobs.wake_for(earliest)

    async def _on_stale_jobs(self, jobs: list[Job]) -> None:
        """Job handler: flag stale cards everywhere, then schedule next week's check."""
        await self.flag_stale_everywhere()
        async with self.bot.db.transaction() as tx:
            for job in jobs:
                await self.bot.services.jobs.complete(tx, job)
        await self.ensure_stale_job()

    # -- autocomplete ------------------------------------------------------------

    async def _choices(
        self, interaction: discord.Interaction, current: str, *, include_all: bool
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete choices for a guild's cards."""
        if interaction.guild_id is None:
            return []
        cards = await self.lib.search(interaction.guild_id, current, include_all=include_all)
        choices = []
        for c in cards:
            state = ""
            if c.status is not Status.APPROVED:
                state = f" ({c.status.value})"
            elif not c.enabled:
                state = " (off)"
            name = truncate(f"{c.title} · {c.region}{state}", 100)
            choices.append(app_commands.Choice(name=name, value=c.id))
        return choices

    async def shareable_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Approved, enabled cards by title or tag."""
        return await self._choices(interaction, current, include_all=False)

    async def any_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Every card of the guild, with its state, for moderators; others see shareable ones.

        Discord shows the moderators' commands to everyone, and their autocomplete would
        otherwise list pending and rejected suggestions to peers.
        """
        moderator = await caller_level(interaction) >= Level.MODERATOR
        return await self._choices(interaction, current, include_all=moderator)

    # -- everyone -------------------------------------------------------------------

    @app_commands.command(name="list", description="List the vetted resource cards")
    @app_commands.describe(tag="Only cards with this tag", region="Only cards for this region")
    @app_commands.choices(tag=TAG_CHOICES, region=REGION_CHOICES)
    @app_commands.guild_only()
    async def list_(
        self,
        interaction: discord.Interaction,
        tag: app_commands.Choice[str] | None = None,
        region: app_commands.Choice[str] | None = None,
    ) -> None:
        """Paginated list, privately."""
        assert interaction.guild_id is not None
        settings = await self.bot.services.guilds.get(interaction.guild_id)
        cards = await self.lib.list_cards(
            interaction.guild_id,
            tag=tag.value if tag else None,
            region=region.value if region else None,
            home_region=settings.region,
        )
        heading = "Resource cards"
        if tag or region:
            heading += " · " + " · ".join(x.name for x in (tag, region) if x)
        pages = list_pages(cards, self.lib.today(), heading)
        if len(pages) == 1:
            await reply_ephemeral(interaction, embed=pages[0])
            return
        await interaction.response.send_message(
            embed=pages[0], view=PageView(pages, interaction.user.id), ephemeral=True
        )

    @app_commands.command(name="show", description="Show a resource card privately")
    @app_commands.describe(card="Start typing a title or a tag")
    @app_commands.guild_only()
    async def show(self, interaction: discord.Interaction, card: str) -> None:
        """Only the caller sees it."""
        assert interaction.guild_id is not None
        found = await self.lib.shareable(interaction.guild_id, card)
        await reply_ephemeral(interaction, embed=card_embed(found, self.lib.today()))

    @app_commands.command(name="share", description="Post a resource card in this channel")
    @app_commands.describe(card="Start typing a title or a tag")
    @app_commands.guild_only()
    async def share(self, interaction: discord.Interaction, card: str) -> None:
        """Everyone in the channel sees it."""
        assert interaction.guild_id is not None
        found = await self.lib.shareable(interaction.guild_id, card)
        await interaction.response.send_message(embed=card_embed(found, self.lib.today()))

    @app_commands.command(name="suggest", description="Suggest a resource card for moderators")
    @app_commands.guild_only()
    async def suggest(self, interaction: discord.Interaction) -> None:
        """Open the suggestion form."""
        await interaction.response.send_modal(SuggestModal())

    # -- moderators ------------------------------------------------------------------

    @app_commands.command(name="review", description="Moderators: suggestions waiting for review")
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def review(self, interaction: discord.Interaction) -> None:
        """The pending queue, with Approve / Reject for the first five."""
        assert interaction.guild_id is not None
        pending = await self.lib.pending(interaction.guild_id)
        if not pending:
            await reply_ephemeral(interaction, "Nothing is waiting for review.")
            return
        lines = []
        for c in pending:
            where = ""
            if c.review_channel_id and c.review_message_id:
                where = (
                    f" · [review message](https://discord.com/channels/{interaction.guild_id}/"
                    f"{c.review_channel_id}/{c.review_message_id})"
                )
            lines.append(f"**{escape(c.title)}** (`{c.id}`) · {c.region}{where}")
        embed = discord.Embed(
            title=f"Waiting for review: {len(pending)}",
            description="\n".join(lines),
            colour=COLOR_WARN,
        )
        embed.set_footer(text="Buttons below are for the first five, oldest first.")
        view = discord.ui.View(timeout=None)
        for row, card in enumerate(pending[:5]):
            approve = ApproveButton(card.id, card.revision)
            reject = RejectButton(card.id, card.revision)
            approve.item.label = truncate(f"Approve {card.id}", 80)
            reject.item.label = truncate(f"Reject {card.id}", 80)
            approve.row = reject.row = row
            view.add_item(approve)
            view.add_item(reject)
        await interaction.response.send_message(embed=fit_embed(embed), view=view, ephemeral=True)

    @app_commands.command(name="add", description="Moderators: add a vetted card")
    @app_commands.describe(
        region="Where the service works",
        verified_on="Date you checked the source, YYYY-MM-DD (default: today)",
    )
    @app_commands.choices(region=REGION_CHOICES)
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def add(
        self,
        interaction: discord.Interaction,
        region: app_commands.Choice[str],
        verified_on: str | None = None,
    ) -> None:
        """Open the card form; the moderator names the source."""
        if verified_on is not None:
            self.lib.check_verified_on(parse_date(verified_on, "verified-on date"))
        await interaction.response.send_modal(
            CardModal(
                title="Add a resource card", card=None, region=region.value, verified_on=verified_on
            )
        )

    @app_commands.command(name="edit", description="Moderators: edit a card (it is reviewed again)")
    @app_commands.describe(card="Start typing a title or a tag", region="Change the region")
    @app_commands.choices(region=REGION_CHOICES)
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def edit(
        self,
        interaction: discord.Interaction,
        card: str,
        region: app_commands.Choice[str] | None = None,
    ) -> None:
        """Open the card form, prefilled."""
        assert interaction.guild_id is not None
        found = await self.lib.get(interaction.guild_id, card)
        self.lib.check_editable(found)
        await interaction.response.send_modal(
            CardModal(
                title="Edit resource card",
                card=found,
                region=region.value if region else None,
                verified_on=None,
            )
        )

    @app_commands.command(name="enable", description="Moderators: turn a card on in this server")
    @app_commands.describe(card="Start typing a title or a tag")
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def enable(self, interaction: discord.Interaction, card: str) -> None:
        """Turn on (e.g. a harm-reduction card)."""
        assert interaction.guild_id is not None
        changed = await self.lib.set_enabled(interaction.guild_id, card, True)
        note = "" if changed.shareable else " It still needs approval before it can be shared."
        await reply_ephemeral(interaction, f"Turned on `{changed.id}`.{note}")
        await self.log_change(interaction, "Resource card turned on", changed)

    @app_commands.command(name="disable", description="Moderators: turn a card off in this server")
    @app_commands.describe(card="Start typing a title or a tag")
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def disable(self, interaction: discord.Interaction, card: str) -> None:
        """Turn off; it is no longer listed or shareable here."""
        assert interaction.guild_id is not None
        changed = await self.lib.set_enabled(interaction.guild_id, card, False)
        await reply_ephemeral(interaction, f"Turned off `{changed.id}` in this server.")
        await self.log_change(interaction, "Resource card turned off", changed)

    @app_commands.command(name="verify", description="Moderators: mark a card re-checked today")
    @app_commands.describe(card="Start typing a title or a tag")
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def verify(self, interaction: discord.Interaction, card: str) -> None:
        """Record today's date as the card's last verification in this server."""
        assert interaction.guild_id is not None
        changed = await self.lib.verify(interaction.guild_id, card)
        await reply_ephemeral(
            interaction,
            f"Marked `{changed.id}` as verified on {self.lib.today().isoformat()}. "
            "Thank you for checking it against its source.",
        )
        await self.log_change(interaction, "Resource card re-verified", changed)

    show.autocomplete("card")(shareable_autocomplete)
    share.autocomplete("card")(shareable_autocomplete)
    edit.autocomplete("card")(any_autocomplete)
    enable.autocomplete("card")(any_autocomplete)
    disable.autocomplete("card")(any_autocomplete)
    verify.autocomplete("card")(any_autocomplete)


async def setup(bot: HavenBot) -> None:
    """Load the cog."""
    await bot.add_cog(ResourcesCog(bot))
