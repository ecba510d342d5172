-- Lingxi schema, written once for both SQLite and PostgreSQL: only TEXT, BIGINT and
-- DOUBLE PRECISION columns, times as Unix milliseconds, JSON as TEXT.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    merge_policy TEXT NOT NULL,
    reopen_window_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (team_id, user_id)
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    tenant_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    team_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL,
    merged_into TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX customers_tenant ON customers (tenant_id, updated_at);
CREATE TABLE identities (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, value)
);
CREATE INDEX identities_customer ON identities (customer_id);
CREATE TABLE merges (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    survivor_id TEXT NOT NULL,
    absorbed_id TEXT NOT NULL,
    status TEXT NOT NULL,
    moved_identities TEXT NOT NULL,
    moved_conversations TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    undone_at BIGINT
);
CREATE INDEX merges_tenant ON merges (tenant_id, created_at);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    channel_kind TEXT NOT NULL,
    team_id TEXT,
    state TEXT NOT NULL,
    assignee_id TEXT,
    linked_conversation_id TEXT,
    last_intent TEXT,
    subject TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX conversations_customer ON conversations (customer_id, channel_id, last_message_at);
CREATE INDEX conversations_tenant ON conversations (tenant_id, last_message_at);
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    sender_kind TEXT NOT NULL,
    sender_user_id TEXT,
    content_kind TEXT NOT NULL,
    content TEXT NOT NULL,
    external_id TEXT,
    sent_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_external ON messages (channel_id, external_id);
CREATE INDEX messages_conversation ON messages (conversation_id, received_at);
CREATE INDEX messages_customer ON messages (customer_id, sent_at);
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_tenant ON audit_log (tenant_id, at);
