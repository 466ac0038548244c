-- PostgreSQL twin of ../0001_foundation.sql: the same tables, columns and keys; BIGINT ids and instants, TEXT in "C" order.
-- Foundation: per-guild settings and the record of guilds the bot has left.
-- Every column that holds a Discord user id is named *user_id (the forget-me test relies on it).

CREATE TABLE guild_settings (
    guild_id              BIGINT PRIMARY KEY,
    moderator_role_id     BIGINT,
    facilitator_role_id   BIGINT,
    member_role_id        BIGINT,
    family_role_id        BIGINT,
    announce_channel_id   BIGINT,
    modlog_channel_id     BIGINT,
    review_channel_id     BIGINT,
    moderators_channel_id BIGINT,
    welcome_channel_id    BIGINT,
    timezone              TEXT COLLATE "C"    NOT NULL DEFAULT 'UTC',
    region                TEXT COLLATE "C",
    reminder_offsets      TEXT COLLATE "C"    NOT NULL DEFAULT '1440,15',
    room_open_minutes     INTEGER NOT NULL DEFAULT 10,
    room_close_minutes    INTEGER NOT NULL DEFAULT 15,
    room_clear_chat       INTEGER NOT NULL DEFAULT 0,
    native_events         INTEGER NOT NULL DEFAULT 0,
    cancel_notices        INTEGER NOT NULL DEFAULT 1,
    welcome_mode          TEXT COLLATE "C"    NOT NULL DEFAULT 'off' CHECK (welcome_mode IN ('off', 'channel', 'dm')),
    welcome_mention       INTEGER NOT NULL DEFAULT 0,
    role_approval         INTEGER NOT NULL DEFAULT 0,
    panel_channel_id      BIGINT,
    panel_message_id      BIGINT,
    updated_at            TEXT COLLATE "C"
);

CREATE TABLE guild_departures (
    guild_id BIGINT PRIMARY KEY,
    left_at  TEXT COLLATE "C" NOT NULL
);
