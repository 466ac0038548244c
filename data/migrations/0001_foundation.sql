-- Foundation: per-guild settings and the record of guilds the bot has left.
-- Every column that holds a Discord user id is named *user_id (the forget-me test relies on it).

CREATE TABLE guild_settings (
    guild_id              INTEGER PRIMARY KEY,
    moderator_role_id     INTEGER,
    facilitator_role_id   INTEGER,
    member_role_id        INTEGER,
    family_role_id        INTEGER,
    announce_channel_id   INTEGER,
    modlog_channel_id     INTEGER,
    review_channel_id     INTEGER,
    moderators_channel_id INTEGER,
    welcome_channel_id    INTEGER,
    timezone              TEXT    NOT NULL DEFAULT 'UTC',
    region                TEXT,
    reminder_offsets      TEXT    NOT NULL DEFAULT '1440,15',
    room_open_minutes     INTEGER NOT NULL DEFAULT 10,
    room_close_minutes    INTEGER NOT NULL DEFAULT 15,
    room_clear_chat       INTEGER NOT NULL DEFAULT 0,
    native_events         INTEGER NOT NULL DEFAULT 0,
    cancel_notices        INTEGER NOT NULL DEFAULT 1,
    welcome_mode          TEXT    NOT NULL DEFAULT 'off' CHECK (welcome_mode IN ('off', 'channel', 'dm')),
    welcome_mention       INTEGER NOT NULL DEFAULT 0,
    role_approval         INTEGER NOT NULL DEFAULT 0,
    panel_channel_id      INTEGER,
    panel_message_id      INTEGER,
    updated_at            TEXT
);

CREATE TABLE guild_departures (
    guild_id INTEGER PRIMARY KEY,
    left_at  TEXT NOT NULL
);
