-- Candidate FAQ entries learnt from agents: when an agent resolves a conversation, the
-- customer's question and the agent's answer (personal data removed) wait here for review.
-- `kind` is `new_entry` (nothing in the knowledge base answers it) or `phrasing` (a new
-- phrasing of the published entry `entry_id`). Accepting one makes a draft entry (or a new
-- version of `entry_id`); `drafted_entry_id` records which.
CREATE TABLE kb_candidates (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    entry_id TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    lang TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    occurrences BIGINT NOT NULL,
    status TEXT NOT NULL,
    drafted_entry_id TEXT,
    decided_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX kb_candidates_status ON kb_candidates (tenant_id, status, updated_at);
-- Each conversation counts once towards a candidate's occurrences (a conversation resolved,
-- reopened and resolved again is one occurrence).
CREATE TABLE kb_candidate_sources (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    candidate_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, candidate_id, conversation_id)
);
-- The one recommendation the bot made in a conversation: the primary key is the claim that
-- keeps it to one, however many turns race for it.
CREATE TABLE bot_recommendations (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    conversation_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
)
