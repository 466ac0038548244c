"""Shared components: the persistent button base, one confirm dialog and one pager."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import discord

from bot.i18n import _
from bot.runtime.tree import HavenView, enter_locale, handle_interaction_error, reply_ephemeral

VIEW_TIMEOUT = 600.0  # seconds an ephemeral dialog's buttons stay usable


@dataclass(frozen=True, slots=True)
class Field:
    """One value a persistent button carries in its custom id: pattern, parse and format."""

    pattern: str
    parse: Callable[[str], Any] = str
    format: Callable[[Any], str] = str


ID = Field(r"\d+", int)  # a Discord snowflake or a row id
DAY = Field(r"\d{4}-\d{2}-\d{2}")  # an occurrence key


class PersistentButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button that survives restarts: its custom id is its prefix and its fields' values.

    A subclass declares them once (``prefix="haven:checkin", fields={"meeting_id": ID, ...}``)
    with a fixed ``label``/``style``/``emoji`` or chooses them in its ``__init__``. A class
    ``label`` is marked ``N_("...")`` and translated when a button is built. The values
    become attributes of the same names, ``from_custom_id`` is derived from the fields, and the
    subclass implements only ``pressed``. Every error takes the one error path (discord.py would
    only log a DynamicItem's error, leaving the user with a failed click).
    """

    prefix: ClassVar[str]
    fields: ClassVar[dict[str, Field]]
    button_label: ClassVar[str | None] = None
    button_style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary
    button_emoji: ClassVar[str | None] = None

    def __init_subclass__(
        cls,
        *,
        prefix: str,
        fields: dict[str, Field],
        label: str | None = None,
        style: discord.ButtonStyle | None = None,
        emoji: str | None = None,
        **kwargs: Any,
    ) -> None:
        template = prefix + "".join(f":(?P<{name}>{f.pattern})" for name, f in fields.items())
        super().__init_subclass__(template=template, **kwargs)
        cls.prefix, cls.fields = prefix, fields
        cls.button_label = label
        cls.button_style = style or discord.ButtonStyle.secondary
        cls.button_emoji = emoji

    def __init__(
        self, *values: Any, label: str | None = None, style: discord.ButtonStyle | None = None
    ) -> None:
        parts = [self.prefix]
        for (name, field), value in zip(self.fields.items(), values, strict=True):
            setattr(self, name, value)
            parts.append(field.format(value))
        super().__init__(
            discord.ui.Button(
                label=label or (_(self.button_label) if self.button_label else None),
                style=style or self.button_style,
                emoji=self.button_emoji,
                custom_id=":".join(parts),
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(*(field.parse(match[name]) for name, field in cls.fields.items()))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Run ``pressed`` in the presser's language; answer any error privately, as commands do."""
        enter_locale(interaction)  # each click runs in its own task
        try:
            await self.pressed(interaction)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, f"button {type(self).__name__}")

    async def pressed(self, interaction: discord.Interaction) -> None:
        """What the button does; subclasses implement it."""
        raise NotImplementedError


class ExpiringView(HavenView):
    """A view for one person whose buttons come off the message when it times out."""

    # Said to anyone else who presses (marked N_, translated when said); None = ignore silently.
    refusal: str | None = None

    def __init__(self, owner_id: int, *, timeout: float = VIEW_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.origin: discord.Interaction | None = None

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the person who asked uses the buttons."""
        if interaction.user.id == self.owner_id:
            return True
        if self.refusal:
            await reply_ephemeral(interaction, _(self.refusal))
        return False

    async def send(
        self, interaction: discord.Interaction, content: str | None = None, **kwargs: Any
    ) -> None:
        """Answer privately with this view, remembering the message to clear on timeout."""
        self.origin = interaction
        await interaction.response.send_message(content, view=self, ephemeral=True, **kwargs)

    async def on_timeout(self) -> None:
        """Take the buttons off the message (they would only fail after this)."""
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(view=None)
        except discord.HTTPException:
            pass


@dataclass(frozen=True, slots=True)
class Choice:
    """One button of a confirm dialog: its label, the key passed on, and its style."""

    label: str
    key: str
    style: discord.ButtonStyle = discord.ButtonStyle.danger


Chosen = Callable[[discord.Interaction, str], Awaitable[None]]


class ConfirmView(ExpiringView):
    """Ask one person to confirm: one or more action buttons and a cancel that changes nothing.

    ``on_choice(interaction, key)`` runs for an action; it answers the interaction itself. If it
    raises, the error is answered privately and the buttons stay usable.
    """

    def __init__(
        self,
        owner_id: int,
        choices: Sequence[Choice],
        on_choice: Chosen,
        *,
        cancel_label: str | None = None,
        cancelled: str | None = None,
        prefix: str = "haven-confirm",
        cancel_key: str = "cancel",
        timeout: float = VIEW_TIMEOUT,
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self._on_choice = on_choice
        self._cancelled = cancelled or _("Nothing was changed.")
        for choice in choices:
            self._add(choice.label, f"{prefix}:{choice.key}", choice.style, choice.key)
        self._add(
            cancel_label or _("Cancel"),
            f"{prefix}:{cancel_key}",
            discord.ButtonStyle.secondary,
            None,
        )

    def _add(self, label: str, custom_id: str, style: discord.ButtonStyle, key: str | None) -> None:
        button: discord.ui.Button[ConfirmView] = discord.ui.Button(
            label=label, custom_id=custom_id, style=style
        )

        async def callback(interaction: discord.Interaction) -> None:
            """Cancel, or pass the choice on."""
            if key is None:
                self.stop()
                await interaction.response.edit_message(
                    content=self._cancelled, embed=None, view=None
                )
                return
            await self._on_choice(interaction, key)
            self.stop()

        button.callback = callback  # type: ignore[method-assign]
        self.add_item(button)


class Pager(ExpiringView):
    """Previous / Next over pre-rendered embeds; only the person who asked turns the pages."""

    def __init__(
        self,
        pages: Sequence[discord.Embed],
        owner_id: int,
        *,
        prev_label: str | None = None,
        next_label: str | None = None,
        refusal: str | None = None,
        prefix: str = "haven-pager",
        timeout: float = VIEW_TIMEOUT,
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.pages = list(pages)
        self.index = 0
        self.refusal = refusal
        self.prev: discord.ui.Button[Pager] = discord.ui.Button(
            label=prev_label or _("◀ Prev"),
            style=discord.ButtonStyle.secondary,
            custom_id=f"{prefix}:prev",
        )
        self.next: discord.ui.Button[Pager] = discord.ui.Button(
            label=next_label or _("Next ▶"),
            style=discord.ButtonStyle.secondary,
            custom_id=f"{prefix}:next",
        )
        for button, step in ((self.prev, -1), (self.next, 1)):
            button.callback = self._turner(step)  # type: ignore[method-assign,assignment]
            self.add_item(button)
        self._sync()

    def _sync(self) -> None:
        self.prev.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    def _turner(self, step: int) -> Callable[[discord.Interaction], Awaitable[None]]:
        async def turn(interaction: discord.Interaction) -> None:
            """Move by one page and redraw."""
            self.index = max(0, min(len(self.pages) - 1, self.index + step))
            self._sync()
            await interaction.response.edit_message(embed=self.pages[self.index], view=self)

        return turn

    async def send(
        self, interaction: discord.Interaction, content: str | None = None, **kwargs: Any
    ) -> None:
        """Answer privately with the first page (and buttons only when there is more than one)."""
        if len(self.pages) == 1:
            await interaction.response.send_message(
                content, embed=self.pages[0], ephemeral=True, **kwargs
            )
            return
        await super().send(interaction, content, embed=self.pages[0], **kwargs)
