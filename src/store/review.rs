//! `review_marks` and `review_mark_events`: validity review marks and their audit trail. A mark
//! is written once and may only be withdrawn (once); each creation and withdrawal appends an
//! event in the same transaction. The migration's triggers refuse any other change.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;
use crate::domain::ReviewKind;

/// A review mark as stored.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ReviewMarkRow {
    pub id: i64,
    pub park_id: String,
    pub point_id: String,
    /// `None`: the whole point.
    pub pollutant: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// maintenance, calibration, fault or invalid.
    pub kind: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by: Option<String>,
    pub withdraw_reason: Option<String>,
}

/// One change to a mark (created, withdrawn).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ReviewEventRow {
    pub mark_id: i64,
    pub event: String,
    pub at: DateTime<Utc>,
    pub by_whom: String,
    pub reason: String,
}

/// A mark to create.
#[derive(Debug, Clone)]
pub struct NewMark<'a> {
    pub point_id: &'a str,
    pub pollutant: Option<&'a str>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub kind: ReviewKind,
    pub reason: &'a str,
    pub by: &'a str,
}

const SELECT: &str = "SELECT m.id, p.park_id, m.point_id, m.pollutant, m.starts_at, m.ends_at,
        m.kind, m.reason, m.created_by, m.created_at, m.withdrawn_at, m.withdrawn_by,
        m.withdraw_reason
     FROM review_marks m JOIN monitoring_points p ON p.id = m.point_id";

/// Creates a mark and its `created` event; `None` when the point does not exist.
///
/// # Errors
/// Database errors, including the table's checks (empty reason or author, an empty range).
pub async fn add(pool: &PgPool, mark: &NewMark<'_>) -> Result<Option<ReviewMarkRow>, StoreError> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO review_marks (point_id, pollutant, starts_at, ends_at, kind, reason, created_by)
         SELECT id, $2, $3, $4, $5, $6, $7 FROM monitoring_points WHERE id = $1
         RETURNING id",
    )
    .bind(mark.point_id)
    .bind(mark.pollutant)
    .bind(mark.starts_at)
    .bind(mark.ends_at)
    .bind(mark.kind.as_str())
    .bind(mark.reason)
    .bind(mark.by)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO review_mark_events (mark_id, event, by_whom, reason)
         VALUES ($1, 'created', $2, $3)",
    )
    .bind(id)
    .bind(mark.by)
    .bind(mark.reason)
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query_as(&format!("{SELECT} WHERE m.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// What withdrawing a mark found.
#[derive(Debug)]
pub enum Withdrawal {
    Withdrawn(ReviewMarkRow),
    /// Withdrawn before; unchanged.
    AlreadyWithdrawn(ReviewMarkRow),
    NotFound,
}

/// Withdraws mark `id` (when it is in `park`, if given) and appends its `withdrawn` event.
///
/// # Errors
/// Database errors.
pub async fn withdraw(
    pool: &PgPool,
    id: i64,
    park: Option<&str>,
    by: &str,
    reason: &str,
) -> Result<Withdrawal, StoreError> {
    let mut tx = pool.begin().await?;
    let current: Option<ReviewMarkRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.id = $1 AND ($2::text IS NULL OR p.park_id = $2) FOR UPDATE OF m"
    ))
    .bind(id)
    .bind(park)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(Withdrawal::NotFound);
    };
    if current.withdrawn_at.is_some() {
        return Ok(Withdrawal::AlreadyWithdrawn(current));
    }
    sqlx::query(
        "UPDATE review_marks SET withdrawn_at = now(), withdrawn_by = $2, withdraw_reason = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(by)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO review_mark_events (mark_id, event, by_whom, reason)
         VALUES ($1, 'withdrawn', $2, $3)",
    )
    .bind(id)
    .bind(by)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query_as(&format!("{SELECT} WHERE m.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Withdrawal::Withdrawn(row))
}

/// Marks of one or all parks, and of one or every point, newest first (withdrawn ones too).
///
/// # Errors
/// Database errors.
pub async fn list(
    pool: &PgPool,
    park: Option<&str>,
    point: Option<&str>,
) -> Result<Vec<ReviewMarkRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "{SELECT} WHERE ($1::text IS NULL OR p.park_id = $1) AND ($2::text IS NULL OR m.point_id = $2)
         ORDER BY m.starts_at DESC, m.id DESC"
    ))
    .bind(park)
    .bind(point)
    .fetch_all(pool)
    .await?)
}

/// Marks in force (not withdrawn) that overlap `[from, to)`, of one or all parks; with `as_of`,
/// those in force at that time (created by then, and not withdrawn by then).
///
/// # Errors
/// Database errors.
pub async fn in_force(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<ReviewMarkRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "{SELECT} WHERE ($1::text IS NULL OR p.park_id = $1)
           AND m.starts_at < $3 AND m.ends_at > $2
           AND CASE WHEN $4::timestamptz IS NULL THEN m.withdrawn_at IS NULL
                    ELSE m.created_at <= $4 AND (m.withdrawn_at IS NULL OR m.withdrawn_at > $4)
               END
         ORDER BY m.point_id, m.starts_at"
    ))
    .bind(park)
    .bind(from)
    .bind(to)
    .bind(as_of)
    .persistent(false)
    .fetch_all(pool)
    .await?)
}

/// The audit trail of one mark, oldest first.
///
/// # Errors
/// Database errors.
pub async fn events(pool: &PgPool, mark_id: i64) -> Result<Vec<ReviewEventRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT mark_id, event, at, by_whom, reason FROM review_mark_events
         WHERE mark_id = $1 ORDER BY id",
    )
    .bind(mark_id)
    .fetch_all(pool)
    .await?)
}
