//! API bearer tokens (`api_tokens`): created with 256 random bits, shown once, stored as their
//! SHA-256. A request is authenticated by looking its token's hash up, so the secret is never
//! compared byte by byte and never stored.

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::StoreError;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRole {
    /// Everything: every park, the registry, acknowledgements.
    Bureau,
    /// Its own park only, read-only except its energy reports.
    Park(String),
}

/// A token row as `token list` shows it (never the secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub park_id: Option<String>,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Prefix of every token, so a leaked one is recognisable (secret scanners, logs).
const TOKEN_PREFIX: &str = "gm_";

/// SHA-256 of a token as presented.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a token and returns its id and the secret (the only time it exists in clear).
///
/// # Errors
/// Database errors; a foreign-key violation when the park is not registered.
pub async fn create(
    pool: &PgPool,
    name: &str,
    role: &TokenRole,
) -> Result<(i64, String), StoreError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let (role_name, park) = match role {
        TokenRole::Bureau => ("bureau", None),
        TokenRole::Park(p) => ("park", Some(p.as_str())),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (name, role, park_id, token_sha256, prefix)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(role_name)
    .bind(park)
    .bind(hash(&secret))
    .bind(&secret[..TOKEN_PREFIX.len() + 8])
    .fetch_one(pool)
    .await?;
    Ok((id, secret))
}

/// Every token, newest first.
///
/// # Errors
/// Database errors.
pub async fn list(pool: &PgPool) -> Result<Vec<TokenInfo>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, role, park_id, prefix, created_at, revoked_at
         FROM api_tokens ORDER BY id DESC",
    )
    .fetch_all(pool)
    .await?)
}

/// Revokes a token; returns false when no live token has that id.
///
/// # Errors
/// Database errors.
pub async fn revoke(pool: &PgPool, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The role of a live token, by the hash of what the client presented; `None` when unknown or
/// revoked.
///
/// # Errors
/// Database errors.
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<Option<TokenRole>, StoreError> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT role, park_id FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(role, park)| match (role.as_str(), park) {
        ("bureau", _) => Some(TokenRole::Bureau),
        ("park", Some(p)) => Some(TokenRole::Park(p)),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256() {
        assert_eq!(
            hex::encode(hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
