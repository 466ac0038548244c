-- Meetings: stored as local wall time + weekday + IANA zone (never UTC + delta).
-- Occurrences are identified by their scheduled local date ("occurrence" below).

CREATE TABLE meetings (
    id                    INTEGER PRIMARY KEY,
    guild_id              INTEGER NOT NULL,
    title                 TEXT    NOT NULL,
    kind                  TEXT    NOT NULL CHECK (kind IN ('na', 'family', 'other')),
    access                TEXT    NOT NULL CHECK (access IN ('open', 'closed')),
    formats               TEXT    NOT NULL DEFAULT '',      -- comma-separated format keys
    timezone              TEXT    NOT NULL,
    first_date            TEXT    NOT NULL,                 -- local YYYY-MM-DD of the first occurrence
    start_time            TEXT    NOT NULL,                 -- local HH:MM
    weekday               INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),  -- ISO, Monday = 1
    duration_minutes      INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 600),
    repeat                TEXT    NOT NULL CHECK (repeat IN ('once', 'weekly', 'biweekly', 'monthly', 'monthly-last')),
    description           TEXT    NOT NULL DEFAULT '',
    opening_text          TEXT    NOT NULL DEFAULT '',
    reminder_offsets      TEXT,                             -- minutes, comma-separated; NULL = guild default
    room_open_minutes     INTEGER,                          -- NULL = guild default
    room_close_minutes    INTEGER,                          -- NULL = guild default
    room_clear_chat       INTEGER,                          -- NULL = guild default
    room_category_id      INTEGER,
    room_text_channel_id  INTEGER,
    room_voice_channel_id INTEGER,
    paused_until          TEXT,                             -- local YYYY-MM-DD; occurrences before it are skipped
    native_event_id       INTEGER,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL
);

CREATE INDEX meetings_guild ON meetings (guild_id);

CREATE TABLE meeting_exceptions (
    meeting_id INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    occurrence TEXT    NOT NULL,                            -- scheduled local date
    cancelled  INTEGER NOT NULL DEFAULT 0,
    moved_to   TEXT,                                        -- local 'YYYY-MM-DD HH:MM'
    PRIMARY KEY (meeting_id, occurrence)
);

CREATE TABLE meeting_facilitators (
    meeting_id INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);

CREATE INDEX meeting_facilitators_user ON meeting_facilitators (user_id);
