-- What the AI first line concluded about a conversation, and the hand-off package.
ALTER TABLE conversations ADD COLUMN handoff_reason TEXT;
ALTER TABLE conversations ADD COLUMN handoff_summary TEXT;
ALTER TABLE conversations ADD COLUMN bot_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN last_sentiment DOUBLE PRECISION
