"""The standard test community saved in Haven's guild settings, as a moderator would set it."""

from __future__ import annotations

from typing import Any

from bot.services import Services
from tests.e2e.harness import Community


async def configure_guild(services: Services, community: Community, **extra: Any) -> None:
    """Save the community's four roles and its mod log, plus any `extra` settings."""
    await services.guilds.update(
        community.guild.id,
        moderator_role_id=community.moderators_role.id,
        facilitator_role_id=community.facilitators_role.id,
        member_role_id=community.members_role.id,
        family_role_id=community.family_role.id,
        modlog_channel_id=community.modlog.id,
        **extra,
    )
