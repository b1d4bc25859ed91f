//! API bearer tokens (`api_tokens`): created with 256 random bits, shown once, stored as their
//! SHA-256. A request is authenticated by looking its token's hash up, so the secret is never
//! compared byte by byte and never stored. A token may expire (`expires_at`); its last use is
//! recorded at most once a minute (`last_used_at`).

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
    /// `None`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it last authenticated a request (at most a minute stale).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// A live token: its id and role.
    Live {
        id: i64,
        role: TokenRole,
    },
    /// Not the form of a greenmon token (no database lookup was made).
    Malformed,
    /// No token has that hash.
    Unknown,
    Revoked,
    Expired,
}

impl Authentication {
    /// The bounded reason of a refusal, a metric label: `malformed`, `unknown`, `revoked` or
    /// `expired`; `None` for a live token.
    pub fn failure_reason(&self) -> Option<&'static str> {
        match self {
            Authentication::Live { .. } => None,
            Authentication::Malformed => Some("malformed"),
            Authentication::Unknown => Some("unknown"),
            Authentication::Revoked => Some("revoked"),
            Authentication::Expired => Some("expired"),
        }
    }
}

/// Prefix of every token, so a leaked one is recognisable (secret scanners, logs).
const TOKEN_PREFIX: &str = "gm_";

/// Length of a token: the prefix and 64 hex digits.
const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 64;

/// Whether `token` has the form of a greenmon token (so garbage is refused without a lookup).
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of a token as presented.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a token that never expires and returns its id and the secret (the only time it
/// exists in clear).
///
/// # Errors
/// Database errors; a foreign-key violation when the park is not registered.
pub async fn create(
    pool: &PgPool,
    name: &str,
    role: &TokenRole,
) -> Result<(i64, String), StoreError> {
    create_expiring(pool, name, role, None).await
}

/// Creates a token refused from `expires_at` on (never, when `None`); returns its id and the
/// secret.
///
/// # Errors
/// Database errors; a foreign-key violation when the park is not registered.
pub async fn create_expiring(
    pool: &PgPool,
    name: &str,
    role: &TokenRole,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(i64, String), StoreError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let (role_name, park) = match role {
        TokenRole::Bureau => ("bureau", None),
        TokenRole::Park(p) => ("park", Some(p.as_str())),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (name, role, park_id, token_sha256, prefix, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(role_name)
    .bind(park)
    .bind(hash(&secret))
    .bind(&secret[..TOKEN_PREFIX.len() + 8])
    .bind(expires_at)
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
        "SELECT id, name, role, park_id, prefix, created_at, revoked_at, expires_at, last_used_at
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

/// What the token a client presented is: live (with its role), or why it is refused. A live
/// token's `last_used_at` is brought up to date when it is more than a minute old, so a busy
/// client costs one write a minute, not one per request.
///
/// # Errors
/// Database errors.
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<Authentication, StoreError> {
    if !well_formed(token) {
        return Ok(Authentication::Malformed);
    }
    type Row = (i64, String, Option<String>, bool, bool, bool);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, role, park_id, revoked_at IS NOT NULL, coalesce(expires_at <= now(), false),
                last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
         FROM api_tokens WHERE token_sha256 = $1",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await?;
    let Some((id, role, park, revoked, expired, stale)) = row else {
        return Ok(Authentication::Unknown);
    };
    if revoked {
        return Ok(Authentication::Revoked);
    }
    if expired {
        return Ok(Authentication::Expired);
    }
    let role = match (role.as_str(), park) {
        ("bureau", _) => TokenRole::Bureau,
        ("park", Some(p)) => TokenRole::Park(p),
        // The table's CHECK makes this unreachable; refuse rather than guess.
        _ => return Ok(Authentication::Unknown),
    };
    if stale {
        // The condition is repeated so concurrent requests write once between them.
        if let Err(e) = sqlx::query(
            "UPDATE api_tokens SET last_used_at = now()
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        )
        .bind(id)
        .execute(pool)
        .await
        {
            // Bookkeeping only: the request goes on.
            tracing::warn!(error = %e, token_id = id, "Could not record a token's use.");
        }
    }
    Ok(Authentication::Live { id, role })
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

    #[test]
    fn well_formed_tokens() {
        assert!(well_formed(&format!("gm_{}", "aB3".repeat(21) + "0")));
        for bad in [
            "",
            "gm_",
            "gm_xyz",
            &format!("gx_{}", "0".repeat(64)),
            &format!("gm_{}", "0".repeat(63)),
            &format!("gm_{}g", "0".repeat(63)),
            &format!("gm_{}", "0".repeat(65)),
            &format!("gm_{}\u{0}", "0".repeat(63)),
        ] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
