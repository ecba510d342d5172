-- A tenant's own intent models: every training run is a numbered version holding its
-- training data (JSON, the export), the trained model (the lingxi-nlu artifact) and the
-- held-out report. `intent_model_active` points at the version the bot uses; no row means
-- the built-in default intents.
CREATE TABLE intent_models (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    version BIGINT NOT NULL,
    model_id TEXT NOT NULL,
    training_data TEXT NOT NULL,
    model BYTEA NOT NULL,
    report TEXT NOT NULL,
    n_intents BIGINT NOT NULL,
    n_examples BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
CREATE TABLE intent_model_active (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A tenant's entity settings (its order-number patterns and extra catalogue names), as JSON.
CREATE TABLE nlu_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL
)
