"""People of the test community as callables: `await people.facilitator("meeting info", ...)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.e2e.harness import Community
from tests.fakediscord import Channel, FakeDiscord, Guild, InteractionResult, Member, Message


@dataclass(frozen=True)
class Person:
    """One member of one guild, driving the bot through the fake Discord as a user does."""

    server: FakeDiscord
    guild: Guild
    member: Member

    async def __call__(self, command: str, /, **options: Any) -> InteractionResult:
        """Run a slash command: `await peer("remind me", meeting=str(m.id), _channel=room)`."""
        return await self.server.invoke(self.guild, self.member, command, **options)

    async def click(
        self, message: Message | InteractionResult | int, button: str, **kw: Any
    ) -> InteractionResult:
        """Press a button (custom id or label) or pick select values on a message."""
        return await self.server.click(message, button, self.member, **kw)

    async def submit(
        self, modal: InteractionResult | str, values: dict[str, Any], **kw: Any
    ) -> InteractionResult:
        """Fill in and submit the modal the bot opened."""
        return await self.server.submit_modal(modal, self.member, values, **kw)

    async def say(self, channel: Channel, content: str) -> Message:
        """Post a message in a channel."""
        return await self.server.send_user_message(channel, self.member, content)

    async def forget_me(self) -> None:
        """/privacy forget-me and confirm it; fails unless Haven says it is done."""
        asked = await self("privacy forget-me")
        done = await self.click(asked, "Forget me")
        assert done.content.startswith("Done."), done.content


@dataclass(frozen=True)
class People:
    """The standard community's members (see tests/e2e/harness.py: Community)."""

    owner: Person
    moderator: Person
    facilitator: Person
    peer: Person
    family: Person


def people_of(server: FakeDiscord, community: Community) -> People:
    """Every member of the standard community as a Person."""

    def person(member: Member) -> Person:
        return Person(server, community.guild, member)

    return People(
        owner=person(community.owner),
        moderator=person(community.moderator),
        facilitator=person(community.facilitator),
        peer=person(community.peer),
        family=person(community.family),
    )
