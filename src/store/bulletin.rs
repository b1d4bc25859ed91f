//! What the bulletin reads besides the compliance figures: the alerts that fired in a month, with
//! their acknowledgement, and the corrections (replaced reading versions) of a month, both as
//! they were known at a data cut-off.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;

/// An alert that fired in the month, as known at the cut-off: an acknowledgement or resolution
/// after the cut-off is not shown.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MonthAlert {
    pub id: i64,
    pub park_id: String,
    pub rule: String,
    /// `""` for park-wide rules.
    pub point_id: String,
    /// `""` unless the rule is per pollutant.
    pub pollutant: String,
    pub severity: String,
    pub summary: String,
    pub summary_zh: String,
    pub fired_at: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Alerts of one or all parks that fired in `[from, to)` by `cutoff`, oldest first.
///
/// # Errors
/// Database errors.
pub async fn month_alerts(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<MonthAlert>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, park_id, rule, point_id, pollutant, severity, summary, summary_zh, fired_at,
                CASE WHEN acked_at <= $4 THEN acked_at END AS acked_at,
                CASE WHEN acked_at <= $4 THEN acked_by END AS acked_by,
                CASE WHEN resolved_at <= $4 THEN resolved_at END AS resolved_at
         FROM alerts
         WHERE ($1::text IS NULL OR park_id = $1)
           AND fired_at >= $2 AND fired_at < $3 AND fired_at <= $4
         ORDER BY park_id, fired_at, id",
    )
    .bind(park)
    .bind(from)
    .bind(to)
    .bind(cutoff)
    .persistent(false)
    .fetch_all(pool)
    .await?)
}

/// A reading version of the month that a later version replaced by the cut-off.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MonthCorrection {
    pub park_id: String,
    pub point_id: String,
    pub pollutant: String,
    /// The reading's time.
    pub time: DateTime<Utc>,
    /// The replaced version.
    pub value: f64,
    pub flag: String,
    pub source: String,
    /// When the later version replaced it, and where that came from.
    pub superseded_at: DateTime<Utc>,
    pub by_source: String,
}

/// Replaced versions of readings in `[from, to)` of one or all parks, replaced by `cutoff`, in
/// time order.
///
/// # Errors
/// Database errors.
pub async fn month_corrections(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<MonthCorrection>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.park_id, r.point_id, r.pollutant, r.time, r.value, r.flag::text AS flag,
                r.source, r.superseded_at, r.by_source
         FROM reading_revisions r JOIN monitoring_points p ON p.id = r.point_id
         WHERE ($1::text IS NULL OR p.park_id = $1)
           AND r.outcome = 'replaced'
           AND r.time >= $2 AND r.time < $3 AND r.superseded_at <= $4
         ORDER BY p.park_id, r.time, r.point_id, r.pollutant, r.id",
    )
    .bind(park)
    .bind(from)
    .bind(to)
    .bind(cutoff)
    .persistent(false)
    .fetch_all(pool)
    .await?)
}
