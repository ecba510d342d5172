-- Business data the bot's built-in tools read: one generic table of records per tenant,
-- keyed by kind (orders, shipments, refunds, members, invoices) and the record's own key
-- (order number, tracking number, phone), with the customer identifier it belongs to.
CREATE TABLE business_records (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    record_key TEXT NOT NULL,
    owner TEXT NOT NULL,
    fields TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, record_key)
);
CREATE INDEX business_records_owner ON business_records (tenant_id, owner);
-- What the bot waits for from a customer (a guided flow's run, or the missing value of a
-- tool call): per customer, so the answer may come on any channel.
CREATE TABLE bot_pending (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    customer_id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
)
;
-- A tenant's own guided flows: the JSON definition as written (checked by the server before
-- it is stored), keyed by the flow's id.
CREATE TABLE bot_flows (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    spec TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
)
