-- Several bot processes on one PostgreSQL store (design/scale-out.md): who claimed a job and how
-- long the claim holds, and the processes ("workers") running the fleet's gateway shards.
-- SQLite serves one process, so these stay empty there; the columns keep both stores' schemas equal.

-- The worker that claimed the job; its claim holds until lease_until unless its heartbeat renews it.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN lease_until INTEGER;      -- UTC instant, seconds since the epoch

CREATE INDEX jobs_claimed_by ON jobs (claimed_by) WHERE status = 'claimed';

-- One row per running process: which shards it runs and when it last proved it was alive.
-- Global (no guild_id): it holds no guild's data.
CREATE TABLE global_workers (
    worker_id    TEXT    PRIMARY KEY,               -- host:pid:random, new for every start
    shard_count  INTEGER NOT NULL,
    shard_ids    TEXT    NOT NULL,                  -- the shards it runs, e.g. '0,1'
    started_at   INTEGER NOT NULL,                  -- UTC instant, seconds since the epoch
    heartbeat_at INTEGER NOT NULL                   -- UTC instant, seconds since the epoch
);
