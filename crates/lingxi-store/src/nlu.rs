//! Tenants' own intent models: numbered versions (training data, model artifact, held-out
//! report) and the pointer to the one in use; and their entity settings. Versions are never changed once written, so a
//! rollback is just moving the pointer.

use crate::{get, Result, Store, StoreError};
use lingxi_domain::{TenantId, Timestamp};
use sqlx::any::AnyRow;

/// A trained model as the server hands it over for keeping.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntentModel {
    /// The model's content-derived id (`intent-<hex>`).
    pub model_id: String,
    /// The training data as JSON text (what an export returns).
    pub training_data: String,
    /// The serialised model.
    pub model: Vec<u8>,
    /// The held-out report as JSON text.
    pub report: String,
    pub n_intents: i64,
    pub n_examples: i64,
    pub created_by: String,
}

/// A stored version without its artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentModelRow {
    pub version: i64,
    pub model_id: String,
    pub report: String,
    pub n_intents: i64,
    pub n_examples: i64,
    pub created_by: String,
    pub created_at: Timestamp,
    pub active: bool,
}

fn row_from(r: &AnyRow, active: Option<i64>) -> Result<IntentModelRow> {
    let version: i64 = get(r, "version")?;
    Ok(IntentModelRow {
        version,
        model_id: get(r, "model_id")?,
        report: get(r, "report")?,
        n_intents: get(r, "n_intents")?,
        n_examples: get(r, "n_examples")?,
        created_by: get(r, "created_by")?,
        created_at: Timestamp::from_millis(get(r, "created_at")?),
        active: active == Some(version),
    })
}

const SUMMARY: &str = "version, model_id, report, n_intents, n_examples, created_by, created_at";

impl Store {
    /// Keeps a new version (the next number for the tenant) and, with `activate`, makes it
    /// the one in use, in one transaction. Returns the version number.
    pub async fn intent_model_save(
        &self,
        tenant: &TenantId,
        m: &NewIntentModel,
        activate: bool,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM intent_models WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let version: i64 = get::<i64>(&row, "v")? + 1;
        sqlx::query(
            "INSERT INTO intent_models (tenant_id, version, model_id, training_data, model, report, n_intents, n_examples, \
             created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(tenant.as_str())
        .bind(version)
        .bind(&m.model_id)
        .bind(&m.training_data)
        .bind(m.model.clone())
        .bind(&m.report)
        .bind(m.n_intents)
        .bind(m.n_examples)
        .bind(&m.created_by)
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            // Two trainings of one tenant finishing together: the second asks again.
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict("another intent model version was saved at the same time".into())
            }
            e => e.into(),
        })?;
        if activate {
            set_active(&mut tx, tenant, version, now).await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// All versions, newest first.
    pub async fn intent_models(&self, tenant: &TenantId) -> Result<Vec<IntentModelRow>> {
        let active = self.intent_model_active_version(tenant).await?;
        let rows =
            sqlx::query(&format!("SELECT {SUMMARY} FROM intent_models WHERE tenant_id = $1 ORDER BY version DESC"))
                .bind(tenant.as_str())
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(|r| row_from(r, active)).collect()
    }

    /// One version with its training data (JSON text).
    pub async fn intent_model(&self, tenant: &TenantId, version: i64) -> Result<(IntentModelRow, String)> {
        let active = self.intent_model_active_version(tenant).await?;
        let r = sqlx::query(&format!(
            "SELECT {SUMMARY}, training_data FROM intent_models WHERE tenant_id = $1 AND version = $2"
        ))
        .bind(tenant.as_str())
        .bind(version)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound("intent model"))?;
        Ok((row_from(&r, active)?, get(&r, "training_data")?))
    }

    /// The version in use, `None` for the built-in defaults. Cheap: servers poll it.
    pub async fn intent_model_active_version(&self, tenant: &TenantId) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT version FROM intent_model_active WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?;
        r.map(|r| get(&r, "version")).transpose()
    }

    /// The artifact of the version in use, with its number.
    pub async fn intent_model_active_artifact(&self, tenant: &TenantId) -> Result<Option<(i64, Vec<u8>)>> {
        let r = sqlx::query(
            "SELECT m.version AS version, m.model AS model FROM intent_model_active a \
             JOIN intent_models m ON m.tenant_id = a.tenant_id AND m.version = a.version WHERE a.tenant_id = $1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.read)
        .await?;
        r.map(|r| Ok((get(&r, "version")?, get(&r, "model")?))).transpose()
    }

    /// Puts `version` in use (`None`: back to the built-in defaults). A version the tenant
    /// does not have is `NotFound`.
    pub async fn intent_model_activate(&self, tenant: &TenantId, version: Option<i64>, now: Timestamp) -> Result<()> {
        let mut tx = self.write.begin().await?;
        match version {
            Some(v) => {
                let exists = sqlx::query("SELECT 1 AS one FROM intent_models WHERE tenant_id = $1 AND version = $2")
                    .bind(tenant.as_str())
                    .bind(v)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound("intent model"));
                }
                set_active(&mut tx, tenant, v, now).await?;
            }
            None => {
                sqlx::query("DELETE FROM intent_model_active WHERE tenant_id = $1")
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// The tenant's entity settings (JSON text), if it saved any.
    pub async fn nlu_settings(&self, tenant: &TenantId) -> Result<Option<(String, Timestamp)>> {
        let r = sqlx::query("SELECT settings, updated_at FROM nlu_settings WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?;
        r.map(|r| Ok((get(&r, "settings")?, Timestamp::from_millis(get(&r, "updated_at")?)))).transpose()
    }

    /// Replaces the tenant's entity settings.
    pub async fn set_nlu_settings(&self, tenant: &TenantId, settings: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO nlu_settings (tenant_id, settings, updated_at) VALUES ($1,$2,$3) \
             ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(settings)
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

async fn set_active(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    version: i64,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO intent_model_active (tenant_id, version, updated_at) VALUES ($1,$2,$3) \
         ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(tenant.as_str())
    .bind(version)
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
