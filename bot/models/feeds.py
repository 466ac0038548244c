"""Public feeds as plain data: a guild's settings, its published invites, a rendered feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FeedKind = Literal["ics", "json"]


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """A guild's feed settings (the token itself is never stored)."""

    guild_id: int
    include_closed: bool
    calendar_name: str
    created_at: datetime
    rotated_at: datetime


@dataclass(frozen=True, slots=True)
class FeedInvite:
    """The discord.gg invite published for one meeting's room."""

    meeting_id: int
    channel_id: int
    code: str


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    """A feed body with its validators."""

    body: bytes
    content_type: str
    etag: str  # quoted strong entity tag
    last_modified: datetime  # aware UTC, whole seconds
    digest: str  # hash of the content apart from its stamp


@dataclass(frozen=True, slots=True)
class FeedVersion:
    """A feed's content version: its digest and when a feed server first rendered it."""

    digest: str  # hex SHA-256 of the content apart from its stamp
    first_seen: datetime  # aware UTC, whole seconds: the feed's DTSTAMP and Last-Modified


@dataclass
class InviteSync:
    """What one invite sync did."""

    created: int = 0
    failed: int = 0
    removed: int = 0
    undeleted: list[str] = field(default_factory=list)  # codes Discord refused to delete
