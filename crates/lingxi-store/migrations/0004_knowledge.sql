-- The knowledge base: FAQ entries (current version plus every version), articles, knowledge gaps
-- and customers' ratings of bot answers. An entry is stored as its JSON document (the wire form of
-- lingxi-knowledge); the columns beside it are what lists and the index rebuild filter on.
CREATE TABLE kb_entries (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    entry_id TEXT NOT NULL,
    lang TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    question TEXT NOT NULL,
    doc TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, entry_id)
);
CREATE INDEX kb_entries_status ON kb_entries (tenant_id, status);
CREATE TABLE kb_entry_versions (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    entry_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, entry_id, version)
);
CREATE TABLE kb_articles (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    article_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, article_id)
);
-- A customer message the knowledge base could not answer well: low confidence, a hand-off for
-- lack of knowledge, or an answer the customer rated not useful. Open until drafted into an entry.
CREATE TABLE kb_gaps (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    conversation_id TEXT,
    text TEXT NOT NULL,
    lang TEXT NOT NULL,
    kind TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    drafted_entry_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX kb_gaps_open ON kb_gaps (tenant_id, drafted_entry_id, created_at);
-- One rating per bot message (the latest wins).
CREATE TABLE kb_feedback (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    message_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    useful BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
