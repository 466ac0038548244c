"""Anonymous attendance: check-in counts, per-occurrence pseudonyms and proof slips. No Discord.

Each open occurrence gets a random key that lives only in this process's memory. A person is
recognised within the occurrence by HMAC(occurrence key, user id): that tag deduplicates check-ins,
names their pseudonym for anonymous shares, carries share silences and the share limit (so
forget-me cannot shed them), and binds the one name on their proof slip. The tags, the pseudonym
map and the key are never written anywhere; the database holds only the number of check-ins per
occurrence, and that number is counted in memory and written on a fixed cadence and at the close,
so no write (nor the WAL's size or time) marks the moment of a check-in. The key is dropped one hour after the room closes (the window
for proof slips), after which nothing links anyone to the occurrence. A restart loses the key: a
person who checks in again after a restart is counted again (see docs/privacy.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bot.bus import ROOM_CLOSED, ROOM_OPENED, EventBus
from bot.clock import Clock
from bot.db import Database, Transaction
from bot.db.repositories import attendance as repo
from bot.errors import UserFacingError
from bot.i18n import N_, Msg, PluralMsg
from bot.jobs import Job, JobEngine, NewJob
from bot.keys import derive_key
from bot.models.attendance import SMALL_COUNT as SMALL_COUNT
from bot.models.attendance import CountReport as CountReport
from bot.models.attendance import LiveOccurrence as LiveOccurrence
from bot.models.attendance import OccurrenceCount as OccurrenceCount
from bot.models.attendance import ProofSlip as ProofSlip
from bot.models.attendance import SharePost as SharePost
from bot.parsing import clean_text, neutralize
from bot.services.privacy import PrivacyService

log = logging.getLogger(__name__)

FORGET_JOB = "attendance_forget"
FORGET_CHANNEL = "haven_attendance_forget"  # a fleet message: "user id:guild id (0: all)"
SAVE_JOB = "attendance_save"
SAVE_EVERY = timedelta(minutes=5)  # the coarse save of the in-memory count while a room is open
PROOF_GRACE = timedelta(hours=1)  # slips stay available this long after the room closes
OCCURRENCE_CAP = timedelta(hours=18)  # longest meeting + room margins; then the key goes anyway
SHARE_INTERVAL = timedelta(seconds=30)
HISTORY = 12
SHARE_MAX = 1500
PROOF_NAME_MAX = 60
PROOF_TITLE_MAX = 60

_SLIP_VERSION = 1
_SLIP_PREFIX = "HVN1-"
_SLIP_MAC_BYTES = 16
_EPOCH = date(2000, 1, 1)
_rng = secrets.SystemRandom()

ROOM_NOT_OPEN = Msg(
    "This meeting's room is not open right now. Check-in and anonymous sharing work only while "
    "the room is open."
)


# --- pure helpers ---------------------------------------------------------------------------


def trend_of(counts: list[int]) -> Msg:
    """Rising, falling or steady: the recent half against the earlier half (no numbers shown)."""
    if len(counts) < 4:
        return Msg("not enough meetings yet to show a trend")
    # Small counts are taken as the middle of 0..4 so the trend cannot reveal them.
    values = [c if c >= SMALL_COUNT else 2.5 for c in counts]
    half = len(values) // 2
    earlier, recent = values[:half], values[-half:]
    before = sum(earlier) / len(earlier)
    after = sum(recent) / len(recent)
    if after > before * 1.1:
        return Msg("rising")
    if after < before * 0.9:
        return Msg("falling")
    return Msg("steady")


def slip_name(name: str | None) -> str:
    """The name as a slip prints it ('' for none); a bad name is a UserFacingError."""
    if name is None or not name.strip():
        return ""
    return clean_text(name, field="name", max_len=PROOF_NAME_MAX)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _short(text: str, limit: int) -> bytes:
    raw = text.encode("utf-8")
    while len(raw) > 255 or len(text) > limit:
        text = text[:-1]
        raw = text.encode("utf-8")
    return raw


def sign_slip(proof_key: bytes, meeting_id: int, title: str, occurrence: date, name: str) -> str:
    """A compact code carrying meeting, title, date and name, with a 128-bit HMAC over them."""
    title_raw = _short(title, PROOF_TITLE_MAX)
    name_raw = _short(name, PROOF_NAME_MAX)
    body = (
        bytes([_SLIP_VERSION])
        + _varint(meeting_id)
        + struct.pack(">H", (occurrence - _EPOCH).days)
        + bytes([len(title_raw)])
        + title_raw
        + bytes([len(name_raw)])
        + name_raw
    )
    mac = hmac.new(proof_key, b"haven-proof\x00" + body, hashlib.sha256).digest()[:_SLIP_MAC_BYTES]
    return _SLIP_PREFIX + base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def verify_slip(proof_key: bytes, code: str) -> ProofSlip | None:
    """The slip a code stands for when its signature holds, else None."""
    text = "".join(code.split())
    if not text.upper().startswith(_SLIP_PREFIX):
        return None
    text = text[len(_SLIP_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) <= _SLIP_MAC_BYTES + 5:
        return None
    body, mac = raw[:-_SLIP_MAC_BYTES], raw[-_SLIP_MAC_BYTES:]
    want = hmac.new(proof_key, b"haven-proof\x00" + body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, want[:_SLIP_MAC_BYTES]):
        return None
    try:
        if body[0] != _SLIP_VERSION:
            return None
        meeting_id, pos = _read_varint(body, 1)
        (days,) = struct.unpack_from(">H", body, pos)
        pos += 2
        tlen = body[pos]
        title = body[pos + 1 : pos + 1 + tlen].decode("utf-8")
        pos += 1 + tlen
        nlen = body[pos]
        name = body[pos + 1 : pos + 1 + nlen].decode("utf-8")
        if pos + 1 + nlen != len(body):
            return None
    except (IndexError, struct.error, UnicodeDecodeError, ValueError):
        return None
    return ProofSlip(meeting_id, title, _EPOCH + timedelta(days=days), name, _SLIP_PREFIX + text)


# --- in-memory occurrence state -------------------------------------------------------------


@dataclass
class _Live:
    """One occurrence's secrets, in memory only."""

    meeting_id: int
    guild_id: int
    occurrence: str
    key: bytes
    opened_at: datetime
    closed_at: datetime | None = None
    checked_in: set[bytes] = field(default_factory=set)
    saved: int = 0  # how many of checked_in the stored count already includes
    pseudonyms: dict[bytes, int] = field(default_factory=dict)
    retired: set[int] = field(default_factory=set)  # numbers unlinked by forget-me, never reused
    silenced: set[bytes] = field(default_factory=set)
    last_share: dict[bytes, datetime] = field(default_factory=dict)
    slip_names: dict[bytes, str] = field(default_factory=dict)  # one slip per check-in

    def tag(self, user_id: int) -> bytes:
        """HMAC(occurrence key, user id): who someone is within this occurrence only."""
        return hmac.new(self.key, str(user_id).encode(), hashlib.sha256).digest()

    @property
    def is_open(self) -> bool:
        """Whether the room is still open."""
        return self.closed_at is None

    @property
    def unsaved(self) -> int:
        """Check-ins counted in memory but not yet in the stored count."""
        return len(self.checked_in) - self.saved


class AttendanceService:
    """Holds each open occurrence's key in memory and the counts in the database."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        key: bytes,
        events: EventBus,
        jobs: JobEngine,
        privacy: PrivacyService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.jobs = jobs
        self._proof_key = derive_key(key, "attendance-proof")
        self._live: dict[tuple[int, str], _Live] = {}
        events.subscribe(ROOM_OPENED, self.on_room_opened)
        events.subscribe(ROOM_CLOSED, self.on_room_closed)
        jobs.register(FORGET_JOB, self._on_forget_jobs)
        jobs.register(SAVE_JOB, self._on_save_jobs)
        jobs.on_fleet_message(FORGET_CHANNEL, self._forgotten_elsewhere)
        privacy.register_hook(
            self._forget_user,
            purpose=N_(
                "While a meeting is open, a one-time keyed hash (in memory only) stops a double "
                "check-in and holds any share pause and the one name on your slip; forget-me "
                "unlinks your pseudonym at once, and all of it is gone an hour after the room "
                "closes. Only the count is kept."
            ),
        )

    # -- lifecycle ------------------------------------------------------------------------------

    async def on_room_opened(
        self, meeting_id: int, guild_id: int, occurrence: str, **_: object
    ) -> None:
        """A room opened: create the occurrence key (kept if it already exists) and its count."""
        now = self.clock.now()
        live = self._live.get((meeting_id, occurrence))
        if live is None:
            live = _Live(meeting_id, guild_id, occurrence, secrets.token_bytes(32), now)
            self._live[(meeting_id, occurrence)] = live
        else:
            # Reopened within the proof window: same key, so nobody is counted twice.
            live.closed_at = None
        async with self.db.transaction() as tx:
            if not await repo.open_count(tx, meeting_id, guild_id, occurrence, now):
                self._live.pop((meeting_id, occurrence), None)
                return
            earliest = await self.jobs.add(
                tx,
                [
                    NewJob(
                        kind=FORGET_JOB,
                        guild_id=guild_id,
                        fire_at=now + OCCURRENCE_CAP,
                        meeting_id=meeting_id,
                        occurrence=occurrence,
                        slot="cap",
                    ),
                    self._save_job(live, self._next_save(live)),
                ],
            )
        self.jobs.wake_for(earliest)

    def _next_save(self, live: _Live) -> datetime:
        """The next instant after now on the room's fixed save cadence (counted from its opening)."""
        elapsed = self.clock.now() - live.opened_at
        return live.opened_at + SAVE_EVERY * (elapsed // SAVE_EVERY + 1)

    @staticmethod
    def _save_job(live: _Live, at: datetime) -> NewJob:
        return NewJob(
            kind=SAVE_JOB,
            guild_id=live.guild_id,
            fire_at=at,
            meeting_id=live.meeting_id,
            occurrence=live.occurrence,
            slot=f"save:{int(at.timestamp())}",
        )

    @staticmethod
    async def _save(tx: Transaction, live: _Live) -> None:
        """Add the check-ins counted since the last save to the stored count."""
        pending = live.unsaved
        # Written even when nothing is pending: the write's timing must not say whether anyone came.
        await repo.add_checkins(tx, live.meeting_id, live.occurrence, pending)
        live.saved += pending

    async def _on_save_jobs(self, jobs: list[Job]) -> None:
        for job in jobs:
            # After a restart nobody may have checked in yet: the save still runs on its cadence.
            await self.recover(job.meeting_id, job.guild_id, job.occurrence)
            live = self._live.get((job.meeting_id, job.occurrence))
            async with self.db.transaction() as tx:
                earliest = None
                if live is not None and live.is_open:
                    await self._save(tx, live)
                    earliest = await self.jobs.add(
                        tx, [self._save_job(live, self._next_save(live))]
                    )
                await self.jobs.complete(tx, job)
            self.jobs.wake_for(earliest)

    async def on_room_closed(
        self, meeting_id: int, guild_id: int, occurrence: str, **_: object
    ) -> None:
        """A room closed: no more check-ins or shares; the key stays one hour for proof slips."""
        now = self.clock.now()
        live = self._live.get((meeting_id, occurrence))
        closing = live is not None and live.is_open
        async with self.db.transaction() as tx:
            if live is not None and closing:
                await self._save(tx, live)
            await repo.close_count(tx, meeting_id, occurrence, now)
            earliest = await self.jobs.add(
                tx,
                [
                    NewJob(
                        kind=FORGET_JOB,
                        guild_id=guild_id,
                        fire_at=now + PROOF_GRACE,
                        meeting_id=meeting_id,
                        occurrence=occurrence,
                        slot=f"grace:{int(now.timestamp())}",
                    )
                ],
            )
            await self.jobs.remove_pending(
                tx, meeting_id=meeting_id, kinds=[SAVE_JOB], occurrence=occurrence
            )
        if live is not None and closing:
            live.closed_at = now
            live.pseudonyms.clear()
            live.retired.clear()
            live.silenced.clear()
            live.last_share.clear()
        self.jobs.wake_for(earliest)

    async def _on_forget_jobs(self, jobs: list[Job]) -> None:
        for job in jobs:
            async with self.db.transaction() as tx:
                # A room still open at the cap: keep its last check-ins before the key goes.
                for live in self._expired():
                    if live.is_open:
                        await self._save(tx, live)
                await self.jobs.complete(tx, job)
            self.prune()

    async def save_all(self) -> None:
        """Write every open room's unsaved check-ins (at shutdown, so a restart loses none)."""
        open_rooms = [live for live in self._live.values() if live.is_open and live.unsaved]
        if not open_rooms:
            return
        async with self.db.transaction() as tx:
            for live in open_rooms:
                await self._save(tx, live)

    def _expired(self) -> list[_Live]:
        now = self.clock.now()
        return [
            live
            for live in self._live.values()
            if (live.closed_at is not None and now >= live.closed_at + PROOF_GRACE)
            or now >= live.opened_at + OCCURRENCE_CAP
        ]

    def prune(self) -> int:
        """Drop every key past its proof window (or past the cap); return how many went."""
        gone = self._expired()
        for live in gone:
            del self._live[(live.meeting_id, live.occurrence)]
        return len(gone)

    async def _forget_user(self, user_id: int, guild_id: int | None) -> None:
        self._unlink(user_id, guild_id)
        # Several processes: rooms of other shards' guilds are open in the others' memory. At most
        # once; a failure must not stop forget-me deleting what is stored.
        try:
            await self.jobs.tell_fleet(FORGET_CHANNEL, f"{user_id}:{guild_id or 0}")
        except Exception as exc:  # its text is not logged: it could quote the message
            log.warning(
                "could not tell the other processes to unlink a pseudonym (%s)", type(exc).__name__
            )

    def _forgotten_elsewhere(self, payload: str) -> None:
        user, _, guild = payload.partition(":")
        if user.isdigit() and guild.isdigit():
            self._unlink(int(user), int(guild) or None)

    def _unlink(self, user_id: int, guild_id: int | None) -> None:
        # Unlink a person from their pseudonym now. The tag stays where it is moderation or
        # proof: the dedup set (not counted twice), silences, the share limit and the slip name.
        for live in self._live.values():
            if guild_id is None or live.guild_id == guild_id:
                number = live.pseudonyms.pop(live.tag(user_id), None)
                if number is not None:
                    live.retired.add(number)

    async def recover(self, meeting_id: int, guild_id: int, occurrence: str) -> bool:
        """After a restart: a room still open in the database gets a fresh key (may double count)."""
        if (meeting_id, occurrence) in self._live:
            return True
        times = await repo.count_times(self.db, meeting_id, guild_id, occurrence)
        if times is None or times[1] is not None:
            return False
        opened = times[0]
        if self.clock.now() >= opened + OCCURRENCE_CAP:
            return False
        # Memory only: a write here would be timed by the check-in that asked for the key. The
        # room's stored save job keeps its cadence and finds this key when it fires.
        self._live[(meeting_id, occurrence)] = _Live(
            meeting_id, guild_id, occurrence, secrets.token_bytes(32), opened
        )
        log.info("attendance key recreated after a restart for one open room")
        return True

    def live(self) -> list[LiveOccurrence]:
        """Occurrences whose key is in memory."""
        self.prune()
        return [
            LiveOccurrence(v.meeting_id, v.guild_id, v.occurrence, v.is_open)
            for v in self._live.values()
        ]

    def open_occurrence(self, meeting_id: int) -> str | None:
        """The occurrence key of this meeting's open room, if any."""
        self.prune()
        for live in self._live.values():
            if live.meeting_id == meeting_id and live.is_open:
                return live.occurrence
        return None

    def _open(self, meeting_id: int, occurrence: str, guild_id: int) -> _Live:
        self.prune()
        live = self._live.get((meeting_id, occurrence))
        if live is None or live.guild_id != guild_id or not live.is_open:
            raise UserFacingError(ROOM_NOT_OPEN)
        return live

    # -- check-in -------------------------------------------------------------------------------

    async def check_in(self, meeting_id: int, occurrence: str, guild_id: int, user_id: int) -> bool:
        """Count a person once for an open occurrence; True when newly counted."""
        if (meeting_id, occurrence) not in self._live:
            await self.recover(meeting_id, guild_id, occurrence)
        live = self._open(meeting_id, occurrence, guild_id)
        tag = live.tag(user_id)
        if tag in live.checked_in:
            return False
        # Counted in memory only; the count reaches the database with the next save or the close.
        live.checked_in.add(tag)
        return True

    # -- counts ---------------------------------------------------------------------------------

    async def counts(self, meeting_id: int) -> CountReport:
        """The last 12 closed occurrences (open ones are hidden: a live count could be watched)."""
        items = await repo.closed_counts(self.db, meeting_id, HISTORY)
        return CountReport(meeting_id, tuple(items), trend_of([i.checkins for i in items]))

    # -- anonymous shares -----------------------------------------------------------------------

    def prepare_share(
        self,
        meeting_id: int,
        occurrence: str,
        guild_id: int,
        user_id: int,
        text: str,
        language: str = "en",
    ) -> SharePost:
        """Check limits and return the neutralised post under this person's pseudonym."""
        live = self._open(meeting_id, occurrence, guild_id)
        body = clean_text(text, field="share", max_len=SHARE_MAX, multiline=True)
        tag = live.tag(user_id)
        number = live.pseudonyms.get(tag)
        if tag in live.silenced:
            raise UserFacingError(
                Msg(
                    "A moderator has paused your anonymous shares until this meeting ends. "
                    "You're still welcome in the room."
                )
            )
        now = self.clock.now()
        last = live.last_share.get(tag)
        if last is not None and now < last + SHARE_INTERVAL:
            wait = int((last + SHARE_INTERVAL - now).total_seconds()) + 1
            raise UserFacingError(
                PluralMsg(
                    "One share every 30 seconds: try again in {count} second.",
                    "One share every 30 seconds: try again in {count} seconds.",
                    wait,
                )
            )
        if number is None:
            number = self._new_number(live)
            live.pseudonyms[tag] = number
        live.last_share[tag] = now
        return SharePost(meeting_id, occurrence, number, neutralize(body), language)

    @staticmethod
    def _new_number(live: _Live) -> int:
        used = set(live.pseudonyms.values()) | live.retired
        for top in (99, 999, 9999):
            free = [n for n in range(1, top + 1) if n not in used]
            if free:
                return _rng.choice(free)
        raise UserFacingError(Msg("Too many people are sharing in this room right now."))

    def share_failed(self, post: SharePost, guild_id: int, user_id: int) -> None:
        """Undo the rate-limit mark when the post could not be delivered."""
        live = self._live.get((post.meeting_id, post.occurrence))
        if live is not None and live.guild_id == guild_id:
            live.last_share.pop(live.tag(user_id), None)

    def silence(self, meeting_id: int, occurrence: str, guild_id: int, number: int) -> bool:
        """Stop a pseudonym sharing for the rest of the occurrence; False if already silenced."""
        live = self._open(meeting_id, occurrence, guild_id)
        tags = [tag for tag, n in live.pseudonyms.items() if n == number]
        if not tags:
            if number in live.retired:
                raise UserFacingError(
                    Msg(
                        "That pseudonym is no longer linked to anyone (they used forget-me), so "
                        "it can't be silenced. Their next share shows under a new pseudonym."
                    )
                )
            raise UserFacingError(Msg("That pseudonym has not shared in this meeting."))
        if tags[0] in live.silenced:
            return False
        live.silenced.add(tags[0])
        return True

    # -- proof slips ----------------------------------------------------------------------------

    def _checked_in(self, guild_id: int, user_id: int) -> list[tuple[_Live, bytes]]:
        """Occurrences in memory where this person checked in, with their tag in each."""
        self.prune()
        return [
            (live, tag)
            for live in self._live.values()
            if live.guild_id == guild_id and (tag := live.tag(user_id)) in live.checked_in
        ]

    def attended(self, guild_id: int, user_id: int) -> list[LiveOccurrence]:
        """Occurrences in memory (open, or closed under an hour ago) where this person checked in."""
        return [
            LiveOccurrence(v.meeting_id, v.guild_id, v.occurrence, v.is_open)
            for v, _ in self._checked_in(guild_id, user_id)
        ]

    def proof(
        self, guild_id: int, user_id: int, titles: Mapping[int, str], name: str | None
    ) -> list[ProofSlip]:
        """Signed slips for every occurrence this person checked in to that is still in memory.

        One slip per check-in: the first request fixes the name (or none) and later requests get
        that same slip back, whatever name they give, so one check-in cannot vouch for others.
        """
        shown = slip_name(name)
        attended = self._checked_in(guild_id, user_id)
        if not attended:
            raise UserFacingError(
                Msg(
                    "I can only sign a slip for a meeting you checked in to, until one hour after "
                    "its room closes. Check in with the button on the room's opening card or "
                    "`/checkin`."
                )
            )
        slips = []
        for live, tag in attended:
            title = titles.get(live.meeting_id, "Haven meeting")
            day = date.fromisoformat(live.occurrence)
            signed_name = live.slip_names.setdefault(tag, shown)
            code = sign_slip(self._proof_key, live.meeting_id, title, day, signed_name)
            slip = verify_slip(self._proof_key, code)
            assert slip is not None
            slips.append(slip)
        return slips

    def verify(self, code: str) -> ProofSlip | None:
        """The slip behind a code if genuine, else None."""
        return verify_slip(self._proof_key, code)
