//! Reads and writes of the HTTP API that the compliance engine does not already offer: which park
//! a point belongs to, readings of one point and pollutant over a range (raw, or hourly rollups
//! for long ranges), the energy reports of a park, energy reports submitted over HTTP, and the
//! park ids a multi-park answer computes one by one when it must.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::StoreError;
use crate::domain::EnergyReport;

/// One raw reading.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RawReading {
    pub time: DateTime<Utc>,
    pub kind: String,
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub flag: String,
}

/// One hour of a pollutant at a point (from `readings_hourly`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HourlyReading {
    pub hour: DateTime<Utc>,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub count: i64,
    pub valid_count: i64,
    /// Average of the valid (flag N) readings; `None` when none was valid.
    pub valid_avg: Option<f64>,
}

/// An energy report as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EnergyReportRow {
    pub period: String,
    pub period_kind: String,
    pub energy_tce: f64,
    pub value_added_10k_yuan: f64,
    pub price_index: f64,
    pub source: String,
    pub received_at: DateTime<Utc>,
}

/// The ids of every park (or of `park`, when it exists), in order: what a multi-park answer
/// computes park by park when the parks cannot be computed together.
///
/// # Errors
/// Database errors.
pub async fn park_ids(pool: &PgPool, park: Option<&str>) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM parks WHERE $1::text IS NULL OR id = $1 ORDER BY id")
            .bind(park)
            .fetch_all(pool)
            .await?,
    )
}

/// The park a point is registered to, or `None` for an unknown point.
///
/// # Errors
/// Database errors.
pub async fn point_park(pool: &PgPool, point: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT park_id FROM monitoring_points WHERE id = $1")
            .bind(point)
            .fetch_optional(pool)
            .await?,
    )
}

/// Raw readings of a point and pollutant in `[from, to)`, oldest first, at most `limit`.
///
/// # Errors
/// Database errors.
pub async fn raw_readings(
    pool: &PgPool,
    point: &str,
    pollutant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<RawReading>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT time, kind, value, min, max, flag::text AS flag FROM readings
         WHERE point_id = $1 AND pollutant = $2 AND time >= $3 AND time < $4
         ORDER BY time, kind LIMIT $5",
    )
    .bind(point)
    .bind(pollutant)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Hourly rollups of a point and pollutant for hours in `[from, to)`, oldest first.
///
/// # Errors
/// Database errors.
pub async fn hourly_readings(
    pool: &PgPool,
    point: &str,
    pollutant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HourlyReading>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT hour, avg, min, max, count, valid_count, valid_avg FROM readings_hourly
         WHERE point_id = $1 AND pollutant = $2 AND hour >= $3 AND hour < $4
         ORDER BY hour",
    )
    .bind(point)
    .bind(pollutant)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?)
}

/// The energy reports of a park, oldest period first.
///
/// # Errors
/// Database errors.
pub async fn energy_reports(pool: &PgPool, park: &str) -> Result<Vec<EnergyReportRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT period, period_kind, energy_tce, value_added_10k_yuan, price_index, source,
                received_at
         FROM energy_reports WHERE park_id = $1 ORDER BY period_start, period_kind",
    )
    .bind(park)
    .fetch_all(pool)
    .await?)
}

/// Stores an energy report submitted over HTTP (a later report of the same period replaces the
/// earlier one, as over MQTT).
///
/// # Errors
/// Database errors.
pub async fn submit_energy_report(pool: &PgPool, report: &EnergyReport) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    super::energy::upsert(&mut tx, &[report], "api").await?;
    tx.commit().await?;
    Ok(())
}

/// A discharge limit of one point and pollutant.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LimitRow {
    pub point_id: String,
    pub pollutant: String,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

/// The discharge limits of a park's points.
///
/// # Errors
/// Database errors.
pub async fn limits(pool: &PgPool, park: &str) -> Result<Vec<LimitRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT l.point_id, l.pollutant, l.lower, l.upper
         FROM discharge_limits l JOIN monitoring_points p ON p.id = l.point_id
         WHERE p.park_id = $1 ORDER BY l.point_id, l.pollutant",
    )
    .bind(park)
    .fetch_all(pool)
    .await?)
}
