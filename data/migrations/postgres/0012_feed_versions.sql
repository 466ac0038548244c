-- PostgreSQL twin of ../0012_feed_versions.sql: the same table, columns and key; BIGINT ids, TEXT in "C" order.
-- The current content version of each guild's feed, shared by every process that serves feeds.
-- A feed's DTSTAMP, ETag and Last-Modified come from `first_seen`, so two feed servers, or one
-- restarted, give the same validators for the same content and calendar clients do not download
-- everything again. `digest` is the SHA-256 of the content apart from its stamp. Content that
-- comes back after another version (a renamed meeting renamed back) gets a new `first_seen`, so
-- Last-Modified never goes backwards.
CREATE TABLE feed_versions (
    guild_id    BIGINT NOT NULL REFERENCES guild_feeds (guild_id) ON DELETE CASCADE,
    kind        TEXT COLLATE "C"    NOT NULL,                     -- ics | json
    digest      TEXT COLLATE "C"    NOT NULL,                     -- hex SHA-256 of the content
    first_seen  TEXT COLLATE "C"    NOT NULL,                     -- when a server first rendered it
    PRIMARY KEY (guild_id, kind)
);
