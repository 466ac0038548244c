-- The jobs key led by the meeting (bench/scale.py): on PostgreSQL the key becomes
-- (meeting_id, kind, occurrence, slot), which also serves every lookup by meeting, and the separate
-- jobs_meeting index goes: one index fewer to keep for every row a reconcile writes.
-- SQLite keeps its key as it is: the key is part of its CREATE TABLE and reordering it means
-- rebuilding the table; one process on one file writes its jobs quickly enough with both indexes.
SELECT 1;
