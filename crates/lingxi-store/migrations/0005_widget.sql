-- Web-chat widget visitors: an anonymous browser holding an opaque token (only its SHA-256 is
-- stored), bound to one web-chat channel and to a device id the server chose.
CREATE TABLE widget_visitors (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    token_hash TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    display_name TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
-- The conversations a visitor's own messages went into: all a visitor may ever read.
CREATE TABLE widget_conversations (
    visitor_id TEXT NOT NULL REFERENCES widget_visitors(id),
    conversation_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (visitor_id, conversation_id)
);
CREATE INDEX widget_conversations_conversation ON widget_conversations (conversation_id)
