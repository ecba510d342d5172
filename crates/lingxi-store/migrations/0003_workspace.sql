-- The agent workspace: internal notes (never sent to the customer), canned responses per
-- tenant, the structured hand-off package and the emotion alert on conversations.
CREATE TABLE conversation_notes (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    target TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX conversation_notes_conversation ON conversation_notes (conversation_id, created_at);
CREATE TABLE canned_responses (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    lang TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX canned_responses_tenant ON canned_responses (tenant_id, title);
ALTER TABLE conversations ADD COLUMN handoff_details TEXT;
ALTER TABLE conversations ADD COLUMN emotion_alert BIGINT NOT NULL DEFAULT 0
