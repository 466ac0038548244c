-- Rooms: the channels linked to a meeting, a per-occurrence ledger, and removals from a room.
-- Whether a room should be open is derived from the schedule, never stored; the ledger only records
-- what was already done for an occurrence (card posted, closing line posted, chat cleared) and a
-- facilitator's manual open/close for that occurrence, so nothing is posted twice.

-- The channels of a meeting's room. Deliberately no foreign key to meetings: when a meeting is
-- deleted, this row still says which channels to delete ("room:delete") and is then removed.
CREATE TABLE room_links (
    meeting_id       INTEGER PRIMARY KEY,
    guild_id         INTEGER NOT NULL,
    category_id      INTEGER NOT NULL,
    text_channel_id  INTEGER NOT NULL,
    voice_channel_id INTEGER NOT NULL,
    stage            INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL
);

CREATE INDEX room_links_guild ON room_links (guild_id);

CREATE TABLE room_occurrences (
    meeting_id  INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    guild_id    INTEGER NOT NULL,
    occurrence  TEXT    NOT NULL,                 -- scheduled local date (the occurrence key)
    override    TEXT CHECK (override IN ('open', 'closed')),  -- manual /room open|close
    opened_at   TEXT,                             -- opening card posted (UTC ISO)
    closed_at   TEXT,                             -- closing line posted (UTC ISO)
    cleared_at  TEXT,                             -- chat cleared after close (UTC ISO)
    PRIMARY KEY (meeting_id, occurrence)
);

-- A person kept out of a room until an occurrence's room closes; a room_lift job lifts it.
CREATE TABLE room_removals (
    id          INTEGER PRIMARY KEY,
    meeting_id  INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    occurrence  TEXT    NOT NULL,
    until       INTEGER NOT NULL,                 -- UTC instant, seconds since the epoch
    created_at  TEXT    NOT NULL,
    UNIQUE (meeting_id, user_id, occurrence)
);

CREATE INDEX room_removals_user ON room_removals (user_id);
