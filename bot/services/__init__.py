"""Domain services: plain data in, plain data out, no Discord imports."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from bot.clock import Clock
from bot.config import Settings
from bot.db import Database
from bot.events import EventBus
from bot.scheduler import JobEngine
from bot.services.attendance import AttendanceService
from bot.services.feeds import FeedService
from bot.services.guilds import GuildSettingsService
from bot.services.meetings import MeetingService, MeetingStore
from bot.services.modline import ModLineService
from bot.services.onboarding import OnboardingService
from bot.services.privacy import PrivacyService
from bot.services.reminders import ReminderService
from bot.services.resources import ResourceLibrary
from bot.services.rooms import RoomService


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
    onboarding: OnboardingService
    resources: ResourceLibrary

    def __post_init__(self) -> None:
        """Build at once the services that register user data (the forget-me contract)."""
        _ = self.rooms
        _ = self.reminders
        _ = self.attendance
        _ = self.modline

    @cached_property
    def rooms(self) -> RoomService:
        """Meeting rooms: derived state, lifecycle jobs, the ledger and removals."""
        return RoomService(
            self.db, self.clock, self.jobs, self.meetings, self.guilds, self.events, self.privacy
        )

    @cached_property
    def reminders(self) -> ReminderService:
        """Reminders: subscriptions, delivery with its ledger, and change notices."""
        return ReminderService(
            self.db,
            self.clock,
            self.settings,
            self.jobs,
            self.meetings,
            self.guilds,
            self.privacy,
            self.events,
        )

    @cached_property
    def attendance(self) -> AttendanceService:
        """Anonymous check-in counts, pseudonyms and proof slips (keys only in memory)."""
        return AttendanceService(
            self.db, self.clock, self.key, self.events, self.jobs, self.privacy
        )

    @cached_property
    def modline(self) -> ModLineService:
        """The anonymous line to moderators."""
        return ModLineService(self.db, self.clock, self.key, self.privacy)

    @cached_property
    def meeting_service(self) -> MeetingService:
        """The rules around meetings (validation, who may change what, change events)."""
        return MeetingService(
            self.db, self.clock, self.meetings, self.guilds, self.events, self.jobs
        )

    @cached_property
    def feeds(self) -> FeedService:
        """Public feeds: per-guild token (hashed), invites, rendered ICS and Meeting Guide JSON."""
        return FeedService(self.db, self.clock, self.meetings)


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
        onboarding=OnboardingService(db, clock, privacy),
        resources=ResourceLibrary(db, clock, privacy),
    )
