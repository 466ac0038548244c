-- The durable timer table: every pending reminder, room opening/closing and other timed action.
-- The database is the truth; the in-memory timer only knows the earliest fire time.

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    guild_id    INTEGER NOT NULL,
    meeting_id  INTEGER NOT NULL DEFAULT 0,
    occurrence  TEXT    NOT NULL DEFAULT '',
    slot        TEXT    NOT NULL DEFAULT '',
    fire_at     INTEGER NOT NULL,               -- UTC instant, seconds since the epoch
    payload     TEXT    NOT NULL DEFAULT '{}',
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'claimed', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    recovered   INTEGER NOT NULL DEFAULT 0,     -- 1 when a crash left it claimed and it was reclaimed
    claimed_at  INTEGER,
    last_error  TEXT,
    UNIQUE (kind, meeting_id, occurrence, slot)
);

CREATE INDEX jobs_pending_fire_at ON jobs (fire_at) WHERE status = 'pending';
CREATE INDEX jobs_meeting ON jobs (meeting_id);
