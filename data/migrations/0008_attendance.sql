-- Anonymous attendance and the anonymous line to moderators.
--
-- Attendance: one row per meeting occurrence holding only a number. No user id, no per-person
-- hash and no per-check-in time is ever written: deduplication uses HMAC(occurrence key, user id)
-- where both the key and the hashes live only in memory for the occurrence (bot/services/attendance.py).
-- There is deliberately no updated_at column, so the file never says *when* the count last grew.
CREATE TABLE attendance_counts (
    meeting_id INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    guild_id   INTEGER NOT NULL,
    occurrence TEXT    NOT NULL,                 -- scheduled local date (the occurrence key)
    checkins   INTEGER NOT NULL DEFAULT 0 CHECK (checkins >= 0),
    opened_at  TEXT    NOT NULL,                 -- when the room opened (UTC ISO)
    closed_at  TEXT,                             -- when the room closed (UTC ISO); NULL while open
    PRIMARY KEY (meeting_id, occurrence)
);

CREATE INDEX attendance_counts_guild ON attendance_counts (guild_id);

-- The anonymous line: one open conversation per person and guild, shown under a pseudonym.
-- sealed_user = nonce || AES-GCM(derive_key(instance key, "modline-seal"), user id), bound to the
-- guild and pseudonym; user_hash = HMAC(derive_key(instance key, "modline-conversation"), guild
-- and user id), used only to find a person's open conversation and to forget it (forget-me hook).
-- Rows are deleted when a moderator closes or blocks the conversation, or the person runs forget-me.
CREATE TABLE modline_conversations (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    pseudonym   TEXT    NOT NULL,
    thread_id   INTEGER NOT NULL UNIQUE,
    user_hash   BLOB    NOT NULL,
    sealed_user BLOB    NOT NULL,
    opened_at   TEXT    NOT NULL,
    UNIQUE (guild_id, user_hash),
    UNIQUE (guild_id, pseudonym)
);

-- People blocked from the anonymous line: only HMAC(derive_key(instance key, "modline-block"),
-- guild and user id), a different key from the conversations' so the two tables cannot be joined.
-- The pseudonym is the one shown in the blocked conversation, for the moderators' records.
CREATE TABLE modline_blocks (
    guild_id   INTEGER NOT NULL,
    user_hash  BLOB    NOT NULL,
    pseudonym  TEXT    NOT NULL,
    blocked_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_hash)
);
