-- PostgreSQL twin of ../0009_feeds.sql: the same tables, columns and keys; BIGINT ids and instants, TEXT in "C" order.
-- Public feeds (iCalendar and Meeting Guide JSON) of a guild's meetings, opt-in per guild.
-- Only a SHA-256 hash of the feed token is stored: the token is shown once to the moderator who
-- enabled or rotated the feeds, and a request is matched by hashing the token it presents.
-- Rotating replaces the hash, so old URLs stop working at once.

CREATE TABLE guild_feeds (
    guild_id       BIGINT PRIMARY KEY,
    token_hash     TEXT COLLATE "C"    NOT NULL UNIQUE,           -- hex SHA-256 of the URL token
    include_closed INTEGER NOT NULL DEFAULT 0,        -- 1: closed meetings are published too
    calendar_name  TEXT COLLATE "C"    NOT NULL DEFAULT '',       -- the calendar's title (the server's name)
    created_at     TEXT COLLATE "C"    NOT NULL,
    rotated_at     TEXT COLLATE "C"    NOT NULL
);

-- The non-expiring discord.gg invite published for a meeting's room text channel, replaced when
-- the token is rotated and deleted (here and on Discord) when feeds are turned off. Deliberately
-- no foreign key to meetings: when a meeting is deleted its row stays until the next invite sync
-- has deleted the invite on Discord too (a cascade would forget the code and leave it live).
CREATE TABLE feed_invites (
    meeting_id  BIGINT PRIMARY KEY,
    guild_id    BIGINT NOT NULL REFERENCES guild_feeds (guild_id) ON DELETE CASCADE,
    channel_id  BIGINT NOT NULL,
    code        TEXT COLLATE "C"    NOT NULL,
    created_at  TEXT COLLATE "C"    NOT NULL
);

CREATE INDEX feed_invites_guild ON feed_invites (guild_id);
