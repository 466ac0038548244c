"""A local Discord-compatible server (REST + gateway) for end-to-end tests of discord.py bots."""

from .faults import Fault
from .interactions import InteractionResult, InvocationError
from .rest import Call
from .server import FakeDiscord
from .snowflake import snowflake_at, snowflake_time
from .state import Channel, ChannelType, Guild, Member, Message, P, Role, User
from .validation import DiscordError

__all__ = [
    "Call",
    "Channel",
    "ChannelType",
    "DiscordError",
    "FakeDiscord",
    "Fault",
    "Guild",
    "InteractionResult",
    "InvocationError",
    "Member",
    "Message",
    "P",
    "Role",
    "User",
    "snowflake_at",
    "snowflake_time",
]
