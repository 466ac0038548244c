"""Domain services: plain data in, plain data out, no Discord imports."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.config import Settings
from bot.db import Database
from bot.events import EventBus
from bot.scheduler import JobEngine
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import MeetingStore
from bot.services.privacy import PrivacyService


@dataclass
class Services:
    """Everything the cogs need, built once at start and handed down."""

    settings: Settings
    db: Database
    clock: Clock
    key: bytes
    events: EventBus
    guilds: GuildSettingsService
    privacy: PrivacyService
    jobs: JobEngine
    meetings: MeetingStore


def build_services(settings: Settings, db: Database, clock: Clock, key: bytes) -> Services:
    """Construct every service over one database connection."""
    events = EventBus()
    privacy = PrivacyService(db)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        key=key,
        events=events,
        guilds=GuildSettingsService(db, clock),
        privacy=privacy,
        jobs=JobEngine(db, clock),
        meetings=MeetingStore(db, clock, privacy),
    )
