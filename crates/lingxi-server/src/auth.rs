//! Authentication: argon2 password hashes, session tokens for people (cookie or bearer),
//! API keys for channels. Tokens and keys are random and stored only as SHA-256 digests,
//! so a leaked database holds no usable credential.

use crate::error::ApiError;
use crate::state::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lingxi_domain::{Permission, Role, TeamId, TenantId, Timestamp, UserId};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "lingxi_session";
pub const SESSION_PREFIX: &str = "lxs_";
pub const CHANNEL_KEY_PREFIX: &str = "lxk_";

pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| ApiError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A real hash of a throwaway password, so that a login for an unknown e-mail costs the same
/// time as one for a known e-mail.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A fresh secret: prefix + 32 random bytes in hex.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 32]>()))
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// How long a resolved session is reused without asking the store. A logout on this node
/// takes effect at once; one on another node, or a changed role, within this time.
const SESSION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// A logged-in person, resolved from a session token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub role: Role,
    pub name: String,
    pub email: String,
    pub team_ids: Vec<TeamId>,
}

impl Principal {
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(self.role.as_str()))
        }
    }

    /// The teams whose conversations this person may see (`None`: all of the tenant's).
    pub fn visible_teams(&self) -> Option<Vec<TeamId>> {
        if self.role.sees_all_teams() {
            None
        } else {
            Some(self.team_ids.clone())
        }
    }

    pub fn can_see_team(&self, team: Option<&TeamId>) -> bool {
        match (self.visible_teams(), team) {
            (None, _) | (_, None) => true,
            (Some(teams), Some(t)) => teams.contains(t),
        }
    }

    pub fn actor(&self) -> String {
        self.user_id.to_string()
    }
}

/// Finds the session token in `Authorization: Bearer`, the session cookie, or (for browser
/// WebSockets, which cannot set headers) the `access_token` query parameter.
pub fn session_token(headers: &axum::http::HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_owned());
        }
    }
    for cookie in headers.get_all(axum::http::header::COOKIE) {
        if let Ok(s) = cookie.to_str() {
            for pair in s.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    if k == SESSION_COOKIE {
                        return Some(v.to_owned());
                    }
                }
            }
        }
    }
    query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("access_token=").map(str::to_owned)))
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = session_token(&parts.headers, parts.uri.query())
            .ok_or(ApiError::Unauthenticated("log in first: no session token"))?;
        if !token.starts_with(SESSION_PREFIX) || token.len() > 200 {
            return Err(ApiError::Unauthenticated("the session token is not valid"));
        }
        let key = digest(&token);
        let now = state.clock.now();
        if let Some((at, expires, who)) = state.session_cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            if at.elapsed() < SESSION_CACHE_TTL && *expires >= now {
                return Ok(who.clone());
            }
        }
        let session = match state.store.session(&key).await {
            Ok(s) => s,
            Err(lingxi_store::StoreError::NotFound(_)) => {
                return Err(ApiError::Unauthenticated("the session is unknown or has ended"))
            }
            Err(e) => return Err(e.into()),
        };
        if session.expires_at < state.clock.now() {
            return Err(ApiError::Unauthenticated("the session has expired"));
        }
        let user = state.store.user(&session.tenant_id, &session.user_id).await?;
        let who = Principal {
            user_id: user.id,
            tenant_id: user.tenant_id,
            role: user.role,
            name: user.name,
            email: user.email,
            team_ids: user.team_ids,
        };
        let mut cache = state.session_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(key, (std::time::Instant::now(), session.expires_at, who.clone()));
        Ok(who)
    }
}

/// Wall clock, the one place the server reads time (the core takes it as an argument).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock;

impl Clock {
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn secrets_are_random_and_digested() {
        let a = new_secret(CHANNEL_KEY_PREFIX);
        assert_ne!(a, new_secret(CHANNEL_KEY_PREFIX));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
    }
}
