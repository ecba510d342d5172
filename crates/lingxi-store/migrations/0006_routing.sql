-- Routing: agents' skills and per-channel-kind capacity (NULL: the server's default), when a
-- conversation last entered the queue (the SLA clocks start there), and SLA events recorded
-- once each (the unique key makes "once" hold across restarts and nodes).
ALTER TABLE users ADD COLUMN skills TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN chat_capacity BIGINT;
ALTER TABLE users ADD COLUMN email_capacity BIGINT;
ALTER TABLE conversations ADD COLUMN handoff_at BIGINT;
CREATE TABLE sla_events (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    level TEXT NOT NULL,
    clock_start BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, metric, level, clock_start)
);
CREATE INDEX sla_events_tenant ON sla_events (tenant_id, recorded_at);
