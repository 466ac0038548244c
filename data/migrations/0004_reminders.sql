-- Reminders: DM subscriptions, the delivery ledger, notices to send, and mod-log alerts sent.
-- Pending reminders themselves are rows of `jobs` (kind 'reminder': one per meeting, occurrence
-- and offset, fanned out at fire time to the announcement channel and each DM subscriber).

CREATE TABLE reminder_subscriptions (
    meeting_id INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);

CREATE INDEX reminder_subscriptions_user ON reminder_subscriptions (user_id, guild_id);

-- One row per reminder delivery attempt that reached an end: the unique key makes each
-- (meeting, occurrence, offset, target) happen once. target_user_id 0 = the announcement channel.
CREATE TABLE reminder_deliveries (
    id             INTEGER PRIMARY KEY,
    meeting_id     INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    guild_id       INTEGER NOT NULL,
    occurrence     TEXT    NOT NULL,                 -- scheduled local date (the occurrence key)
    offset_minutes INTEGER NOT NULL,
    target_user_id INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL CHECK (status IN ('delivered', 'failed', 'skipped')),
    reason         TEXT    NOT NULL DEFAULT '',
    late           INTEGER NOT NULL DEFAULT 0,
    recorded_at    INTEGER NOT NULL,                 -- UTC seconds since the epoch
    UNIQUE (meeting_id, occurrence, offset_minutes, target_user_id)
);

CREATE INDEX reminder_deliveries_recorded ON reminder_deliveries (recorded_at);

-- Notices waiting to be sent (meeting moved, paused, cancelled or deleted). user_id 0 = the
-- announcement channel. No foreign key to meetings: a deletion notice outlives its meeting.
CREATE TABLE reminder_notices (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    meeting_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL DEFAULT 0,
    change     TEXT    NOT NULL,
    title      TEXT    NOT NULL DEFAULT '',
    occurrence TEXT    NOT NULL DEFAULT '',
    starts_at  INTEGER,                              -- UTC seconds of the next start, if any
    created_at INTEGER NOT NULL
);

CREATE INDEX reminder_notices_meeting ON reminder_notices (meeting_id);

-- Subscribers of a deleted meeting are told; their subscriptions cascade away with it.
CREATE TRIGGER reminder_meeting_deleted BEFORE DELETE ON meetings
BEGIN
    INSERT INTO reminder_notices (guild_id, meeting_id, user_id, change, title, created_at)
    SELECT OLD.guild_id, OLD.id, s.user_id, 'deleted', OLD.title, CAST(strftime('%s', 'now') AS INTEGER)
    FROM reminder_subscriptions AS s
    WHERE s.meeting_id = OLD.id;
END;

-- A channel Haven could not post in: the mod log is told once, until a post there succeeds.
CREATE TABLE reminder_alerts (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    alerted_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
