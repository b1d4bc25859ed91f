//! PostgreSQL login roles for park managers who use Grafana: a member of `greenmon_park_reader`,
//! mapped to one park in `grafana_park_roles`, so the row-level security policies of migration
//! `20261128000301` show it that park's rows only. Its search_path in this database puts schema
//! `greenmon_park` first (`greenmon_park_schema()`), whose security-barrier views (migration
//! `20261203000100`) serve it the time series on both backends: TimescaleDB refuses row-level
//! security on them.

use rand::RngCore;
use sqlx::PgPool;

use super::StoreError;

/// Why a role could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GrafanaRoleError {
    #[error("role name {0:?} must be 1-63 characters of a-z, 0-9 and _, starting with a letter")]
    BadName(String),
    #[error("park {0:?} is not registered")]
    UnknownPark(String),
    #[error("role {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The default role name of a park: `grafana_` and the park id with `-` as `_`.
pub fn default_name(park: &str) -> String {
    format!("grafana_{}", park.replace('-', "_"))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Creates the login role and maps it to `park`; returns its generated password (shown once).
///
/// # Errors
/// A bad name, an unknown park, an existing role, or database errors (e.g. the service's role
/// may not create roles).
pub async fn create(pool: &PgPool, park: &str, name: &str) -> Result<String, GrafanaRoleError> {
    if !valid_name(name) {
        return Err(GrafanaRoleError::BadName(name.to_string()));
    }
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM parks WHERE id = $1)")
        .bind(park)
        .fetch_one(pool)
        .await
        .map_err(StoreError::from)?;
    if !known {
        return Err(GrafanaRoleError::UnknownPark(park.to_string()));
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let password = hex::encode(bytes);
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    // Utility statements take no bind parameters; the name is checked above and the password is
    // hex, so neither can break out of its quoting.
    let created = sqlx::query(&format!(
        "CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE greenmon_park_reader"
    ))
    .execute(&mut *tx)
    .await;
    match created {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42710") => {
            return Err(GrafanaRoleError::Exists(name.to_string()))
        }
        Err(e) => return Err(StoreError::from(e).into()),
    }
    // Per database: the role may be used on another database of the cluster without the views.
    let (database, views, data): (String, String, String) = sqlx::query_as(
        "SELECT current_database()::text, greenmon_park_schema(), current_schema()::text",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let quote = |ident: &str| format!("\"{}\"", ident.replace('"', "\"\""));
    sqlx::query(&format!(
        "ALTER ROLE \"{name}\" IN DATABASE {} SET search_path = {}, {}",
        quote(&database),
        quote(&views),
        quote(&data)
    ))
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    sqlx::query("INSERT INTO grafana_park_roles (role_name, park_id) VALUES ($1, $2)")
        .bind(name)
        .bind(park)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(default_name("sjz-hitech"), "grafana_sjz_hitech");
        assert!(valid_name("grafana_sjz_hitech"));
        for bad in ["", "1abc", "a\"b", "a-b", "A", &"a".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
