"""/resource: list, show, share, suggest and vet resource cards."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.parsing import parse_date
from bot.permissions import Level
from bot.runtime.app import HavenBot
from bot.runtime.tree import reply_ephemeral
from bot.services.resources import ResourceLibrary, Status
from bot.services.shipped_cards import known_region
from cogs._kit import Pager, caller_level, requires, truncate
from cogs._kit.i18n import _T, N_, _, current_locale
from cogs.resources.render import add_missing_spanish, card_embed, list_pages, review_queue_embed
from cogs.resources.review_desk import DiscordReviewDesk, log_change
from cogs.resources.views import ApproveButton, CardModal, RejectButton, SuggestModal

REGION_CHOICES = [
    app_commands.Choice(name=_T("United States"), value="US"),
    app_commands.Choice(name=_T("Canada"), value="CA"),
    app_commands.Choice(name=_T("United Kingdom"), value="GB"),
    app_commands.Choice(name=_T("Ireland"), value="IE"),
    app_commands.Choice(name=_T("Australia"), value="AU"),
    app_commands.Choice(name=_T("Worldwide"), value="intl"),
]
# The values are the tags cards carry (shipped_cards.KNOWN_TAGS); the names are what people read.
TAG_CHOICES = [
    app_commands.Choice(name=_T("crisis"), value="crisis"),
    app_commands.Choice(name=_T("family"), value="family"),
    app_commands.Choice(name=_T("fellowship"), value="fellowship"),
    app_commands.Choice(name=_T("harm reduction"), value="harm-reduction"),
    app_commands.Choice(name=_T("helpline"), value="helpline"),
    app_commands.Choice(name=_T("information"), value="information"),
    app_commands.Choice(name=_T("legal"), value="legal"),
    app_commands.Choice(name=_T("medication"), value="medication"),
    app_commands.Choice(name=_T("meetings"), value="meetings"),
    app_commands.Choice(name=_T("mental health"), value="mental-health"),
    app_commands.Choice(name=_T("naloxone"), value="naloxone"),
    app_commands.Choice(name=_T("online"), value="online"),
    app_commands.Choice(name=_T("overdose"), value="overdose"),
    app_commands.Choice(name=_T("treatment"), value="treatment"),
    app_commands.Choice(name=_T("youth"), value="youth"),
]
_STATES = {"pending": N_("pending"), "rejected": N_("rejected")}


class ResourcesCog(
    commands.GroupCog, name="resource", group_description=_T("Vetted resource cards")
):
    """Resource cards: browse and share (everyone), suggest (everyone), vet (moderators)."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        """Install the review desk (for the weekly stale-card check) and the review buttons."""
        self.bot.add_dynamic_items(ApproveButton, RejectButton)
        self.lib.desk = DiscordReviewDesk(self.bot)

    async def cog_unload(self) -> None:
        """Remove the review desk and the buttons."""
        self.bot.remove_dynamic_items(ApproveButton, RejectButton)
        self.lib.desk = None

    @property
    def lib(self) -> ResourceLibrary:
        """The resource library service."""
        return self.bot.services.resources

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
                state = f" ({_(_STATES[c.status.value])})"
            elif not c.enabled:
                state = " " + _("(off)")
            title = c.in_language(current_locale.get()).title
            name = truncate(f"{title} · {c.region}{state}", 100)
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

    @app_commands.command(name="list", description=_T("List the vetted resource cards"))
    @app_commands.describe(
        tag=_T("Only cards with this tag"), region=_T("Only cards for this region")
    )
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
        heading = _("Resource cards")
        if chosen := [x for x in (tag, region) if x]:
            heading += " · " + " · ".join(_(x.name) for x in chosen)
        pages = list_pages(cards, self.lib.today(), heading)
        pager = Pager(pages, interaction.user.id, prev_label=_("Previous"), next_label=_("Next"))
        await pager.send(interaction)

    @app_commands.command(name="show", description=_T("Show a resource card privately"))
    @app_commands.describe(card=_T("Start typing a title or a tag"))
    @app_commands.guild_only()
    async def show(self, interaction: discord.Interaction, card: str) -> None:
        """Only the caller sees it."""
        assert interaction.guild_id is not None
        found = await self.lib.shareable(interaction.guild_id, card)
        await reply_ephemeral(interaction, embed=card_embed(found, self.lib.today()))

    @app_commands.command(name="share", description=_T("Post a resource card in this channel"))
    @app_commands.describe(card=_T("Start typing a title or a tag"))
    @app_commands.guild_only()
    async def share(self, interaction: discord.Interaction, card: str) -> None:
        """Everyone in the channel sees it, in the sharer's language (they chose it for someone)."""
        assert interaction.guild_id is not None
        found = await self.lib.shareable(interaction.guild_id, card)
        await interaction.response.send_message(embed=card_embed(found, self.lib.today()))

    @app_commands.command(name="suggest", description=_T("Suggest a resource card for moderators"))
    @app_commands.guild_only()
    async def suggest(self, interaction: discord.Interaction) -> None:
        """Open the suggestion form."""
        await interaction.response.send_modal(SuggestModal())

    # -- moderators ------------------------------------------------------------------

    @app_commands.command(
        name="review", description=_T("Moderators: suggestions waiting for review")
    )
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def review(self, interaction: discord.Interaction) -> None:
        """The pending queue, with Approve / Reject for the first five, and the crisis cards
        /crisis shows here that have no Spanish text."""
        assert interaction.guild_id is not None
        pending = await self.lib.pending(interaction.guild_id)
        settings = await self.bot.services.guilds.get(interaction.guild_id)
        region = known_region(settings.region)
        missing = self.lib.crisis_cards_missing("es", None if region == "intl" else region)
        if not pending:
            flag = add_missing_spanish(discord.Embed(), missing) if missing else None
            await reply_ephemeral(interaction, _("Nothing is waiting for review."), embed=flag)
            return
        view = discord.ui.View(timeout=None)
        for row, card in enumerate(pending[:5]):
            approve = ApproveButton(card.id, card.revision)
            reject = RejectButton(card.id, card.revision)
            approve.item.label = truncate(_("Approve {card}").format(card=card.id), 80)
            reject.item.label = truncate(_("Reject {card}").format(card=card.id), 80)
            approve.row = reject.row = row
            view.add_item(approve)
            view.add_item(reject)
        embed = add_missing_spanish(review_queue_embed(pending, interaction.guild_id), missing)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="add", description=_T("Moderators: add a vetted card"))
    @app_commands.describe(
        region=_T("Where the service works"),
        verified_on=_T("Date you checked the source, YYYY-MM-DD (default: today)"),
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
            self.lib.check_verified_on(parse_date(verified_on, _("verified-on date")))
        await interaction.response.send_modal(
            CardModal(
                title=_("Add a resource card"),
                card=None,
                region=region.value,
                verified_on=verified_on,
            )
        )

    @app_commands.command(
        name="edit", description=_T("Moderators: edit a card (it is reviewed again)")
    )
    @app_commands.describe(card=_T("Start typing a title or a tag"), region=_T("Change the region"))
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
                title=_("Edit resource card"),
                card=found,
                region=region.value if region else None,
                verified_on=None,
            )
        )

    @app_commands.command(
        name="enable", description=_T("Moderators: turn a card on in this server")
    )
    @app_commands.describe(card=_T("Start typing a title or a tag"))
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def enable(self, interaction: discord.Interaction, card: str) -> None:
        """Turn on (e.g. a harm-reduction card)."""
        assert interaction.guild_id is not None
        changed = await self.lib.set_enabled(interaction.guild_id, card, True)
        text = (
            _("Turned on `{card}`.")
            if changed.shareable
            else _("Turned on `{card}`. It still needs approval before it can be shared.")
        )
        await reply_ephemeral(interaction, text.format(card=changed.id))
        await log_change(interaction, N_("Resource card turned on"), changed)

    @app_commands.command(
        name="disable", description=_T("Moderators: turn a card off in this server")
    )
    @app_commands.describe(card=_T("Start typing a title or a tag"))
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def disable(self, interaction: discord.Interaction, card: str) -> None:
        """Turn off; it is no longer listed or shareable here."""
        assert interaction.guild_id is not None
        changed = await self.lib.set_enabled(interaction.guild_id, card, False)
        await reply_ephemeral(
            interaction, _("Turned off `{card}` in this server.").format(card=changed.id)
        )
        await log_change(interaction, N_("Resource card turned off"), changed)

    @app_commands.command(name="verify", description=_T("Moderators: mark a card re-checked today"))
    @app_commands.describe(card=_T("Start typing a title or a tag"))
    @app_commands.guild_only()
    @requires(Level.MODERATOR)
    async def verify(self, interaction: discord.Interaction, card: str) -> None:
        """Record today's date as the card's last verification in this server."""
        assert interaction.guild_id is not None
        changed = await self.lib.verify(interaction.guild_id, card)
        await reply_ephemeral(
            interaction,
            _(
                "Marked `{card}` as verified on {day}. Thank you for checking it against its "
                "source."
            ).format(card=changed.id, day=self.lib.today().isoformat()),
        )
        await log_change(interaction, N_("Resource card re-verified"), changed)

    show.autocomplete("card")(shareable_autocomplete)
    share.autocomplete("card")(shareable_autocomplete)
    edit.autocomplete("card")(any_autocomplete)
    enable.autocomplete("card")(any_autocomplete)
    disable.autocomplete("card")(any_autocomplete)
    verify.autocomplete("card")(any_autocomplete)
