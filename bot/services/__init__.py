"""Domain services: plain data in, plain data out, no Discord imports."""

from __future__ import annotations

from dataclasses import dataclass

from bot.bus import EventBus
from bot.clock import Clock
from bot.cluster import Shards
from bot.config import Settings
from bot.db import Database
from bot.jobs import JobEngine
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
    rooms: RoomService  # derived room state, lifecycle jobs, the ledger and removals
    reminders: ReminderService  # subscriptions, delivery with its ledger, change notices
    attendance: AttendanceService  # anonymous counts, pseudonyms, proof slips (keys in memory)
    modline: ModLineService  # the anonymous line to moderators
    meeting_service: MeetingService  # the rules around meetings (validation, who may change what)
    feeds: FeedService  # public feeds: hashed token, invites, rendered ICS and Meeting Guide JSON


def build_services(settings: Settings, db: Database, clock: Clock, key: bytes) -> Services:
    """Construct every service over one database connection.

    Everything is built here, at once: constructors register user data with the privacy service
    (the forget-me contract), subscribe to events and register job handlers.
    """
    events = EventBus()
    privacy = PrivacyService(db)
    # SHARD_COUNT / SHARD_IDS: which guilds this process serves and whose timed jobs it runs.
    shards = Shards.from_settings(settings)
    jobs = JobEngine(db, clock, shards)
    guilds = GuildSettingsService(db, clock, shards, owns=jobs.owns)
    meetings = MeetingStore(db, clock, privacy)
    onboarding = OnboardingService(db, clock, privacy)
    resources = ResourceLibrary(db, clock, privacy, jobs=jobs)
    rooms = RoomService(db, clock, jobs, meetings, guilds, events, privacy)
    reminders = ReminderService(db, clock, settings, jobs, meetings, guilds, privacy, events)
    attendance = AttendanceService(db, clock, key, events, jobs, privacy)
    modline = ModLineService(db, clock, key, privacy)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        key=key,
        events=events,
        guilds=guilds,
        privacy=privacy,
        jobs=jobs,
        meetings=meetings,
        onboarding=onboarding,
        resources=resources,
        rooms=rooms,
        reminders=reminders,
        attendance=attendance,
        modline=modline,
        meeting_service=MeetingService(db, clock, meetings, guilds, events, jobs),
        feeds=FeedService(db, clock, meetings, events=events, jobs=jobs),
    )
