-- PostgreSQL twin of ../0015_notice_locale.sql: the same column and check; TEXT in "C" order.
-- The language of a change notice to a person. A deleted meeting's subscriptions cascade away with
-- it, so the deletion notice could only be written in the language of another subscription the
-- person kept, else English. The trigger now keeps the subscriber's language on their notice.
ALTER TABLE reminder_notices ADD COLUMN locale TEXT COLLATE "C" CHECK (locale IN ('en', 'es'));

CREATE OR REPLACE FUNCTION reminder_meeting_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reminder_notices (guild_id, meeting_id, user_id, change, title, created_at, locale)
    SELECT OLD.guild_id, OLD.id, s.user_id, 'deleted', OLD.title, CAST(extract(epoch FROM now()) AS BIGINT), s.locale
    FROM reminder_subscriptions AS s
    WHERE s.meeting_id = OLD.id;
    RETURN OLD;
END;
$$;
