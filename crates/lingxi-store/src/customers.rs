//! Customers, their identifiers, merges and splits (with an audit trail), and the audit log.

use crate::codec::{parse_json, string_list};
use crate::{get, new_id, Result, Store, StoreError};
use lingxi_domain::{CustomerId, Identifier, TenantId, Timestamp};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

#[derive(Debug, Clone)]
pub struct IdentityRow {
    pub kind: String,
    pub value: String,
    pub source: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct CustomerView {
    pub id: CustomerId,
    pub display_name: Option<String>,
    pub attributes: Value,
    pub tags: Vec<String>,
    pub merged_into: Option<CustomerId>,
    pub identities: Vec<IdentityRow>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct MergeRow {
    pub id: String,
    pub survivor_id: CustomerId,
    pub absorbed_id: CustomerId,
    /// `merged`, `suggested`, `undone` or `dismissed`.
    pub status: String,
    pub reason: String,
    pub actor: String,
    pub created_at: Timestamp,
    pub undone_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
    pub at: Timestamp,
}

fn cid(raw: &str) -> Result<CustomerId> {
    CustomerId::parse(raw).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) async fn record_audit(
    tx: &mut Transaction<'_, Any>,
    tenant: &str,
    actor: &str,
    action: &str,
    target: &str,
    detail_json: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor, action, target, detail, at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(new_id(|b| format!("aud_{b:026x}")))
    .bind(tenant)
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(detail_json)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves everything of `absorbed` to `survivor` and records what moved so a split can undo it.
pub(crate) async fn merge_in_tx(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantId,
    survivor: &CustomerId,
    absorbed: &CustomerId,
    reason: &str,
    actor: &str,
    now: i64,
) -> Result<String> {
    let idents = sqlx::query("SELECT kind, value FROM identities WHERE customer_id = $1")
        .bind(absorbed.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let moved_identities: Vec<Value> = idents
        .iter()
        .map(|r| Ok(serde_json::json!([get::<String>(r, "kind")?, get::<String>(r, "value")?])))
        .collect::<Result<_>>()?;
    let convs = sqlx::query("SELECT id FROM conversations WHERE customer_id = $1")
        .bind(absorbed.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let moved_conversations: Vec<String> = convs.iter().map(|r| get::<String>(r, "id")).collect::<Result<_>>()?;

    for (table, col) in [("identities", "customer_id"), ("conversations", "customer_id"), ("messages", "customer_id")] {
        sqlx::query(&format!("UPDATE {table} SET {col} = $1 WHERE {col} = $2 AND tenant_id = $3"))
            .bind(survivor.as_str())
            .bind(absorbed.as_str())
            .bind(tenant.as_str())
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE customers SET merged_into = $1, updated_at = $2 WHERE id = $3")
        .bind(survivor.as_str())
        .bind(now)
        .bind(absorbed.as_str())
        .execute(&mut **tx)
        .await?;
    // A merge supersedes any pending suggestion between the two.
    sqlx::query(
        "UPDATE merges SET status = 'dismissed' WHERE tenant_id = $1 AND status = 'suggested' AND \
         ((survivor_id = $2 AND absorbed_id = $3) OR (survivor_id = $3 AND absorbed_id = $2))",
    )
    .bind(tenant.as_str())
    .bind(survivor.as_str())
    .bind(absorbed.as_str())
    .execute(&mut **tx)
    .await?;
    let merge_id = new_id(|b| format!("mrg_{b:026x}"));
    sqlx::query(
        "INSERT INTO merges (id, tenant_id, survivor_id, absorbed_id, status, moved_identities, moved_conversations, reason, actor, created_at) \
         VALUES ($1,$2,$3,$4,'merged',$5,$6,$7,$8,$9)",
    )
    .bind(&merge_id)
    .bind(tenant.as_str())
    .bind(survivor.as_str())
    .bind(absorbed.as_str())
    .bind(Value::from(moved_identities).to_string())
    .bind(Value::from(moved_conversations).to_string())
    .bind(reason)
    .bind(actor)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let detail =
        serde_json::json!({ "merge_id": merge_id, "absorbed": absorbed.as_str(), "reason": reason }).to_string();
    record_audit(tx, tenant.as_str(), actor, "customer.merge", survivor.as_str(), &detail, now).await?;
    Ok(merge_id)
}

fn merge_from(r: &AnyRow) -> Result<MergeRow> {
    Ok(MergeRow {
        id: get(r, "id")?,
        survivor_id: cid(&get::<String>(r, "survivor_id")?)?,
        absorbed_id: cid(&get::<String>(r, "absorbed_id")?)?,
        status: get(r, "status")?,
        reason: get(r, "reason")?,
        actor: get(r, "actor")?,
        created_at: Timestamp::from_millis(get(r, "created_at")?),
        undone_at: get::<Option<i64>>(r, "undone_at")?.map(Timestamp::from_millis),
    })
}

impl Store {
    pub async fn customer(&self, tenant: &TenantId, id: &CustomerId) -> Result<CustomerView> {
        let row = sqlx::query("SELECT * FROM customers WHERE id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("customer"))?;
        let idents = sqlx::query("SELECT kind, value, source, created_at FROM identities WHERE customer_id = $1 ORDER BY created_at, kind, value")
            .bind(id.as_str())
            .fetch_all(&self.read)
            .await?;
        Ok(CustomerView {
            id: id.clone(),
            display_name: get(&row, "display_name")?,
            attributes: parse_json(&get::<String>(&row, "attributes")?),
            tags: string_list(&get::<String>(&row, "tags")?),
            merged_into: get::<Option<String>>(&row, "merged_into")?.map(|m| cid(&m)).transpose()?,
            identities: idents
                .iter()
                .map(|r| {
                    Ok(IdentityRow {
                        kind: get(r, "kind")?,
                        value: get(r, "value")?,
                        source: get(r, "source")?,
                        created_at: Timestamp::from_millis(get(r, "created_at")?),
                    })
                })
                .collect::<Result<_>>()?,
            created_at: Timestamp::from_millis(get(&row, "created_at")?),
            updated_at: Timestamp::from_millis(get(&row, "updated_at")?),
        })
    }

    /// Customers of a tenant, most recently active first; merged-away records are hidden.
    /// `search` matches a display name prefix or an exact identifier value.
    pub async fn list_customers(
        &self,
        tenant: &TenantId,
        search: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CustomerView>> {
        let rows = match search {
            Some(s) => {
                sqlx::query(
                    "SELECT DISTINCT c.id, c.updated_at FROM customers c LEFT JOIN identities i ON i.customer_id = c.id \
                     WHERE c.tenant_id = $1 AND c.merged_into IS NULL AND (c.display_name LIKE $2 OR i.value = $3) \
                     ORDER BY c.updated_at DESC LIMIT $4",
                )
                .bind(tenant.as_str())
                .bind(format!("{}%", s.replace(['%', '_'], "")))
                .bind(s)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query("SELECT id FROM customers WHERE tenant_id = $1 AND merged_into IS NULL ORDER BY updated_at DESC LIMIT $2")
                    .bind(tenant.as_str())
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.customer(tenant, &cid(&get::<String>(r, "id")?)?).await?);
        }
        Ok(out)
    }

    /// Updates profile fields: attributes are merged key by key (null removes a key).
    pub async fn update_customer(
        &self,
        tenant: &TenantId,
        id: &CustomerId,
        display_name: Option<&str>,
        attributes: Option<&serde_json::Map<String, Value>>,
        tags: Option<&[String]>,
        actor: &str,
        now: Timestamp,
    ) -> Result<CustomerView> {
        let current = self.customer(tenant, id).await?;
        let mut attrs = current.attributes.as_object().cloned().unwrap_or_default();
        if let Some(patch) = attributes {
            for (k, v) in patch {
                if v.is_null() {
                    attrs.remove(k);
                } else {
                    attrs.insert(k.clone(), v.clone());
                }
            }
        }
        let tags = tags.map(|t| t.to_vec()).unwrap_or(current.tags);
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE customers SET display_name = $1, attributes = $2, tags = $3, updated_at = $4 WHERE id = $5 AND tenant_id = $6")
            .bind(display_name.map(str::to_owned).or(current.display_name))
            .bind(Value::Object(attrs).to_string())
            .bind(Value::from(tags).to_string())
            .bind(now.millis())
            .bind(id.as_str())
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        record_audit(&mut tx, tenant.as_str(), actor, "customer.update", id.as_str(), "{}", now.millis()).await?;
        tx.commit().await?;
        self.customer(tenant, id).await
    }

    /// Attaches an identifier. Fails with a conflict if another customer already holds it
    /// (merge them instead, which is explicit and undoable).
    pub async fn add_identifier(
        &self,
        tenant: &TenantId,
        id: &CustomerId,
        ident: &Identifier,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.customer(tenant, id).await?;
        let mut tx = self.write.begin().await?;
        let owner = sqlx::query("SELECT customer_id FROM identities WHERE tenant_id = $1 AND kind = $2 AND value = $3")
            .bind(tenant.as_str())
            .bind(ident.kind().as_str())
            .bind(ident.value())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(owner) = owner {
            let owner: String = get(&owner, "customer_id")?;
            if owner == id.as_str() {
                return Ok(());
            }
            return Err(StoreError::Conflict(format!("identifier belongs to customer {owner}")));
        }
        sqlx::query("INSERT INTO identities (tenant_id, kind, value, customer_id, source, created_at) VALUES ($1,$2,$3,$4,'manual',$5)")
            .bind(tenant.as_str())
            .bind(ident.kind().as_str())
            .bind(ident.value())
            .bind(id.as_str())
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({ "kind": ident.kind().as_str(), "value": ident.value() }).to_string();
        record_audit(&mut tx, tenant.as_str(), actor, "identifier.add", id.as_str(), &detail, now.millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_identifier(
        &self,
        tenant: &TenantId,
        id: &CustomerId,
        ident: &Identifier,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let res = sqlx::query(
            "DELETE FROM identities WHERE tenant_id = $1 AND kind = $2 AND value = $3 AND customer_id = $4",
        )
        .bind(tenant.as_str())
        .bind(ident.kind().as_str())
        .bind(ident.value())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound("identifier"));
        }
        let detail = serde_json::json!({ "kind": ident.kind().as_str(), "value": ident.value() }).to_string();
        record_audit(&mut tx, tenant.as_str(), actor, "identifier.remove", id.as_str(), &detail, now.millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Merges `absorbed` into `survivor` (both live customers of the tenant).
    pub async fn merge_customers(
        &self,
        tenant: &TenantId,
        survivor: &CustomerId,
        absorbed: &CustomerId,
        reason: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<MergeRow> {
        if survivor == absorbed {
            return Err(StoreError::Invalid("a customer cannot be merged into itself".into()));
        }
        for c in [survivor, absorbed] {
            let cust = self.customer(tenant, c).await?;
            if cust.merged_into.is_some() {
                return Err(StoreError::Conflict(format!("customer {c} was already merged")));
            }
        }
        let mut tx = self.write.begin().await?;
        let merge_id = merge_in_tx(&mut tx, tenant, survivor, absorbed, reason, actor, now.millis()).await?;
        tx.commit().await?;
        self.merge(tenant, &merge_id).await
    }

    pub async fn merge(&self, tenant: &TenantId, merge_id: &str) -> Result<MergeRow> {
        let row = sqlx::query("SELECT * FROM merges WHERE id = $1 AND tenant_id = $2")
            .bind(merge_id)
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("merge"))?;
        merge_from(&row)
    }

    /// Merges involving a customer (or all of the tenant's), newest first.
    pub async fn list_merges(&self, tenant: &TenantId, customer: Option<&CustomerId>) -> Result<Vec<MergeRow>> {
        let rows = match customer {
            Some(c) => {
                sqlx::query("SELECT * FROM merges WHERE tenant_id = $1 AND (survivor_id = $2 OR absorbed_id = $2) ORDER BY created_at DESC, id")
                    .bind(tenant.as_str())
                    .bind(c.as_str())
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM merges WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT 500")
                    .bind(tenant.as_str())
                    .fetch_all(&self.read)
                    .await?
            }
        };
        rows.iter().map(merge_from).collect()
    }

    /// Undoes a merge: the absorbed customer gets back the identifiers and conversations it had
    /// (those still on the survivor), and exists on its own again.
    pub async fn split(&self, tenant: &TenantId, merge_id: &str, actor: &str, now: Timestamp) -> Result<MergeRow> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT * FROM merges WHERE id = $1 AND tenant_id = $2")
            .bind(merge_id)
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("merge"))?;
        let m = merge_from(&row)?;
        if m.status != "merged" {
            return Err(StoreError::Conflict(format!("merge is {}, only a merged pair can be split", m.status)));
        }
        let idents: Vec<(String, String)> =
            serde_json::from_str(&get::<String>(&row, "moved_identities")?).unwrap_or_default();
        let convs: Vec<String> = string_list(&get::<String>(&row, "moved_conversations")?);
        for (kind, value) in &idents {
            sqlx::query("UPDATE identities SET customer_id = $1 WHERE tenant_id = $2 AND kind = $3 AND value = $4 AND customer_id = $5")
                .bind(m.absorbed_id.as_str())
                .bind(tenant.as_str())
                .bind(kind)
                .bind(value)
                .bind(m.survivor_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for conv in &convs {
            for table in ["conversations", "messages"] {
                let col = if table == "conversations" { "id" } else { "conversation_id" };
                sqlx::query(&format!("UPDATE {table} SET customer_id = $1 WHERE {col} = $2 AND tenant_id = $3"))
                    .bind(m.absorbed_id.as_str())
                    .bind(conv)
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("UPDATE customers SET merged_into = NULL, updated_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(m.absorbed_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE merges SET status = 'undone', undone_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(merge_id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({ "merge_id": merge_id, "restored": m.absorbed_id.as_str() }).to_string();
        record_audit(&mut tx, tenant.as_str(), actor, "customer.split", m.survivor_id.as_str(), &detail, now.millis())
            .await?;
        tx.commit().await?;
        self.merge(tenant, merge_id).await
    }

    pub async fn list_audit(&self, tenant: &TenantId, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE tenant_id = $1 ORDER BY at DESC, id LIMIT $2")
            .bind(tenant.as_str())
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: get(r, "id")?,
                    actor: get(r, "actor")?,
                    action: get(r, "action")?,
                    target: get(r, "target")?,
                    detail: parse_json(&get::<String>(r, "detail")?),
                    at: Timestamp::from_millis(get(r, "at")?),
                })
            })
            .collect()
    }

    pub async fn audit(
        &self,
        tenant: &TenantId,
        actor: &str,
        action: &str,
        target: &str,
        detail: &Value,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        record_audit(&mut tx, tenant.as_str(), actor, action, target, &detail.to_string(), now.millis()).await?;
        tx.commit().await?;
        Ok(())
    }
}
