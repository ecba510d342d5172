-- What a bot message was, for the messages a customer may rate: a knowledge-base answer (its
-- entry, and the customer's words it answered), a business-data tool's answer (the tool), or a
-- recommendation (its rule). Written with the message in the bot turn's transaction. Other bot
-- messages ("did you mean", hand-off notices, questions back, flow steps) have no row.
CREATE TABLE bot_message_kinds (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref_id TEXT,
    question TEXT,
    PRIMARY KEY (tenant_id, message_id)
);
-- A rating keeps what it rated; ratings made before this migration were of answers.
ALTER TABLE kb_feedback ADD COLUMN kind TEXT NOT NULL DEFAULT 'answer';
ALTER TABLE kb_feedback ADD COLUMN ref_id TEXT;
