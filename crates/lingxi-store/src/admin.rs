//! Tenants, teams, users, sessions and channels: the administrative tables.

use crate::{get, new_id, Result, Store, StoreError};
use lingxi_domain::{ChannelId, ChannelKind, MergePolicy, Role, TeamId, TenantId, Timestamp, UserId};
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub merge_policy: MergePolicy,
    pub reopen_window_secs: i64,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: TeamId,
    pub tenant_id: TenantId,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub team_ids: Vec<TeamId>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: ChannelId,
    pub tenant_id: TenantId,
    pub kind: ChannelKind,
    pub name: String,
    pub team_id: Option<TeamId>,
    pub created_at: Timestamp,
}

fn bad(what: &str, v: &str) -> StoreError {
    StoreError::Invalid(format!("stored {what} `{v}` is not valid"))
}

fn tenant_from(row: &AnyRow) -> Result<TenantRow> {
    let policy: String = get(row, "merge_policy")?;
    let id: String = get(row, "id")?;
    Ok(TenantRow {
        id: TenantId::parse(&id).map_err(|_| bad("tenant id", &id))?,
        slug: get(row, "slug")?,
        name: get(row, "name")?,
        merge_policy: MergePolicy::parse(&policy).ok_or_else(|| bad("merge policy", &policy))?,
        reopen_window_secs: get(row, "reopen_window_secs")?,
        created_at: Timestamp::from_millis(get(row, "created_at")?),
    })
}

pub(crate) fn channel_from(row: &AnyRow) -> Result<ChannelRow> {
    let id: String = get(row, "id")?;
    let tenant: String = get(row, "tenant_id")?;
    let kind: String = get(row, "kind")?;
    let team: Option<String> = get(row, "team_id")?;
    Ok(ChannelRow {
        id: ChannelId::parse(&id).map_err(|_| bad("channel id", &id))?,
        tenant_id: TenantId::parse(&tenant).map_err(|_| bad("tenant id", &tenant))?,
        kind: ChannelKind::parse(&kind).ok_or_else(|| bad("channel kind", &kind))?,
        name: get(row, "name")?,
        team_id: team.and_then(|t| TeamId::parse(&t).ok()),
        created_at: Timestamp::from_millis(get(row, "created_at")?),
    })
}

impl Store {
    pub async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
        merge_policy: MergePolicy,
        reopen_window_secs: i64,
        now: Timestamp,
    ) -> Result<TenantRow> {
        let id = new_id(TenantId::from_random);
        let res = sqlx::query(
            "INSERT INTO tenants (id, slug, name, merge_policy, reopen_window_secs, created_at) VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(id.as_str())
        .bind(slug)
        .bind(name)
        .bind(merge_policy.as_str())
        .bind(reopen_window_secs)
        .bind(now.millis())
        .execute(&self.write)
        .await;
        match res {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                return Err(StoreError::Conflict(format!("tenant slug `{slug}` is taken")))
            }
            r => r?,
        };
        Ok(TenantRow {
            id,
            slug: slug.to_owned(),
            name: name.to_owned(),
            merge_policy,
            reopen_window_secs,
            created_at: now,
        })
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantRow>> {
        let rows = sqlx::query("SELECT * FROM tenants ORDER BY created_at, id").fetch_all(&self.read).await?;
        rows.iter().map(tenant_from).collect()
    }

    pub async fn tenant(&self, id: &TenantId) -> Result<TenantRow> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        tenant_from(&row)
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<TenantRow> {
        let row = sqlx::query("SELECT * FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        tenant_from(&row)
    }

    pub async fn update_tenant_policy(
        &self,
        id: &TenantId,
        policy: MergePolicy,
        reopen_window_secs: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE tenants SET merge_policy = $1, reopen_window_secs = $2 WHERE id = $3")
            .bind(policy.as_str())
            .bind(reopen_window_secs)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn create_team(&self, tenant: &TenantId, name: &str, now: Timestamp) -> Result<TeamRow> {
        let id = new_id(TeamId::from_random);
        let res = sqlx::query("INSERT INTO teams (id, tenant_id, name, created_at) VALUES ($1,$2,$3,$4)")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(name)
            .bind(now.millis())
            .execute(&self.write)
            .await;
        match res {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                return Err(StoreError::Conflict(format!("team `{name}` exists")))
            }
            r => r?,
        };
        Ok(TeamRow { id, tenant_id: tenant.clone(), name: name.to_owned() })
    }

    pub async fn list_teams(&self, tenant: &TenantId) -> Result<Vec<TeamRow>> {
        let rows = sqlx::query("SELECT id, name FROM teams WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = get(r, "id")?;
                Ok(TeamRow {
                    id: TeamId::parse(&id).map_err(|_| bad("team id", &id))?,
                    tenant_id: tenant.clone(),
                    name: get(r, "name")?,
                })
            })
            .collect()
    }

    /// Creates a user; `teams` must belong to the same tenant.
    pub async fn create_user(
        &self,
        tenant: &TenantId,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
        teams: &[TeamId],
        now: Timestamp,
    ) -> Result<UserRow> {
        let id = new_id(UserId::from_random);
        let mut tx = self.write.begin().await?;
        for team in teams {
            let found = sqlx::query("SELECT id FROM teams WHERE id = $1 AND tenant_id = $2")
                .bind(team.as_str())
                .bind(tenant.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("team"));
            }
        }
        let res = sqlx::query(
            "INSERT INTO users (id, tenant_id, email, name, role, password_hash, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(email)
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now.millis())
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                return Err(StoreError::Conflict(format!("a user with e-mail `{email}` exists")))
            }
            r => r?,
        };
        for team in teams {
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1,$2)")
                .bind(team.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(UserRow {
            id,
            tenant_id: tenant.clone(),
            email: email.to_owned(),
            name: name.to_owned(),
            role,
            password_hash: password_hash.to_owned(),
            team_ids: teams.to_vec(),
            created_at: now,
        })
    }

    async fn user_from(&self, row: &AnyRow) -> Result<UserRow> {
        let id: String = get(row, "id")?;
        let tenant: String = get(row, "tenant_id")?;
        let role: String = get(row, "role")?;
        let teams = sqlx::query("SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id")
            .bind(&id)
            .fetch_all(&self.read)
            .await?;
        Ok(UserRow {
            id: UserId::parse(&id).map_err(|_| bad("user id", &id))?,
            tenant_id: TenantId::parse(&tenant).map_err(|_| bad("tenant id", &tenant))?,
            email: get(row, "email")?,
            name: get(row, "name")?,
            role: Role::parse(&role).ok_or_else(|| bad("role", &role))?,
            password_hash: get(row, "password_hash")?,
            team_ids: teams
                .iter()
                .filter_map(|r| get::<String>(r, "team_id").ok())
                .filter_map(|t| TeamId::parse(&t).ok())
                .collect(),
            created_at: Timestamp::from_millis(get(row, "created_at")?),
        })
    }

    pub async fn user_by_email(&self, email: &str) -> Result<UserRow> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        self.user_from(&row).await
    }

    pub async fn user(&self, tenant: &TenantId, id: &UserId) -> Result<UserRow> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        self.user_from(&row).await
    }

    pub async fn list_users(&self, tenant: &TenantId) -> Result<Vec<UserRow>> {
        let rows = sqlx::query("SELECT * FROM users WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .fetch_all(&self.read)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.user_from(r).await?);
        }
        Ok(out)
    }

    pub async fn create_session(&self, token_hash: &str, user: &UserRow, now: Timestamp, ttl_secs: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, tenant_id, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(token_hash)
        .bind(user.id.as_str())
        .bind(user.tenant_id.as_str())
        .bind(now.millis())
        .bind(now.plus_secs(ttl_secs).millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<SessionRow> {
        let row = sqlx::query("SELECT user_id, tenant_id, expires_at FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("session"))?;
        let user: String = get(&row, "user_id")?;
        let tenant: String = get(&row, "tenant_id")?;
        Ok(SessionRow {
            user_id: UserId::parse(&user).map_err(|_| bad("user id", &user))?,
            tenant_id: TenantId::parse(&tenant).map_err(|_| bad("tenant id", &tenant))?,
            expires_at: Timestamp::from_millis(get(&row, "expires_at")?),
        })
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
        Ok(())
    }

    pub async fn create_channel(
        &self,
        tenant: &TenantId,
        kind: ChannelKind,
        name: &str,
        key_hash: &str,
        team: Option<&TeamId>,
        now: Timestamp,
    ) -> Result<ChannelRow> {
        if let Some(team) = team {
            let found = sqlx::query("SELECT id FROM teams WHERE id = $1 AND tenant_id = $2")
                .bind(team.as_str())
                .bind(tenant.as_str())
                .fetch_optional(&self.read)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("team"));
            }
        }
        let id = new_id(ChannelId::from_random);
        sqlx::query("INSERT INTO channels (id, tenant_id, kind, name, key_hash, team_id, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(kind.as_str())
            .bind(name)
            .bind(key_hash)
            .bind(team.map(|t| t.as_str().to_owned()))
            .bind(now.millis())
            .execute(&self.write)
            .await?;
        Ok(ChannelRow {
            id,
            tenant_id: tenant.clone(),
            kind,
            name: name.to_owned(),
            team_id: team.cloned(),
            created_at: now,
        })
    }

    pub async fn channel_by_key_hash(&self, key_hash: &str) -> Result<ChannelRow> {
        let row = sqlx::query("SELECT * FROM channels WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("channel"))?;
        channel_from(&row)
    }

    pub async fn channel(&self, tenant: &TenantId, id: &ChannelId) -> Result<ChannelRow> {
        let row = sqlx::query("SELECT * FROM channels WHERE id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("channel"))?;
        channel_from(&row)
    }

    pub async fn list_channels(&self, tenant: &TenantId) -> Result<Vec<ChannelRow>> {
        let rows = sqlx::query("SELECT * FROM channels WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(channel_from).collect()
    }

    /// Replaces a channel's key (the old key stops working at once).
    pub async fn rotate_channel_key(&self, tenant: &TenantId, id: &ChannelId, key_hash: &str) -> Result<()> {
        let res = sqlx::query("UPDATE channels SET key_hash = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(key_hash)
            .bind(id.as_str())
            .bind(tenant.as_str())
            .execute(&self.write)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        Ok(())
    }
}
