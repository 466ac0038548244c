-- PostgreSQL twin of ../0014_jobs_key_by_meeting.sql: the same key columns, in another order.
-- The jobs key led by the meeting: (meeting_id, kind, occurrence, slot) serves every lookup by
-- meeting too, so jobs_meeting goes. Three processes writing 265,738 jobs together kept four
-- indexes; with three their COPYs took 2.9 s instead of 3.9 s (bench/README.md, Scale).
-- ON CONFLICT (kind, meeting_id, occurrence, slot) finds the new key: columns match in any order.
ALTER TABLE jobs ADD CONSTRAINT jobs_meeting_key UNIQUE (meeting_id, kind, occurrence, slot);
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_meeting_id_occurrence_slot_key;
DROP INDEX jobs_meeting;
