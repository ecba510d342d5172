//! Business records for the built-in tools, and what the bot waits for from each customer.

use crate::{get, Result, Store, StoreError};
use lingxi_domain::{CustomerId, TenantId, Timestamp};
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// One record: `kind` (orders, shipments, …), its key (order number, …), the customer
/// identifier value it belongs to (a phone, or empty), and flat string fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessRecord {
    pub kind: String,
    pub key: String,
    pub owner: String,
    pub fields: BTreeMap<String, String>,
}

fn record_from(r: &AnyRow) -> Result<BusinessRecord> {
    let fields: String = get(r, "fields")?;
    Ok(BusinessRecord {
        kind: get(r, "kind")?,
        key: get(r, "record_key")?,
        owner: get(r, "owner")?,
        fields: serde_json::from_str(&fields).map_err(|e| StoreError::Invalid(e.to_string()))?,
    })
}

impl Store {
    /// Inserts or replaces records (by tenant, kind and key) in one transaction.
    pub async fn put_records(&self, tenant: &TenantId, records: &[BusinessRecord], now: Timestamp) -> Result<usize> {
        let mut tx = self.write.begin().await?;
        for r in records {
            let fields = serde_json::to_string(&r.fields).map_err(|e| StoreError::Invalid(e.to_string()))?;
            sqlx::query(
                "INSERT INTO business_records (tenant_id, kind, record_key, owner, fields, updated_at) VALUES ($1,$2,$3,$4,$5,$6) \
                 ON CONFLICT (tenant_id, kind, record_key) DO UPDATE SET owner = excluded.owner, fields = excluded.fields, updated_at = excluded.updated_at",
            )
            .bind(tenant.as_str())
            .bind(&r.kind)
            .bind(&r.key)
            .bind(&r.owner)
            .bind(fields)
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(records.len())
    }

    pub async fn record(&self, tenant: &TenantId, kind: &str, key: &str) -> Result<Option<BusinessRecord>> {
        let row = sqlx::query("SELECT * FROM business_records WHERE tenant_id = $1 AND kind = $2 AND record_key = $3")
            .bind(tenant.as_str())
            .bind(kind)
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(record_from).transpose()
    }

    /// The records of one kind that belong to any of these identifier values, newest key first.
    pub async fn records_owned(&self, tenant: &TenantId, kind: &str, owners: &[String]) -> Result<Vec<BusinessRecord>> {
        let mut out = Vec::new();
        for owner in owners.iter().filter(|o| !o.is_empty()) {
            let rows = sqlx::query(
                "SELECT * FROM business_records WHERE tenant_id = $1 AND kind = $2 AND owner = $3 ORDER BY record_key DESC LIMIT 20",
            )
            .bind(tenant.as_str())
            .bind(kind)
            .bind(owner)
            .fetch_all(&self.read)
            .await?;
            for r in &rows {
                out.push(record_from(r)?);
            }
        }
        Ok(out)
    }

    /// Every record of one kind (a product catalogue), by key, at most `limit`.
    pub async fn records_of_kind(&self, tenant: &TenantId, kind: &str, limit: i64) -> Result<Vec<BusinessRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM business_records WHERE tenant_id = $1 AND kind = $2 ORDER BY record_key LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(kind)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(record_from).collect()
    }

    /// Whether the tenant has any business records at all (the built-in tools are then on).
    pub async fn has_records(&self, tenant: &TenantId) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM business_records WHERE tenant_id = $1 LIMIT 1")
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    /// What the bot waits for from this customer (opaque to the store), if anything.
    pub async fn bot_pending(&self, tenant: &TenantId, customer: &CustomerId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT state FROM bot_pending WHERE tenant_id = $1 AND customer_id = $2")
            .bind(tenant.as_str())
            .bind(customer.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(|r| get::<String>(r, "state")).transpose()
    }

    /// What the bot waits for from this customer, with when it was set.
    pub async fn bot_pending_at(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Option<(String, Timestamp)>> {
        let row = sqlx::query("SELECT state, updated_at FROM bot_pending WHERE tenant_id = $1 AND customer_id = $2")
            .bind(tenant.as_str())
            .bind(customer.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref()
            .map(|r| Ok((get::<String>(r, "state")?, Timestamp::from_millis(get(r, "updated_at")?))))
            .transpose()
    }

    /// Sets (or with `None` clears) what the bot waits for from this customer.
    pub async fn set_bot_pending(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
        state: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        match state {
            Some(s) => {
                sqlx::query(
                    "INSERT INTO bot_pending (tenant_id, customer_id, state, updated_at) VALUES ($1,$2,$3,$4) \
                     ON CONFLICT (tenant_id, customer_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                )
                .bind(tenant.as_str())
                .bind(customer.as_str())
                .bind(s)
                .bind(now.millis())
                .execute(&self.write)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM bot_pending WHERE tenant_id = $1 AND customer_id = $2")
                    .bind(tenant.as_str())
                    .bind(customer.as_str())
                    .execute(&self.write)
                    .await?;
            }
        }
        Ok(())
    }
}

/// A tenant's stored flow definition (JSON text, checked before it is stored).
#[derive(Debug, Clone)]
pub struct FlowRow {
    pub id: String,
    pub spec: String,
    pub updated_at: Timestamp,
}

fn flow_from(r: &AnyRow) -> Result<FlowRow> {
    Ok(FlowRow { id: get(r, "id")?, spec: get(r, "spec")?, updated_at: Timestamp::from_millis(get(r, "updated_at")?) })
}

impl Store {
    pub async fn flows(&self, tenant: &TenantId) -> Result<Vec<FlowRow>> {
        let rows = sqlx::query("SELECT * FROM bot_flows WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(flow_from).collect()
    }

    pub async fn flow(&self, tenant: &TenantId, id: &str) -> Result<FlowRow> {
        let row = sqlx::query("SELECT * FROM bot_flows WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("flow"))?;
        flow_from(&row)
    }

    /// Creates a flow; `Conflict` if the tenant has one with this id.
    pub async fn create_flow(&self, tenant: &TenantId, id: &str, spec: &str, now: Timestamp) -> Result<FlowRow> {
        let done = sqlx::query(
            "INSERT INTO bot_flows (tenant_id, id, spec, updated_at) VALUES ($1,$2,$3,$4) ON CONFLICT (tenant_id, id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(spec)
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("flow `{id}` exists")));
        }
        Ok(FlowRow { id: id.into(), spec: spec.into(), updated_at: now })
    }

    /// Replaces a tenant's flow; `NotFound` if it has none with this id.
    pub async fn replace_flow(&self, tenant: &TenantId, id: &str, spec: &str, now: Timestamp) -> Result<FlowRow> {
        let done = sqlx::query("UPDATE bot_flows SET spec = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .bind(spec)
            .bind(now.millis())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("flow"));
        }
        Ok(FlowRow { id: id.into(), spec: spec.into(), updated_at: now })
    }

    pub async fn delete_flow(&self, tenant: &TenantId, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM bot_flows WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("flow"));
        }
        Ok(())
    }
}
