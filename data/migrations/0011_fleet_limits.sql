-- Discord's per-bot limits, shared by the processes of a fleet on one PostgreSQL store
-- (design/scale-out.md): the IDENTIFY queue and the DM pacing bucket. One process on SQLite keeps
-- both in memory, so these stay empty there; they keep both stores' schemas equal.
-- Global (no guild_id): they hold no guild's data. Times are the database server's clock, the one
-- clock every process shares, in seconds since the epoch with a fraction.

-- The latest IDENTIFY slot given out in each gateway bucket (shard_id % max_concurrency): the next
-- one starts a window after it, whichever process asks.
CREATE TABLE global_gateway_identify (
    bucket  INTEGER PRIMARY KEY,
    last_at REAL    NOT NULL
);

-- Token buckets every process draws from, e.g. 'dm' (DM reminders and notices). Tokens go below
-- zero while sends wait their turn: each whole token below zero is one send already queued.
CREATE TABLE global_rate_buckets (
    name   TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at     REAL NOT NULL                             -- when tokens was last counted
);
