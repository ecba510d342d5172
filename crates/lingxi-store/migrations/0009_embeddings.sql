-- Sentence-encoder vectors of published knowledge-base phrasings, so a restart does not encode
-- them again. Keyed by the model that made them (`model`: changes with the model file, so a
-- different model never reuses old vectors) and the SHA-256 of what was encoded (hex); the text
-- itself is not stored. `vector` is the f32 components, little-endian. Not per tenant: the same
-- text under the same model has the same vector (tenants sharing texts encode them once).
-- BYTEA is PostgreSQL's binary type; SQLite accepts the name and keeps blobs as they are.
CREATE TABLE kb_embeddings (
    model TEXT NOT NULL,
    digest TEXT NOT NULL,
    vector BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (model, digest)
)
