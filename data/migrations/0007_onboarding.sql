-- Onboarding: role requests waiting for a moderator (only when the guild turned approval on).
-- A row exists only while the request is pending; approving, declining or withdrawing deletes it.

CREATE TABLE role_requests (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('member', 'family')),
    requested_at TEXT    NOT NULL,
    channel_id   INTEGER,                              -- where the Approve / Decline card was posted
    message_id   INTEGER,
    UNIQUE (guild_id, user_id, kind)
);

CREATE INDEX role_requests_user ON role_requests (user_id);
