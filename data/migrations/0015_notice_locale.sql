-- The language of a change notice to a person. A deleted meeting's subscriptions cascade away with
-- it, so the deletion notice could only be written in the language of another subscription the
-- person kept, else English. The trigger now keeps the subscriber's language on their notice.
ALTER TABLE reminder_notices ADD COLUMN locale TEXT CHECK (locale IN ('en', 'es'));

DROP TRIGGER reminder_meeting_deleted;
CREATE TRIGGER reminder_meeting_deleted BEFORE DELETE ON meetings
BEGIN
    INSERT INTO reminder_notices (guild_id, meeting_id, user_id, change, title, created_at, locale)
    SELECT OLD.guild_id, OLD.id, s.user_id, 'deleted', OLD.title, CAST(strftime('%s', 'now') AS INTEGER), s.locale
    FROM reminder_subscriptions AS s
    WHERE s.meeting_id = OLD.id;
END;
