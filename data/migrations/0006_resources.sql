-- Resource cards per guild: overrides of the shipped cards, and the guild's own cards with their vetting.
-- Shipped cards live in data/resources/*.toml; only what a guild changes about them is stored here.

CREATE TABLE resource_overrides (
    guild_id    INTEGER NOT NULL,
    card_id     TEXT    NOT NULL,                   -- id of a shipped card
    enabled     INTEGER CHECK (enabled IN (0, 1)),  -- NULL = the card's enabled_by_default
    verified_on TEXT,                               -- YYYY-MM-DD re-verified here; NULL = shipped date
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, card_id)
);

-- Cards a guild added (moderators) or suggested (anyone), public id 'g-<id>'.
CREATE TABLE resource_cards (
    id                   INTEGER PRIMARY KEY,
    guild_id             INTEGER NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    origin               TEXT    NOT NULL CHECK (origin IN ('suggested', 'added')),
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    revision             INTEGER NOT NULL DEFAULT 1,  -- bumped on every edit; review buttons carry it
    title                TEXT    NOT NULL,
    summary              TEXT    NOT NULL,
    region               TEXT    NOT NULL,
    tags                 TEXT    NOT NULL,            -- comma-separated, from the fixed vocabulary
    contacts             TEXT    NOT NULL DEFAULT '[]',  -- JSON [{kind, value, label}]
    source_url           TEXT,                        -- the suggested link until a moderator sets it
    verified_on          TEXT,                        -- YYYY-MM-DD; set by the approving moderator
    review_days          INTEGER NOT NULL DEFAULT 180 CHECK (review_days BETWEEN 1 AND 730),
    suggested_by_user_id INTEGER,                     -- NULL for moderator-added cards or after forget-me
    approved_by_user_id  INTEGER,                     -- NULL until approved, or after forget-me
    approved_at          TEXT,
    rejected_at          TEXT,
    review_channel_id    INTEGER,                     -- where the Approve / Reject buttons were posted
    review_message_id    INTEGER,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL
);

CREATE INDEX resource_cards_guild_status ON resource_cards (guild_id, status);
CREATE INDEX resource_cards_suggested_by ON resource_cards (suggested_by_user_id);
CREATE INDEX resource_cards_approved_by ON resource_cards (approved_by_user_id);
