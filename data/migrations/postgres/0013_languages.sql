-- PostgreSQL twin of ../0013_languages.sql: the same columns, defaults and checks; TEXT in "C" order.
-- Languages (issue 16, design/i18n.md): what public posts and DM reminders are written in.
-- A guild's default for its posts and new meetings (welcome, mod log, review queue follow it).
ALTER TABLE guild_settings ADD COLUMN language TEXT COLLATE "C" NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es'));
-- A meeting's own language: its reminders, room cards and change notices are posted in it.
ALTER TABLE meetings ADD COLUMN language TEXT COLLATE "C" NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es'));
-- The language a person subscribed in (their Discord client's), refreshed when they next use
-- Haven; their DM reminders and notices are written in it. Keyed to the user like the row, so
-- forget-me removes it with the row.
ALTER TABLE reminder_subscriptions ADD COLUMN locale TEXT COLLATE "C" NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'es'));
